// Package memberships sells tiers (by card subscription or from the
// wallet), gives members their prices and early access to drops, and
// renews or lapses them.
//
// Invariants it owns: a customer has at most one active or past-due
// membership (ALREADY_MEMBER); a wallet renewal charges each period once;
// a subscription event is applied once.
package memberships
