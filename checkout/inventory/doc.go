// Package inventory is the one conditional write that takes stock, and its
// inverse.
//
// Invariant it owns: available stock never goes below zero — Take is
// `UPDATE stocks SET available = available - n WHERE … AND available >= n`
// and reports whether it took; nothing else decrements stock.
package inventory
