package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/notify"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/notificationdelivery"
	"github.com/merchd/merchd/ent/viewer"
)

// clock is a settable clock shared by the replicas of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mailbox records the emails it is given, by Message-ID; block, if set,
// runs before each is accepted.
type mailbox struct {
	mu    sync.Mutex
	got   map[string]int
	block func(ctx context.Context) error
}

func (m *mailbox) Send(ctx context.Context, mail notify.Mail) error {
	if m.block != nil {
		if err := m.block(ctx); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got[mail.MessageID]++
	return nil
}

func (m *mailbox) counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.got {
		out[k] = v
	}
	return out
}

type env struct {
	db       *entdb.DB
	clock    *clock
	customer int
	endpoint int
}

func newEnv(t *testing.T, dialect, hookURL string) *env {
	t.Helper()
	db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, dialect)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sys := viewer.SystemContext(context.Background())
	c := db.Client.Customer.Create().SetEmail("buyer@notify.example").SetPasswordHash("x").SaveX(sys)
	e := &env{db: db, clock: &clock{now: time.Now().UTC().Truncate(time.Second)}, customer: c.ID}
	if hookURL != "" {
		e.endpoint = db.Client.WebhookEndpoint.Create().SetURL(hookURL).SetEvents([]string{"*"}).SetSecret("whsec_test").SaveX(sys).ID
	}
	return e
}

// replica is one server's notification service on the shared database.
func (e *env) replica(t *testing.T, m notify.Mailer) *notify.Service {
	t.Helper()
	cfg := notify.DefaultConfig()
	cfg.PublicURL, cfg.AllowPrivateWebhooks, cfg.Lease = "https://shop.test", true, time.Minute
	s, err := notify.New(e.db.Client, cfg, e.clock.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.SetMailer(m)
	return s
}

// record commits an event (an account email: it needs no order).
func (e *env) record(t *testing.T, s *notify.Service, typ string, orderID int) {
	t.Helper()
	ctx := viewer.SystemContext(context.Background())
	tx, err := e.db.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, tx, checkout.Event{Type: typ, OrderID: orderID, CustomerID: e.customer,
		Data: map[string]any{"n": orderID, "_token": "mpr_secret"}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) deliveries(t *testing.T) []*ent.NotificationDelivery {
	t.Helper()
	return e.db.Client.NotificationDelivery.Query().Order(notificationdelivery.ByID()).AllX(viewer.SystemContext(context.Background()))
}

// TestReplicasSendEachOnce: three replicas sending at once, each scanning
// the same due deliveries, send every email and every webhook exactly
// once, and one endpoint still gets each order's events in the order
// they were recorded.
func TestReplicasSendEachOnce(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			var (
				mu    sync.Mutex
				hooks = map[string]int{}    // delivery id → calls
				seq   = map[float64][]int{} // order → event ids, in arrival order
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var p notify.Payload
				_ = json.NewDecoder(r.Body).Decode(&p)
				mu.Lock()
				hooks[r.Header.Get(notify.DeliveryHeader)]++
				n, _ := p.Data["n"].(float64)
				id, _ := gid.Decode(p.ID)
				seq[n] = append(seq[n], id)
				mu.Unlock()
			}))
			defer srv.Close()
			e := newEnv(t, d, srv.URL)
			mb := &mailbox{got: map[string]int{}}
			replicas := []*notify.Service{e.replica(t, mb), e.replica(t, mb), e.replica(t, mb)}
			const events = 30
			for i := range events {
				// Orders 1..3 get ten events each.
				e.record(t, replicas[i%3], checkout.EventRefundIssued, 1+i%3)
			}
			var wg sync.WaitGroup
			for _, r := range replicas {
				wg.Go(func() {
					for range 5 {
						if _, err := r.DeliverDue(context.Background()); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			for _, r := range replicas { // whatever ordering left waiting
				if _, err := r.DeliverDue(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			for _, dl := range e.deliveries(t) {
				if dl.Status != notificationdelivery.StatusSENT || dl.Attempts != 1 {
					t.Fatalf("delivery %d (%s): %s after %d attempts, want SENT after 1", dl.ID, dl.Kind, dl.Status, dl.Attempts)
				}
			}
			if len(hooks) != events {
				t.Fatalf("%d webhook deliveries arrived, want %d", len(hooks), events)
			}
			for id, n := range hooks {
				if n != 1 {
					t.Fatalf("webhook delivery %s arrived %d times", id, n)
				}
			}
			mails := mb.counts()
			if len(mails) != events {
				t.Fatalf("%d emails, want %d", len(mails), events)
			}
			for id, n := range mails {
				if n != 1 {
					t.Fatalf("email %s sent %d times", id, n)
				}
			}
			if len(seq) != 3 {
				t.Fatalf("events of %d orders arrived, want 3", len(seq))
			}
			for order, ids := range seq {
				for i := 1; i < len(ids); i++ {
					if ids[i] <= ids[i-1] {
						t.Fatalf("order %v's events arrived as %v: not in the order recorded", order, ids)
					}
				}
			}
		})
	}
}

// TestLeaseTakeover: a replica that hangs while sending keeps its
// delivery only for the lease; then another sends it, and the hung one,
// when it wakes, cannot overwrite what the other recorded.
func TestLeaseTakeover(t *testing.T) {
	e := newEnv(t, "sqlite", "")
	entered, wake := make(chan struct{}), make(chan struct{})
	hung := &mailbox{got: map[string]int{}, block: func(context.Context) error { close(entered); <-wake; return nil }}
	other := &mailbox{got: map[string]int{}}
	a, b := e.replica(t, hung), e.replica(t, other)
	e.record(t, a, checkout.EventPasswordReset, 0)

	done := make(chan error, 1)
	go func() { _, err := a.DeliverDue(context.Background()); done <- err }()
	<-entered
	if n, err := b.DeliverDue(context.Background()); err != nil || n != 0 {
		t.Fatalf("b took a leased delivery: %d %v", n, err)
	}
	e.clock.Advance(time.Minute + time.Second)
	if n, err := b.DeliverDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("b after the lease: %d %v, want 1", n, err)
	}
	close(wake)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	dl := e.deliveries(t)[0]
	if dl.Status != notificationdelivery.StatusSENT || dl.Attempts != 2 || dl.Claim != "" || dl.ClaimedUntil != nil {
		t.Fatalf("after the takeover: %s, %d attempts, claim %q", dl.Status, dl.Attempts, dl.Claim)
	}
	if len(other.counts()) != 1 {
		t.Fatal("the second replica did not send")
	}
}

// TestShutdownGivesBack: a replica stopped mid-send gives its delivery
// back at once (not after the lease), uncounted, and the next sends it.
func TestShutdownGivesBack(t *testing.T) {
	e := newEnv(t, "sqlite", "")
	entered := make(chan struct{})
	stopping := &mailbox{got: map[string]int{}, block: func(ctx context.Context) error { close(entered); <-ctx.Done(); return ctx.Err() }}
	next := &mailbox{got: map[string]int{}}
	a, b := e.replica(t, stopping), e.replica(t, next)
	e.record(t, a, checkout.EventPasswordReset, 0)

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _, _ = a.DeliverDue(ctx); close(done) }()
	<-entered
	stop()
	<-done
	dl := e.deliveries(t)[0]
	if dl.Status != notificationdelivery.StatusPENDING || dl.Attempts != 0 || dl.ClaimedUntil != nil {
		t.Fatalf("after a stop mid-send: %s, %d attempts, lease %v", dl.Status, dl.Attempts, dl.ClaimedUntil)
	}
	if n, err := b.DeliverDue(context.Background()); err != nil || n != 1 || len(next.counts()) != 1 {
		t.Fatalf("the next replica: %d %v", n, err)
	}
}

// TestRecordRollsBack: an event recorded in a transaction that rolls
// back leaves nothing to send.
func TestRecordRollsBack(t *testing.T) {
	e := newEnv(t, "sqlite", "http://127.0.0.1:9/")
	s := e.replica(t, &mailbox{got: map[string]int{}})
	ctx := viewer.SystemContext(context.Background())
	tx, err := e.db.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, tx, checkout.Event{Type: checkout.EventOrderPaid, OrderID: 7, CustomerID: e.customer}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := len(e.deliveries(t)); n != 0 {
		t.Fatalf("%d deliveries after a rollback", n)
	}
}

// TestSign is the signature scheme: HMAC-SHA256 keyed with the secret
// over "<t>.<body>", hex, after "t=<t>,v1=".
func TestSign(t *testing.T) {
	body := []byte(`{"id":"x"}`)
	mac := hmac.New(sha256.New, []byte("whsec_test"))
	mac.Write([]byte("1700000000." + string(body)))
	want := "t=1700000000,v1=" + hex.EncodeToString(mac.Sum(nil))
	if got := notify.Sign("whsec_test", time.Unix(1700000000, 0), body); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

// TestPrune: events past the retention go with their deliveries once
// none is pending; a pending one stays, however old.
func TestPrune(t *testing.T) {
	e := newEnv(t, "sqlite", "")
	refusing := &mailbox{got: map[string]int{}, block: func(context.Context) error { return io.ErrUnexpectedEOF }}
	s := e.replica(t, &mailbox{got: map[string]int{}})
	e.record(t, s, checkout.EventPasswordReset, 0)
	if _, err := s.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.SetMailer(refusing)
	e.record(t, s, checkout.EventPasswordReset, 0)
	if _, err := s.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(29 * 24 * time.Hour)
	if n, err := s.Prune(context.Background()); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) within the retention", n, err)
	}
	e.clock.Advance(2 * 24 * time.Hour)
	if n, err := s.Prune(context.Background()); err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want 1 (the sent one)", n, err)
	}
	ds := e.deliveries(t)
	if len(ds) != 1 || ds[0].Status != notificationdelivery.StatusPENDING {
		t.Fatalf("left: %+v", ds)
	}
}
