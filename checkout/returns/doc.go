// Package returns takes goods back: a buyer asks to return units of a
// collected or delivered order within the shop's return window, drops them
// off at any pickup point or hub (a scan of the return QR or its short
// code), staff grade each unit in the inspection lane, and the money goes
// back as wallet credit at drop-off or to the card after inspection, as
// the shop chooses. REQUESTED → RECEIVED → INSPECTED → REFUNDED, or
// CANCELED by the buyer before drop-off.
//
// Invariants it owns: every transition is one conditional write on the
// state it leaves; the units asked back never exceed those bought less
// those already refunded or returned (one conditional update of the order
// line, under a CHECK); a return is received once (a second scan is
// ALREADY_RECEIVED) and refunded once, in the transaction of the
// transition that refunds it; a unit is graded once, and a resellable
// unit goes back into stock in the grading transaction; the fallback code
// is unique among returns not yet dropped off (a partial unique index);
// the return QR is signed with central's key, so a forged one is refused.
// No network call runs inside a transaction: card refunds are recorded
// PENDING and sent after commit (orders.SendRefund, retried by the
// sweeper).
package returns
