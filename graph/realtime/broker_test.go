package realtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Every test here runs in a synctest bubble: time is fake and only moves
// when every goroutine of the bubble is blocked, so "at most 10 a second"
// is checked to the nanosecond without sleeping on the real clock, and a
// goroutine left blocked at the end fails the test.

// update is a topic's value as a subscriber sees it.
type update struct {
	topic string
	v     int
}

func asUpdate(v any) (update, bool) {
	u, ok := v.(update)
	return u, ok
}

// source is the data behind the topics "t:…": an int per topic, read by
// fetch. delay, when set, makes the n-th read of a topic answer late: it
// reads the value when called and returns it after the delay, as a query
// that saw its snapshot and then waited on the network.
type source struct {
	mu    sync.Mutex
	vals  map[string]int
	reads map[string]int
	delay func(topic string, n int) time.Duration
}

func (s *source) set(topic string, v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals[topic] = v
}

func (s *source) readsOf(topic string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[topic]
}

func (s *source) fetch(_ context.Context, topic string) (any, error) {
	s.mu.Lock()
	v, ok := s.vals[topic]
	s.reads[topic]++
	n := s.reads[topic]
	delay := s.delay
	s.mu.Unlock()
	if delay != nil {
		time.Sleep(delay(topic, n))
	}
	if !ok {
		return nil, nil
	}
	return update{topic, v}, nil
}

func newBroker(t *testing.T, rate float64) (*Broker, *source, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	b := NewBroker(rate, slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil)))
	src := &source{vals: map[string]int{}, reads: map[string]int{}}
	b.Handle("t", src.fetch)
	return b, src, &logs
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// received is one value as a subscriber read it, and when.
type received struct {
	at time.Time
	update
}

// recorder reads a subscription as fast as it can until it is closed.
type recorder struct {
	mu   sync.Mutex
	got  []received
	done chan struct{}
}

func record(ch <-chan update) *recorder {
	r := &recorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for u := range ch {
			r.mu.Lock()
			r.got = append(r.got, received{time.Now(), u})
			r.mu.Unlock()
		}
	}()
	return r
}

// of returns what was read of topic so far.
func (r *recorder) of(topic string) []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []received
	for _, g := range r.got {
		if g.topic == topic {
			out = append(out, g)
		}
	}
	return out
}

func watch(t *testing.T, ctx context.Context, b *Broker, topics ...string) <-chan update {
	t.Helper()
	ch, err := Watch(ctx, b, topics, asUpdate)
	if err != nil {
		t.Fatalf("watch %v: %v", topics, err)
	}
	return ch
}

// values lists the values of rs.
func values(rs []received) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.v
	}
	return out
}

// packageGoroutines returns the stacks of the goroutines running this
// package's own code (bus.go, broker.go): those Watch, Notify and the
// buses start, and the timers' refreshes. The tests' goroutines are not
// counted.
func packageGoroutines() []string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	var ours []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, "/graph/realtime/broker.go:") || strings.Contains(g, "/graph/realtime/bus.go:") {
			ours = append(ours, g)
		}
	}
	return ours
}

func assertNoPackageGoroutines(t *testing.T) {
	t.Helper()
	synctest.Wait()
	if gs := packageGoroutines(); len(gs) > 0 {
		t.Fatalf("%d goroutines of package realtime left:\n\n%s", len(gs), strings.Join(gs, "\n\n"))
	}
}

func TestWatchSendsTheValueThenEachChange(t *testing.T) {
	for _, topics := range [][]string{{"t:a"}, {"t:a", "t:b"}} {
		t.Run(fmt.Sprint(len(topics), " topics"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, src, _ := newBroker(t, 10)
				src.set("t:a", 1)
				src.set("t:b", 1)
				ctx, cancel := context.WithCancel(t.Context())
				r := record(watch(t, ctx, b, topics...))
				synctest.Wait()
				for _, topic := range topics {
					if got := values(r.of(topic)); !slices.Equal(got, []int{1}) {
						t.Fatalf("%s: first values %v, want [1]", topic, got)
					}
				}
				time.Sleep(time.Second)
				src.set("t:a", 2)
				b.Notify(ctx, "t:a", "t:unwatched")
				synctest.Wait()
				if got := values(r.of("t:a")); !slices.Equal(got, []int{1, 2}) {
					t.Fatalf("t:a after a change: %v, want [1 2]", got)
				}
				if n := src.readsOf("t:unwatched"); n != 0 {
					t.Fatalf("an unwatched topic was read %d times", n)
				}
				cancel()
				<-r.done // the channel is closed
				assertNoPackageGoroutines(t)
			})
		})
	}
}

// TestRateLimitPerTopic: 100 changes in a second reach a subscriber at
// most 10 times a second (rate 10), the last one the final value; another
// topic has its own budget.
func TestRateLimitPerTopic(t *testing.T) {
	for _, topics := range [][]string{{"t:a"}, {"t:a", "t:b"}} {
		t.Run(fmt.Sprint(len(topics), " topics"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const rate, interval = 10, 100 * time.Millisecond
				b, src, _ := newBroker(t, rate)
				src.set("t:a", 0)
				src.set("t:b", 0)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				r := record(watch(t, ctx, b, topics...))
				other := record(watch(t, ctx, b, "t:b"))
				start := time.Now()
				var bChanged time.Time
				for i := 1; i <= 100; i++ {
					src.set("t:a", i)
					b.Notify(ctx, "t:a")
					if i == 55 {
						// t:b was refreshed at the start only: it may go now.
						bChanged = time.Now()
						src.set("t:b", 1)
						b.Notify(ctx, "t:b")
					}
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(time.Second)
				synctest.Wait()

				got := r.of("t:a")
				t.Logf("100 changes in %v arrived as %d updates: %v", time.Since(start)-time.Second, len(got), values(got))
				for i := 1; i < len(got); i++ {
					if gap := got[i].at.Sub(got[i-1].at); gap < interval {
						t.Errorf("updates %d and %d of t:a only %v apart (rate %d/s)", i-1, i, gap, rate)
					}
				}
				if last := got[len(got)-1]; last.v != 100 {
					t.Errorf("t:a ended on %d, want the latest value 100", last.v)
				}
				// It keeps up while the changes go on (about one update
				// per interval), not only once they stop.
				if len(got) < 10 {
					t.Errorf("only %d updates of t:a during a second of changes", len(got))
				}
				for _, rec := range []*recorder{r, other} {
					bs := rec.of("t:b")
					if len(bs) == 0 {
						continue // r may watch only t:a
					}
					if last := bs[len(bs)-1]; last.v != 1 || !last.at.Equal(bChanged) {
						t.Errorf("t:b: %v at +%v, want 1 at once (+%v): its budget is its own", last.v, last.at.Sub(start), bChanged.Sub(start))
					}
				}
			})
		})
	}
}

// TestNotifyAllRefreshesEveryWatchedTopic: "*" (sent after a lost link)
// re-reads every watched topic, and only those.
func TestNotifyAllRefreshesEveryWatchedTopic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, src, _ := newBroker(t, 10)
		for _, topic := range []string{"t:a", "t:b", "t:c"} {
			src.set(topic, 1)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		ra := record(watch(t, ctx, b, "t:a"))
		synctest.Wait() // the first read done: rb shares its value
		rb := record(watch(t, ctx, b, "t:a", "t:b"))
		time.Sleep(time.Second)
		for _, topic := range []string{"t:a", "t:b", "t:c"} {
			src.set(topic, 2) // changes whose notifications were lost
		}
		b.Notify(ctx, "*")
		synctest.Wait()
		if got := values(ra.of("t:a")); !slices.Equal(got, []int{1, 2}) {
			t.Errorf("t:a after *: %v, want [1 2]", got)
		}
		for _, topic := range []string{"t:a", "t:b"} {
			if got := values(rb.of(topic)); !slices.Equal(got, []int{1, 2}) {
				t.Errorf("%s after *: %v, want [1 2]", topic, got)
			}
		}
		if n := src.readsOf("t:c"); n != 0 {
			t.Errorf("* read the unwatched t:c %d times", n)
		}
		if n := src.readsOf("t:a"); n != 2 {
			t.Errorf("t:a read %d times, want 2 (the first value, then once for *)", n)
		}
	})
}

// TestDerive: a change of a "t:…" topic counts as a change of the "s:…"
// topics the derivation names, and the derivation only runs while some
// "s:…" topic is watched.
func TestDerive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, src, logs := newBroker(t, 10)
		b.Handle("s", src.fetch)
		var mu sync.Mutex
		var calls []string
		b.Derive("t", "s", func(ctx context.Context, topic string) ([]string, error) {
			mu.Lock()
			calls = append(calls, topic)
			mu.Unlock()
			if topic == "t:broken" {
				return nil, errors.New("no such product")
			}
			time.Sleep(50 * time.Millisecond) // a query; the notifier does not wait for it
			return []string{"s:1", "s:unwatched"}, nil
		})
		calledWith := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(calls)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()

		b.Notify(ctx, "t:x")
		synctest.Wait()
		if got := calledWith(); len(got) != 0 {
			t.Fatalf("derivation ran with nothing derived watched: %v", got)
		}

		src.set("s:1", 1)
		r := record(watch(t, ctx, b, "s:1"))
		time.Sleep(time.Second)
		src.set("s:1", 2)
		before := time.Now()
		b.Notify(ctx, "t:x")
		if time.Since(before) != 0 {
			t.Fatalf("Notify waited %v for the derivation", time.Since(before))
		}
		synctest.Wait()
		if got := values(r.of("s:1")); !slices.Equal(got, []int{1}) {
			t.Fatalf("s:1 changed before the derivation answered: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if got := values(r.of("s:1")); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("s:1 after a change of t:x: %v, want [1 2]", got)
		}
		if got := calledWith(); !slices.Equal(got, []string{"t:x"}) {
			t.Fatalf("derivation called with %v, want [t:x]", got)
		}
		if n := src.readsOf("s:unwatched"); n != 0 {
			t.Fatalf("a derived topic nobody watches was read %d times", n)
		}

		b.Notify(ctx, "t:broken")
		synctest.Wait()
		if !strings.Contains(logs.String(), "realtime: derive topics") || !strings.Contains(logs.String(), "no such product") {
			t.Fatalf("a failed derivation was not logged: %q", logs.String())
		}
	})
}

// TestSlowSubscriberOnlyDelaysItself: subscribers that never read do not
// hold back one that does, and each holds at most one pending value per
// topic, which is the latest.
func TestSlowSubscriberOnlyDelaysItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, src, _ := newBroker(t, 10)
		src.set("t:a", 0)
		src.set("t:b", 0)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		fast := record(watch(t, ctx, b, "t:a", "t:b"))
		fastOne := record(watch(t, ctx, b, "t:a"))
		synctest.Wait()
		stalled := watch(t, ctx, b, "t:a", "t:b")
		stalledOne := watch(t, ctx, b, "t:a")
		for i := 1; i <= 100; i++ {
			src.set("t:a", i)
			src.set("t:b", i)
			b.Notify(ctx, "t:a", "t:b")
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
		synctest.Wait()

		for name, rs := range map[string][]received{"t:a": fast.of("t:a"), "t:b": fast.of("t:b"), "t:a alone": fastOne.of("t:a")} {
			if len(rs) < 10 || rs[len(rs)-1].v != 100 {
				t.Errorf("the reading subscriber of %s got %v, want about 10 updates ending on 100", name, values(rs))
			}
		}

		// The one-topic subscriber holds exactly one value: the latest.
		select {
		case u := <-stalledOne:
			if u.v != 100 {
				t.Errorf("stalled one-topic subscriber: pending %d, want 100", u.v)
			}
		default:
			t.Fatal("stalled one-topic subscriber: nothing pending")
		}
		synctest.Wait()
		select {
		case u := <-stalledOne:
			t.Errorf("stalled one-topic subscriber: a second pending value %v", u)
		default:
		}

		// The two-topic one holds at most a value per topic (one in the
		// channel, one in hand) and then catches up with the latest.
		var got []update
		for {
			synctest.Wait()
			select {
			case u := <-stalled:
				got = append(got, u)
				continue
			default:
			}
			break
		}
		if len(got) > 4 {
			t.Errorf("stalled two-topic subscriber had %d values pending: %v", len(got), got)
		}
		last := map[string]int{}
		for _, u := range got {
			last[u.topic] = u.v
		}
		if last["t:a"] != 100 || last["t:b"] != 100 {
			t.Errorf("stalled two-topic subscriber caught up on %v, want 100 for both", got)
		}
	})
}

// TestCancelStopsEverything: cancelling a subscription closes its channel,
// drops it from its topics (and the topics nobody watches any more), and
// stops its goroutine; no goroutine of the package is left, even with a
// refresh pending and a subscriber that never read.
func TestCancelStopsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, src, _ := newBroker(t, 10)
		bus := NewLocal()
		busCtx, stopBus := context.WithCancel(t.Context())
		busDone := make(chan struct{})
		go func() { bus.Run(busCtx, b); close(busDone) }()
		src.set("t:a", 1)
		src.set("t:b", 1)
		ctx, cancel := context.WithCancel(t.Context())
		one := record(watch(t, ctx, b, "t:a"))
		two := record(watch(t, ctx, b, "t:a", "t:b"))
		synctest.Wait() // the first reads done: the others share their values
		stalled := watch(t, ctx, b, "t:a", "t:b")
		otherCtx, cancelOther := context.WithCancel(t.Context())
		defer cancelOther()
		keep := record(watch(t, otherCtx, b, "t:b"))
		synctest.Wait()
		if n := b.Subscribers("t:a"); n != 3 {
			t.Fatalf("t:a has %d subscribers, want 3", n)
		}
		src.set("t:a", 2)
		bus.Notify(ctx, "t:a") // schedules a refresh 100ms on
		cancel()
		for _, r := range []*recorder{one, two} {
			<-r.done
		}
		synctest.Wait()
		for range stalled { // drained, then closed
		}
		if n := b.Subscribers("t:a"); n != 0 {
			t.Errorf("t:a has %d subscribers after they all cancelled", n)
		}
		if n := b.Subscribers("t:b"); n != 1 {
			t.Errorf("t:b has %d subscribers, want 1 (one did not cancel)", n)
		}
		b.mu.Lock()
		_, stale := b.keys["t:a"]
		b.mu.Unlock()
		if stale {
			t.Error("the broker still keeps t:a, which nobody watches")
		}
		time.Sleep(time.Second) // the pending refresh fires, with nobody to tell
		synctest.Wait()
		if got := values(keep.of("t:b")); !slices.Equal(got, []int{1}) {
			t.Errorf("the remaining subscriber of t:b got %v, want [1]", got)
		}
		cancelOther()
		<-keep.done
		stopBus()
		<-busDone
		bus.Notify(t.Context(), "t:b") // no broker: dropped
		assertNoPackageGoroutines(t)
	})
}

// TestLatestWinsOverASlowRead: a read that answers late (its snapshot
// older than a later, quicker read's) does not overwrite the newer value.
func TestLatestWinsOverASlowRead(t *testing.T) {
	for _, topics := range [][]string{{"t:a"}, {"t:a", "t:b"}} {
		t.Run(fmt.Sprint(len(topics), " topics"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, src, _ := newBroker(t, 10)
				src.delay = func(topic string, n int) time.Duration {
					if topic == "t:a" && n == 2 {
						return 300 * time.Millisecond // the second read of t:a is slow
					}
					return 0
				}
				src.set("t:a", 0)
				src.set("t:b", 0)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				r := record(watch(t, ctx, b, topics...))
				synctest.Wait()
				time.Sleep(time.Second)
				src.set("t:a", 1)
				b.Notify(ctx, "t:a") // read now, answers in 300ms
				time.Sleep(150 * time.Millisecond)
				src.set("t:a", 2)
				b.Notify(ctx, "t:a") // a quick read, while the slow one is out
				time.Sleep(time.Second)
				synctest.Wait()
				got := r.of("t:a")
				if last := got[len(got)-1].v; last != 2 {
					t.Fatalf("t:a ended on %d after values %v, want the latest, 2", last, values(got))
				}
				for i := 1; i < len(got); i++ {
					if got[i].v < got[i-1].v {
						t.Fatalf("t:a went back in time: %v", values(got))
					}
				}
			})
		})
	}
}

// TestJoinersShareTheReadInFlight: subscribers arriving while a topic's
// first read is out wait for it rather than each asking for another.
func TestJoinersShareTheReadInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, src, _ := newBroker(t, 10)
		src.delay = func(string, int) time.Duration { return 50 * time.Millisecond }
		src.set("t:a", 7)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		first := record(watch(t, ctx, b, "t:a"))
		synctest.Wait() // the read is out
		var rs []*recorder
		for range 20 {
			rs = append(rs, record(watch(t, ctx, b, "t:a")))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		for i, r := range append(rs, first) {
			if got := values(r.of("t:a")); !slices.Equal(got, []int{7}) {
				t.Fatalf("subscriber %d got %v, want [7]", i, got)
			}
		}
		if n := src.readsOf("t:a"); n != 1 {
			t.Fatalf("t:a read %d times for 21 subscribers arriving together, want 1", n)
		}
	})
}

func TestWatchUnknownTopic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _, _ := newBroker(t, 10)
		if _, err := Watch(t.Context(), b, []string{"t:a", "nope:1"}, asUpdate); !errors.Is(err, ErrUnknownTopic) {
			t.Fatalf("watching nope:1: %v, want ErrUnknownTopic", err)
		}
		if n := b.Subscribers("t:a"); n != 0 {
			t.Fatalf("a refused subscription left %d subscribers on t:a", n)
		}
		assertNoPackageGoroutines(t)
	})
}
