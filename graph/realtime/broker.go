// Package realtime turns "topic changed" notifications into GraphQL
// subscription events. A Broker keeps one entry per watched topic: on a
// notification it re-reads the value once (at most Rate times a second,
// always finishing on the latest) and hands it to every subscriber without
// ever waiting for one. A subscription to one topic gets its values in a
// one-slot channel, a newer value replacing an unread one; a subscription
// to several has its own small goroutine that sends to its client. A slow
// client only ever delays itself, and holds at most one pending value per
// topic.
package realtime

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Fetch reads a topic's current value (nil is a valid value: "none").
type Fetch func(ctx context.Context, topic string) (any, error)

// Broker fans topic changes out to subscribers.
type Broker struct {
	interval time.Duration
	log      *slog.Logger
	fetchers map[string]Fetch // by topic prefix, e.g. "stock"

	mu   sync.Mutex
	keys map[string]*key

	derive map[string]derivation // by source prefix

	listeners []func(topics []string)
}

// derivation maps a change of one topic to other topics (a stock change to
// the overlays pinning that product).
type derivation struct {
	target string // prefix of the derived topics
	f      func(ctx context.Context, topic string) ([]string, error)
}

// NewBroker returns a broker sending at most rate updates per second per
// topic.
func NewBroker(rate float64, log *slog.Logger) *Broker {
	if rate <= 0 {
		rate = 10
	}
	return &Broker{interval: time.Duration(float64(time.Second) / rate), log: log,
		fetchers: map[string]Fetch{}, keys: map[string]*key{}, derive: map[string]derivation{}}
}

// Derive makes a change of a "source:…" topic also count as a change of the
// "target:…" topics f returns. f runs off the notifier's goroutine, and only
// while some "target:…" topic is watched.
func (b *Broker) Derive(source, target string, f func(ctx context.Context, topic string) ([]string, error)) {
	b.derive[source] = derivation{target: target, f: f}
}

// Handle registers the fetch for topics "prefix:…".
func (b *Broker) Handle(prefix string, f Fetch) { b.fetchers[prefix] = f }

// Listen makes f hear every notification's topics (a cache to drop),
// from this replica and, through the bus, from every other. Call it
// before the bus runs; f runs on the notifier's goroutine and must not
// block.
func (b *Broker) Listen(f func(topics []string)) { b.listeners = append(b.listeners, f) }

// Notify marks topics changed; "*" means everything (after a lost link).
// It never blocks on subscribers.
func (b *Broker) Notify(_ context.Context, topics ...string) {
	for _, f := range b.listeners {
		f(topics)
	}
	b.mu.Lock()
	var ks []*key
	for _, t := range topics {
		if t == "*" {
			ks = ks[:0]
			for _, k := range b.keys {
				ks = append(ks, k)
			}
			break
		}
		if k, ok := b.keys[t]; ok {
			ks = append(ks, k)
		}
	}
	var derived []string
	for _, t := range topics {
		prefix, _, _ := strings.Cut(t, ":")
		if d, ok := b.derive[prefix]; ok && b.watchingLocked(d.target) {
			derived = append(derived, t)
		}
	}
	b.mu.Unlock()
	for _, k := range ks {
		k.schedule()
	}
	for _, t := range derived {
		prefix, _, _ := strings.Cut(t, ":")
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ts, err := b.derive[prefix].f(ctx, t)
			if err != nil {
				b.log.Error("realtime: derive topics", "topic", t, "error", err)
				return
			}
			b.Notify(ctx, ts...)
		}()
	}
}

func (b *Broker) watchingLocked(prefix string) bool {
	for t := range b.keys {
		if strings.HasPrefix(t, prefix+":") {
			return true
		}
	}
	return false
}

type key struct {
	broker *Broker
	topic  string
	fetch  Fetch

	mu        sync.Mutex
	subs      map[*sub]struct{}
	latest    any
	seq       uint64    // numbers the values read; 0: none yet
	scheduled bool      // a refresh is due
	reading   bool      // a refresh is reading
	last      time.Time // when the last refresh started
}

// schedule refreshes the value now, or when the rate allows; a refresh
// already due absorbs this notification. Refreshes never overlap: one due
// while a read is out starts when that read is done, so a slow read cannot
// store its older value over a quicker, newer one.
func (k *key) schedule() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.scheduled {
		return
	}
	k.scheduled = true
	if !k.reading {
		k.startLocked()
	}
}

func (k *key) startLocked() {
	time.AfterFunc(max(time.Until(k.last.Add(k.broker.interval)), 0), k.refresh)
}

func (k *key) refresh() {
	k.mu.Lock()
	k.scheduled, k.reading = false, true // changes from here on schedule the next refresh
	k.last = time.Now()
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	v, err := k.fetch(ctx, k.topic)
	cancel()
	k.mu.Lock()
	k.reading = false
	if k.scheduled {
		k.startLocked()
	}
	if err != nil {
		k.mu.Unlock()
		k.broker.log.Error("realtime: read topic", "topic", k.topic, "error", err)
		return
	}
	k.latest, k.seq = v, k.seq+1
	subs := make([]*sub, 0, len(k.subs))
	for s := range k.subs {
		subs = append(subs, s)
	}
	k.mu.Unlock()
	for _, s := range subs {
		s.mark(k)
	}
}

// value returns the latest value and its number (0: none yet).
func (k *key) value() (any, uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.latest, k.seq
}

type sub struct {
	mu    sync.Mutex
	dirty []*key
	ready chan struct{}
	// direct, for a one-topic subscription, hands the value numbered seq
	// straight to the subscriber's one-slot channel, replacing an unread
	// older value: no goroutine of our own per subscriber. A value older
	// than one already handed over (two refreshes' deliveries crossing) is
	// dropped.
	direct func(v any, seq uint64)
}

func (s *sub) mark(k *key) {
	if s.direct != nil {
		if v, seq := k.value(); seq > 0 {
			s.direct(v, seq)
		}
		return
	}
	s.mu.Lock()
	found := false
	for _, d := range s.dirty {
		if d == k {
			found = true
			break
		}
	}
	if !found {
		s.dirty = append(s.dirty, k)
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *sub) take() []*key {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dirty
	s.dirty = nil
	return d
}

// ErrUnknownTopic is a topic no fetch is registered for.
var ErrUnknownTopic = errors.New("realtime: unknown topic")

// Watch subscribes to topics until ctx ends: the current value of each comes
// first, then each change. Values are converted with conv (a nil result is
// skipped).
func Watch[T any](ctx context.Context, b *Broker, topics []string, conv func(any) (T, bool)) (<-chan T, error) {
	s := &sub{ready: make(chan struct{}, 1)}
	out := make(chan T, 1)
	closed := false
	ready := func() {} // set below, once the subscription is sure to start
	var inOut ValueID  // under s.mu: the value last put in out (direct)
	var thisKey *key   // the one topic's key (direct), set below
	if len(topics) == 1 {
		var handed uint64
		s.direct = func(v any, seq uint64) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if closed || seq <= handed {
				return
			}
			handed = seq
			t, ok := conv(v)
			if !ok {
				return
			}
			inOut = ValueID{thisKey, seq}
			select {
			case out <- t:
				ready()
			default: // the client has not taken the previous value: replace it
				select {
				case <-out:
					out <- t // replaced: the value taken out was already announced
				default: // the client took it meanwhile: a new value
					out <- t
					ready()
				}
			}
		}
	}
	fetch := make([]Fetch, len(topics))
	for i, t := range topics { // all known, or no subscription at all
		prefix, _, _ := strings.Cut(t, ":")
		f, ok := b.fetchers[prefix]
		if !ok {
			return nil, ErrUnknownTopic
		}
		fetch[i] = f
	}
	// A transport that asked (WithReady) is told of each value put in out,
	// and, with one topic, which value waits there.
	if r := claimReady(ctx); r != nil {
		ready = r.f
		if s.direct != nil {
			r.mu.Lock()
			r.head = func() (ValueID, bool) {
				s.mu.Lock()
				defer s.mu.Unlock()
				return inOut, len(out) == 1
			}
			r.skip = func(id ValueID) bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				if len(out) != 1 || inOut != id {
					return false
				}
				<-out
				return true
			}
			r.mu.Unlock()
		}
	}
	keys := make([]*key, 0, len(topics))
	b.mu.Lock()
	for i, t := range topics {
		k, ok := b.keys[t]
		if !ok {
			k = &key{broker: b, topic: t, fetch: fetch[i], subs: map[*sub]struct{}{}}
			b.keys[t] = k
		}
		if s.direct != nil {
			s.mu.Lock()
			thisKey = k
			s.mu.Unlock()
		}
		k.mu.Lock()
		k.subs[s] = struct{}{}
		has, reading := k.seq > 0, k.reading
		k.mu.Unlock()
		switch {
		case has:
			s.mark(k)
		case !reading: // a read out now tells s too
			k.schedule()
		}
		keys = append(keys, k)
	}
	b.mu.Unlock()

	unsubscribe := func() {
		b.mu.Lock()
		for _, k := range keys {
			k.mu.Lock()
			delete(k.subs, s)
			if len(k.subs) == 0 {
				delete(b.keys, k.topic) // no stale value outlives its watchers
			}
			k.mu.Unlock()
		}
		b.mu.Unlock()
		s.mu.Lock()
		closed = true
		close(out)
		s.mu.Unlock()
	}
	if s.direct != nil {
		context.AfterFunc(ctx, unsubscribe)
		return out, nil
	}
	go func() {
		defer unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.ready:
			}
			for _, k := range s.take() {
				v, seq := k.value()
				if seq == 0 {
					continue
				}
				t, ok := conv(v)
				if !ok {
					continue
				}
				select {
				case out <- t:
					ready()
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Subscribers is how many subscriptions watch topic now (for tests).
func (b *Broker) Subscribers(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.keys[topic]
	if !ok {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.subs)
}
