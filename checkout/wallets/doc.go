// Package wallets is the customers' stored credit: an append-only ledger
// of postings per wallet, top-ups by card, gifts that expire, and staff
// grants and adjustments.
//
// Invariants it owns: a balance never goes below zero (a conditional
// update backed by a CHECK), every balance change is one ledger entry
// (entries are never updated or deleted), and gift credit is spent before
// it expires, lot by lot, and expires at most once.
package wallets
