// Package inventory is the one conditional write that takes stock, and its
// inverse.
//
// Invariant it owns: a hold or sale never takes stock that is not there —
// Take is `UPDATE stocks SET available = available - n WHERE … AND
// available >= n` and reports whether it took; a CHECK keeps available
// from going below zero for every other writer (catalog's counts, a hub's
// adoption and close).
package inventory
