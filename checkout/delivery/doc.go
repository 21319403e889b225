// Package delivery is how an order reaches its buyer, as chosen at
// checkout: staff configure pickup points (central, a hub, a partner's
// counter, a locker bank) with pickup windows of limited capacity, local
// delivery zones (postcodes or a radius, a same-day cutoff, a price) and
// shipping rates (per country, flat or by weight band); customers keep
// saved addresses and pick one method for their cart; checkout puts its
// price on the order and a snapshot of the choice with it.
//
// Invariants it owns: a pickup window's places are a counter taken like
// stock — `taken = taken + 1 WHERE taken < capacity`, backed by a CHECK —
// and a refused take is WINDOW_FULL; a cart's place moves HELD → RELEASED
// | EXPIRED | SOLD by one conditional write on its choice, and only that
// write gives the place back (never below zero); the place goes back with
// the cart's last hold (carts calls LinesReleased in the transaction that
// releases a line) and is kept for good when the order is paid; the
// delivery price is decided here from staff's configuration, never taken
// from input, and is charged once, in the order's total.
package delivery
