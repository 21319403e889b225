// Package payments is Stripe: the provider behind checkout's
// PaymentProvider and Subscriptions ports (every call with an idempotency
// key namespaced by installation), and the webhook that verifies, decodes
// and routes each event to the domain that owns it (Router).
//
// Invariants it owns: an event with a wrong signature, another API
// version or an unreadable body changes nothing (400); a failure of ours
// is a 5xx so Stripe retries; two installations sharing a Stripe account
// never share idempotency keys (InstallID).
package payments
