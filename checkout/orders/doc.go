// Package orders turns a cart into an order and an order into a sale:
// checkout (cart OPEN → CHECKED_OUT by one conditional write, so one cart
// is one order), payment by card or wallet, the payment events that
// confirm or fail it, refunds to card or wallet, and the sweeper that
// expires holds and cancels overdue orders.
//
// Invariants it owns: an order is paid at most once and its units are
// sold exactly once (a payment that arrives after its hold expired takes
// the units again or is refunded); refunds never exceed what was paid (a
// conditional counter); every Stripe event is applied once (stripe_events
// claims its id in the same transaction).
package orders
