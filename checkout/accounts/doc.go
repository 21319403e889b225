// Package accounts signs customers up and in (argon2id passwords,
// throttled per address and per account, hashing bounded by a semaphore)
// and issues and revokes API tokens for staff and hubs.
//
// Invariants it owns: an email has at most one account (a unique index);
// a session or token is accepted only while it is in force
// (checkout.TokenInForce: not revoked, not expired), checked on every
// request through a short cache that a revocation clears; sign-in and
// sign-up attempts are rate limited (RATE_LIMITED with retryAfter).
package accounts
