// Package streams runs livestreams: their keys, their pinned and
// highlighted products, whether they are live, and the shoppable overlay
// viewers see over the video. It owns three invariants:
//
//   - A stream key is a secret. Only its SHA-256 is stored; the key itself
//     is shown once, when the stream is created or its key rotated, and is
//     compared in constant time. Rotating a key locks the old one out at
//     once, and an ended stream's key no longer works (streams.go).
//   - A stream pins at most 24 products, each existing and pinned once, and
//     only a pinned product is highlighted: unpinning it clears the
//     highlight (streams.go).
//   - Each overlay event of a stream is stamped with a sequence number
//     strictly greater than the one stamped before it, across
//     subscriptions, reconnects and the stream's end, so a client may drop
//     a change not above the last it applied. Each server numbers its own events (a client that lands
//     on another one starts afresh from its SNAPSHOT). The Service owns
//     the numbering and forgets a stream's once the stream has ended
//     (overlay.go).
package streams
