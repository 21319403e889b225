// Package carts holds units for customers: adding to a cart takes the
// units (stock, then the drop's pool and allowance) in one transaction, and
// a hold that is released, expires or is sold gives them back at most once.
//
// Invariants it owns: a cart line's status moves HELD → RELEASED | EXPIRED
// | SOLD by one conditional write, and only that write returns the units;
// the per-customer hoarding caps (units held at once, per variant, unpaid
// orders) are checked under the customer's open-cart row lock; prices are
// decided here (member prices through Pricer), never taken from input.
//
// Group commit (batch.go, Config.HoldBatch): concurrent holds of one
// variant share one transaction. It reads stock, pool and allowances
// under the row locks its writes take (FOR UPDATE on PostgreSQL, the
// single writer on SQLite), admits holds in arrival order, and still
// writes through the same conditional decrements and the conditional
// allowance upsert: if any of them refuses, the batch rolls back and
// every hold runs alone.
package carts
