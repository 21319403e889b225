// Package drops schedules limited drops and owns their two counters: each
// channel's pool (online, live, hub) and each customer's allowance.
//
// Invariants it owns: a drop's state follows the clock exactly
// (DropStateAt); a pool never goes below zero and a customer never holds
// or buys more than the drop's per-customer limit — both enforced in
// Claim, each by one conditional write in the caller's transaction
// (drops.go, Claim), so N concurrent holds can never pass either; a
// rebalance moves units between pools without creating any.
package drops
