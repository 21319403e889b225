package realtime

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"
)

// TestLocalBus: Local hands notifications to the broker it runs for, and
// to nobody before Run or after Run's context ends.
func TestLocalBus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, src, _ := newBroker(t, 10)
		src.set("t:a", 1)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := record(watch(t, ctx, b, "t:a"))
		bus := NewLocal()
		time.Sleep(time.Second)

		src.set("t:a", 2)
		bus.Notify(ctx, "t:a") // not running: dropped
		synctest.Wait()
		if got := values(r.of("t:a")); !slices.Equal(got, []int{1}) {
			t.Fatalf("a notification before Run reached the broker: %v", got)
		}

		busCtx, stopBus := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { bus.Run(busCtx, b); close(done) }()
		synctest.Wait()
		bus.Notify(ctx, "t:a")
		synctest.Wait()
		if got := values(r.of("t:a")); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("t:a after a notification on the bus: %v, want [1 2]", got)
		}

		stopBus()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("Run did not return when its context ended")
		}
		time.Sleep(time.Second)
		src.set("t:a", 3)
		bus.Notify(ctx, "t:a")
		synctest.Wait()
		if got := values(r.of("t:a")); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("a notification after Run reached the broker: %v", got)
		}
		cancel()
		<-r.done
		assertNoPackageGoroutines(t)
	})
}

// TestPostgresBus runs the LISTEN/NOTIFY bus against a real PostgreSQL:
// notifications reach the broker, a long list of topics is split into
// several NOTIFYs without losing one, and after the listening connection
// is killed every watched topic is re-read (the notifications sent
// meanwhile are lost, the values are not).
func TestPostgresBus(t *testing.T) {
	base := os.Getenv("MERCHD_TEST_POSTGRES")
	if base == "" {
		t.Skip("set MERCHD_TEST_POSTGRES to a PostgreSQL URL to test the LISTEN/NOTIFY bus")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The listener names itself, so that this test kills only its own.
	app := fmt.Sprintf("realtime_test_%d", time.Now().UnixNano())
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()

	b, src, _ := newBroker(t, 1000)
	// Other tests may share the database and the channel: topics unique
	// to this run.
	topic := func(s string) string { return "t:" + app + "-" + s }
	a, last := topic("a"), topic("last")
	src.set(a, 1)
	src.set(last, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := record(watch(t, ctx, b, a, last))
	bus := NewPostgres(db, u.String(), slog.New(slog.DiscardHandler))
	busCtx, stopBus := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { bus.Run(busCtx, b); close(done) }()
	t.Cleanup(func() {
		stopBus()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the Postgres bus did not stop within 10s of its context ending")
		}
	})

	// waitFor waits for topic to reach want, sending notify (if any) every
	// 50ms meanwhile: the listener may not be listening yet.
	waitFor := func(topic string, want int, notify func()) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if rs := r.of(topic); len(rs) > 0 && rs[len(rs)-1].v == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never reached %d over LISTEN/NOTIFY (got %v)", topic, want, values(r.of(topic)))
			}
			if notify != nil {
				notify()
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
		}
	}
	waitFor(a, 1, nil)
	src.set(a, 2)
	waitFor(a, 2, func() { bus.Notify(ctx, a) })

	// 600 topics of ~60 bytes: ~36 KB, so five NOTIFYs; the watched one last.
	var many []string
	for i := range 600 {
		many = append(many, topic(fmt.Sprintf("filler-%04d-%s", i, strings.Repeat("x", 20))))
	}
	src.set(last, 2)
	bus.Notify(ctx, append(many, last)...)
	waitFor(last, 2, nil)

	// Changes without a NOTIFY, as if sent while the link was down; then
	// kill the listener: on reconnecting it re-reads everything watched.
	src.set(a, 3)
	src.set(last, 3)
	res, err := db.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("terminated %d listeners named %s, want 1", n, app)
	}
	waitFor(a, 3, nil)
	waitFor(last, 3, nil)
}
