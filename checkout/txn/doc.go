// Package txn runs the domains' writes: transactions (Do), idempotency
// keys (Idempotent), external events applied once (ClaimEvent), raw
// conditional SQL that reports rows affected on
// both dialects (Exec), and notifications sent only after commit
// (Announcer).
//
// Invariant it owns: a write with an idempotency key runs at most once per
// (viewer, key); a concurrent duplicate waits for the first and replays
// its result, the same key with another request is refused
// (IDEMPOTENCY_KEY_REUSED), and a failed call frees the key.
package txn
