// Package notify tells buyers and the merchant's other systems what
// happened: it is checkout.Outbox. A change records its checkout.Event in
// its own transaction (an outbox table), with one delivery per message
// the event sends: an email to the buyer when a template exists for its
// type, and one signed webhook POST per endpoint subscribed to it. A
// worker (Run, on every replica) sends what is due.
//
// Invariants it owns:
//   - An event exists if and only if the change that caused it committed,
//     and its deliveries are written with it.
//   - A delivery is sent by one worker at a time: it is claimed with one
//     guarded update (a lease, claimed_until), and only the claimant
//     records the outcome. A sent delivery is never sent again; a worker
//     that dies mid-send leaves a lease that expires, and the delivery is
//     sent by the next (at least once, never lost).
//   - Failures are retried with exponential backoff up to MaxAttempts,
//     then the delivery is DEAD with its last error.
//   - An endpoint receives the events of one order in the order they were
//     recorded: a later one waits while an earlier one is pending.
//   - Data keys starting with "_" never reach a webhook, and are cleared
//     from the outbox once the email is sent or given up.
package notify
