// Package streams manages live streams: their secret publishing keys
// (stored hashed, rotated on demand), the products pinned to them and the
// one highlighted, and whether they are live.
//
// Invariants it owns: a stream key is shown once and checked by its hash;
// at most 24 products are pinned; only a live stream attributes sales.
package streams
