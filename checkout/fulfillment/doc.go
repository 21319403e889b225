// Package fulfillment hands paid orders over: one fulfilment per order,
// opened in the transaction that makes the order PAID, with its own state
// machine (UNFULFILLED → PICKING → PACKED → READY_FOR_PICKUP |
// HANDED_TO_COURIER → COLLECTED | DELIVERED, or FAILED, REROUTED,
// CANCELED), and the counter's handover of pickups.
//
// Invariants it owns: every move is one conditional write on the state it
// read, allowed only from the states listed before it (transitions), and
// recorded with when and who; a pickup is collected at most once (a second
// scan is ALREADY_COLLECTED); the fallback pickup code is unique among open
// pickups (a partial unique index), and the pickup pass is signed with
// central's key, so a forged pass is refused.
package fulfillment
