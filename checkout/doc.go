// Package checkout is the shared vocabulary of merchd's domain rules:
// sentinel errors (errors.go), money and currencies (money.go), who is
// asking (who.go), the ports to the outside (payments.go: card payments,
// subscriptions, payment events) and the topics of real-time notices
// (events.go). Of ours it imports only ent.
//
// The rules themselves live one room per idea, each package saying in its
// doc which invariant it owns:
//
//	checkout/txn          transactions, idempotency keys, after-commit notices
//	checkout/inventory    the one conditional take of stock
//	checkout/accounts     customers, sessions, staff and hub tokens, throttling
//	checkout/catalog      products, variants, prices, images, stock levels
//	checkout/drops        drops, their pools and the per-customer limit (Claim)
//	checkout/carts        holds
//	checkout/orders       checkout, payment events, refunds, the sweeper
//	checkout/delivery     delivery methods chosen at checkout: pickup windows, zones, rates, addresses
//	checkout/fulfillment  handing paid orders over: pickups and their passes
//	checkout/payments     Stripe: the provider and the webhook
//	checkout/wallets      the credit ledger, top-ups, gifts
//	checkout/memberships  tiers, member prices, early access, renewals
//	checkout/hubs         central's side of the pop-up protocol, its wire types
//	checkout/streams      live streams: keys, pins, state
//	checkout/qrcodes      signed venue QR codes
//	checkout/shop         the composition root that builds them all
//
// A domain imports only the domains it is built on (deps_test.go,
// TestCheckoutLayers); the hub's side of the pop-up protocol is edge.Sales,
// and edge imports checkout, never the reverse. Money and stock invariants
// live in these packages and in the schema, never in resolvers.
//
// # The rule of every transition
//
// Every status transition of a cart, cart line, order, payment, refund,
// membership, hub sale and hub payment is one conditional write —
//
//	UPDATE … SET status = 'NEW' WHERE id = ? AND status = 'OLD'
//
// where zero rows updated is the refusal — or an insert a unique index can
// refuse. Never read a status, decide in Go, then write: at PostgreSQL's
// READ COMMITTED two transactions both read OPEN and both write. Counters
// (stock, pools, per-customer counts, wallet balances, refunded amounts)
// move the same way: `SET n = n - ? WHERE n >= ?`, backed by a CHECK.
//
// # Idempotency
//
// Every write that moves stock or money is either keyed by the client
// through txn.Idempotent or by its own unique id (a hub sale's sale_id, a
// Stripe event id through txn.ClaimEvent). txn.Idempotent: its
// transaction first claims (viewer, key) in the idempotency_keys table,
// then does the work, then records the result under the key. A concurrent
// duplicate blocks on the claim until the first commits and then replays
// its result; a duplicate of a failed call finds the key free again.
//
// The race tests in graph (TestRace_<mutation>, on SQLite and PostgreSQL)
// hold every mutation to these rules; TestRaceCoverage makes a new mutation
// name its race test or say why it needs none.
package checkout
