// Package checkout holds merchd's domain rules: accounts, catalog writes,
// stock, drops, carts and holds, orders and payments, the wallet,
// memberships and both ends of the pop-up protocol. Money and stock
// invariants live here and in the schema, never in resolvers.
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
// Every write that moves stock or money runs through idempotent: its
// transaction first claims (viewer, key) in the idempotency_keys table,
// then does the work, then records the result under the key. A concurrent
// duplicate blocks on the claim until the first commits and then replays
// its result; a duplicate of a failed call finds the key free again.
//
// The race tests in graph (TestRace_<mutation>, on SQLite and PostgreSQL)
// hold every mutation to these rules; TestRaceCoverage makes a new mutation
// name its race test or say why it needs none.
package checkout
