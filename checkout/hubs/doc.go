// Package hubs is central's side of the pop-up protocol, and what both
// sides share (protocol.go): the wire types, the pricing and checks of a
// sale's lines, and the ports the API prints and reports through. The
// hub's own side (selling offline, the outbox) is edge.Sales.
//
// Invariants it owns: a hub sale is recorded exactly once, whatever the
// redeliveries (a unique sale id; other content under a recorded id is
// HUB_SALE_MISMATCH), priced at the lower of the hub's claim and central's
// price; a wallet pass pays at most its limit in total over every sale at
// every hub (TakeFromPass, one conditional write); a phone or card payment
// is claimed by one sale only; a lease or return moves stock without
// creating any.
package hubs
