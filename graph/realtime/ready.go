package realtime

import (
	"context"
	"sync"
	"sync/atomic"
)

// A transport that does not want a goroutine parked on each idle
// subscription's channel asks Watch to tell it when a value is there:
// WithReady puts a callback in the subscription's context, and Watch calls
// it once for each value it puts into the channel (a value replacing an
// unread one is not announced again). So after n calls the channel holds,
// or has held, n values: the transport receives exactly once per call and
// never blocks. Only the first Watch under the context claims the
// callback; Claimed says whether one did (if not, the transport must wait
// on the channel the usual way).
//
// A one-topic Watch also names the value waiting (Head) and lets the
// transport drop it unread (Skip): every subscriber of a topic is handed
// the same value, so a transport whose subscribers' responses depend on
// nothing but the operation and the value can execute and encode the
// response once and send those bytes to the others.

type readyKey struct{}

// Ready is a subscription's callback and whether a Watch took it.
type Ready struct {
	f       func()
	claimed atomic.Bool

	mu   sync.Mutex
	head func() (ValueID, bool)
	skip func(ValueID) bool
}

// ValueID names one value of one topic: every subscriber handed the same
// ValueID is handed the same value. It is comparable.
type ValueID struct {
	k   *key
	seq uint64
}

// WithReady returns ctx carrying f for the Watch that runs under it.
func WithReady(ctx context.Context, f func()) (context.Context, *Ready) {
	r := &Ready{f: f}
	return context.WithValue(ctx, readyKey{}, r), r
}

// Claimed reports whether a Watch announces its values through f.
func (r *Ready) Claimed() bool { return r.claimed.Load() }

// Head names the value waiting in the channel, if the channel holds one
// and its Watch names its values (one topic). Call it only from the
// channel's one reader.
func (r *Ready) Head() (ValueID, bool) {
	r.mu.Lock()
	head := r.head
	r.mu.Unlock()
	if head == nil {
		return ValueID{}, false
	}
	return head()
}

// Skip takes the value id out of the channel unread, as if the reader had
// received it; false (nothing taken) when id is not the value waiting.
func (r *Ready) Skip(id ValueID) bool {
	r.mu.Lock()
	skip := r.skip
	r.mu.Unlock()
	return skip != nil && skip(id)
}

func claimReady(ctx context.Context) *Ready {
	if r, ok := ctx.Value(readyKey{}).(*Ready); ok && r.claimed.CompareAndSwap(false, true) {
		return r
	}
	return nil
}

// After reports whether v is a later value than w of the same topic, or a
// value of another topic (a topic's key starts over once nobody watches it).
func (v ValueID) After(w ValueID) bool { return v.k != w.k || v.seq > w.seq }
