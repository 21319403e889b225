package realtime

import (
	"context"
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

type readyKey struct{}

// Ready is a subscription's callback and whether a Watch took it.
type Ready struct {
	f       func()
	claimed atomic.Bool
}

// WithReady returns ctx carrying f for the Watch that runs under it.
func WithReady(ctx context.Context, f func()) (context.Context, *Ready) {
	r := &Ready{f: f}
	return context.WithValue(ctx, readyKey{}, r), r
}

// Claimed reports whether a Watch announces its values through f.
func (r *Ready) Claimed() bool { return r.claimed.Load() }

func claimReady(ctx context.Context) func() {
	if r, ok := ctx.Value(readyKey{}).(*Ready); ok && r.claimed.CompareAndSwap(false, true) {
		return r.f
	}
	return func() {}
}
