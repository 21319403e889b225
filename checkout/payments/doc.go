// Package payments is Stripe: the provider behind checkout's
// PaymentProvider and Subscriptions ports (every call with an idempotency
// key namespaced by installation), and the webhook that verifies, decodes
// and routes each event (Router): PaymentIntent events to orders, which
// hands top-ups to wallets and hub payments to hubs in the same
// transaction; membership billing to memberships.
//
// Invariants it owns: an event with a wrong signature, another API
// version or an unreadable body changes nothing (400); a failure of ours
// is a 5xx so Stripe retries; two installations sharing a Stripe account
// never share idempotency keys (InstallID).
package payments
