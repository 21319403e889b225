// Package qrcodes issues and verifies the signed codes printed at a
// venue (a QR code that opens checkout for a product or drop).
//
// Invariant it owns: a code is accepted only if this shop signed it
// (HMAC with a key kept in the database); anything else is BAD_USER_INPUT.
package qrcodes
