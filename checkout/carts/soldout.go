package carts

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/merchd/merchd/checkout"
)

// The sold-out memo. Once a drop sells out, nearly every addToCart is a
// refusal, and each used to cost four reads (the variant, its drop and
// pools, the stock row, the idempotency record) before saying so. The
// memo remembers "sold out" for a request's shape (variant, drop, stream,
// channel) until anything changes: every committed change this process
// announces (Watching) or hears from another replica (Changed) starts a
// new generation, and a memo from an older generation — or older than
// soldOutMaxAge, for transitions no one announces (a drop closing by the
// clock) — is not used. The memo only ever refuses; a hold is still taken
// by the guarded writes, so a stale memo can cost a sale for the length of
// one notification, never oversell. A request whose key already has a
// result still gets that result (the replay runs after the refusal).

// soldOutMaxAge bounds how long a memo is trusted without any change.
const soldOutMaxAge = time.Second

// soldOutKey is the shape of a request that may be refused from memory.
type soldOutKey struct {
	variant, drop, stream int
	channel               checkout.Channel
}

type soldOutMemo struct {
	on  atomic.Bool // set by Watching: without announcements, no memo
	gen atomic.Uint64
	mu  sync.Mutex
	m   map[soldOutKey]soldOutEntry
}

type soldOutEntry struct {
	gen uint64
	at  time.Time
}

// maxSoldOut bounds the memo; it starts over when full.
const maxSoldOut = 4096

func (m *soldOutMemo) generation() uint64 { return m.gen.Load() }

// soldOut reports whether k was sold out in the current generation.
func (m *soldOutMemo) soldOut(k soldOutKey, now time.Time) bool {
	if !m.on.Load() {
		return false
	}
	m.mu.Lock()
	e, ok := m.m[k]
	m.mu.Unlock()
	return ok && e.gen == m.gen.Load() && now.Sub(e.at) < soldOutMaxAge && !now.Before(e.at)
}

// remember records k as sold out, as read in generation gen (read before
// the reads that found it sold out: a change since then voids it).
func (m *soldOutMemo) remember(k soldOutKey, gen uint64, now time.Time) {
	if !m.on.Load() || gen != m.gen.Load() {
		return
	}
	m.mu.Lock()
	if m.m == nil || len(m.m) >= maxSoldOut {
		m.m = map[soldOutKey]soldOutEntry{}
	}
	m.m[k] = soldOutEntry{gen: gen, at: now}
	m.mu.Unlock()
}

// Changed tells the memo that something changed (topics announced by
// another replica, through the subscriptions' broker).
func (c *Service) Changed(topics []string) {
	if len(topics) > 0 {
		c.soldOut.gen.Add(1)
	}
}

// Watching returns n, telling the memo first of every change announced
// through it, so this process's own writes void the memo before the write
// returns. Only a service whose notifier is wrapped keeps a memo.
func (c *Service) Watching(n checkout.Notifier) checkout.Notifier {
	c.soldOut.on.Store(true)
	return watched{c, n}
}

type watched struct {
	c    *Service
	next checkout.Notifier
}

func (w watched) Notify(ctx context.Context, topics ...string) {
	w.c.Changed(topics)
	w.next.Notify(ctx, topics...)
}
