// Package catalog writes products, variants, prices, images, collections
// and stock levels.
//
// Invariants it owns: prices and stock are within checkout.MaxPrice and
// checkout.MaxStock, in a currency the shop accepts; a variant's SKU is
// unique (a unique index); SetStock counts on-hand stock against
// the units held under the stock row's lock, so a count never takes back
// a hold nor survives a retry that would overwrite later sales. It imports
// no other domain.
package catalog
