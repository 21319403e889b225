// Package graphtest starts merchd's real GraphQL handler over an
// httptest.Server on a real database — a SQLite file per test, or a fresh
// PostgreSQL database when MERCHD_TEST_POSTGRES is set — for tests of any
// package that need the API.
package graphtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/merchd/merchd/checkout/accounts"
	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/catalog"
	"github.com/merchd/merchd/checkout/drops"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/memberships"
	"github.com/merchd/merchd/checkout/notify"
	"github.com/merchd/merchd/checkout/orders"
	"github.com/merchd/merchd/checkout/qrcodes"
	"github.com/merchd/merchd/checkout/returns"
	"github.com/merchd/merchd/checkout/settings"
	"github.com/merchd/merchd/checkout/shop"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/edge"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/realtime"
	"github.com/merchd/merchd/live"
)

// The database helpers live in entdbtest, which leaf packages' tests use
// without pulling in the API; these names keep the API tests short.
const PostgresEnv = entdbtest.PostgresEnv

var (
	Dialects      = entdbtest.Dialects
	DatabaseURL   = entdbtest.DatabaseURL
	NewPostgresDB = entdbtest.NewPostgresDB
)

// Env is a running API.
type Env struct {
	URL      string // the /query endpoint
	Server   *httptest.Server
	DB       *entdb.DB
	Client   *ent.Client
	Accounts *accounts.Service
	Catalog  *catalog.Service
	Drops    *drops.Service
	Carts    *carts.Service
	Orders   *orders.Service
	Wallets  *wallets.Service
	Members  *memberships.Service
	Stripe   *FakeStripe
	Broker   *realtime.Broker
	Relay    *live.Relay
	QR       *qrcodes.Service
	Hubs     *hubs.Service
	// Returns takes goods back (central only).
	Returns *returns.Service
	// Notify is the outbox (central only): tests send what is due with
	// Notify.DeliverDue.
	Notify *notify.Service
	// Settings are the shop's owner-edited settings (name, logo, colour).
	Settings *settings.Service
	// Sales is the hub's selling side, with Options.Hub; nil on central.
	Sales *edge.Sales
	// Mux is the server's router; tests may mount more (the web pages).
	Mux *http.ServeMux
	// Base is the server's root URL (for /live/…).
	Base  string
	Clock *Clock
	// WebhookURL is /webhooks/stripe, signed with WebhookSecret.
	WebhookURL string
	Registry   *prometheus.Registry
	// API is the GraphQL handler (its response cache's stats, say).
	API *graph.Server
	// StaffToken is a valid staff API token.
	StaffToken string
	// Logs holds everything the server logged.
	Logs *SyncBuffer
	// UploadsDir holds the images uploaded to POST /uploads (5 MB each at most).
	UploadsDir string

	shop *shop.Shop
}

// Options tune an Env.
type Options struct {
	Dialect string // "sqlite" (default) or "postgres"
	Config  *graph.ServerConfig
	// Driver wraps the database driver (to count queries).
	Driver func(dialect.Driver) dialect.Driver
	// Cart overrides the hold settings (by default DefaultCartConfig with
	// the per-customer hoarding caps raised out of the way).
	Cart *carts.Config
	// SubscriptionRate overrides the broker's updates per second per topic.
	SubscriptionRate float64
	// Hub, when set, runs the API as this pop-up hub (merchd edge) instead
	// of central: its own stock location, its payment requests signed
	// with HubToken's key, card payments through Central.
	Hub      string
	HubToken string
	Central  hubs.CentralLink
	// Throttle sets sign-in and sign-up rates; nil turns them off (tests
	// sign up hundreds of customers from 127.0.0.1).
	Throttle *accounts.ThrottleConfig
	// Notify configures email and webhooks (by default TestNotify: no
	// SMTP, webhooks to 127.0.0.1 allowed).
	Notify *notify.Config
	// Resolver, when set, adjusts the API's resolver before the server
	// starts (benchmarks install graph.Resolver.NoopHold).
	Resolver func(*graph.Resolver)
}

// TestNotify is the notifications of a test shop: no SMTP server, links
// to https://shop.test, and webhook endpoints on loopback allowed.
func TestNotify() notify.Config {
	c := notify.DefaultConfig()
	c.ShopName, c.PublicURL, c.AllowPrivateWebhooks = "Test Shop", "https://shop.test", true
	return c
}

func (o Options) notify() notify.Config {
	if o.Notify == nil {
		return TestNotify()
	}
	return *o.Notify
}

func (o Options) throttle() accounts.ThrottleConfig {
	if o.Throttle == nil {
		return accounts.ThrottleConfig{Off: true, MaxHashing: 1024} // test passwords hash in microseconds
	}
	return *o.Throttle
}

// Clock is a settable clock for the services (drop states, hold expiry).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// FastPasswords keeps argon2id cheap in tests; production uses DefaultPasswordParams.
var FastPasswords = accounts.PasswordParams{Time: 1, Memory: 64, Threads: 1}

// New starts the API and stops it when the test ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Dialect == "" {
		o.Dialect = "sqlite"
	}
	ctx := context.Background()
	db, err := entdb.Open(ctx, entdb.Config{URL: DatabaseURL(t, o.Dialect), Driver: o.Driver})
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &Clock{now: time.Now().UTC().Truncate(time.Second)}
	logs := &SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	fake := NewFakeStripe()
	cc := carts.DefaultConfig()
	// Tests hold many units for one customer: the hoarding caps are
	// raised unless a test sets Cart (TestFinding8_* tests the defaults).
	cc.MaxHeldPerVariant, cc.MaxHeldUnits, cc.MaxUnpaidOrders = 1_000_000, 1_000_000, 1_000_000
	if o.Cart != nil {
		cc = *o.Cart
	}
	cfg := graph.DefaultConfig()
	if o.Config != nil {
		cfg = *o.Config
	}
	bus := realtime.NewLocal()
	rate := o.SubscriptionRate
	if rate == 0 {
		rate = 100
	}
	broker := realtime.NewBroker(rate, log)
	s, err := shop.New(ctx, shop.Config{
		DB: db, Currencies: []string{"EUR", "USD"}, Hub: o.Hub,
		Accounts: accounts.Config{SessionTTL: sessionTTL, Password: FastPasswords, Throttle: o.throttle()},
		Cart:     cc, Wallet: wallets.DefaultConfig(), Pay: fake, Subs: fake,
		Notifier: bus, Notify: o.notify(), Now: clock.Now, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	var sales *edge.Sales
	if o.Hub != "" {
		sales = edge.NewSales(db.Client, db.Dialect, o.Hub, clock.Now)
		sales.SignRequestsWith(hubs.RequestKey(o.HubToken))
		sales.SetNotifier(bus)
	}
	lcfg := live.DefaultConfig()
	lcfg.IncludeLoopback = true
	relay, err := live.New(lcfg, &graph.LiveHooks{Streams: s.Streams, Broker: broker}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	broker.Listen(s.Settings.Hear)
	busCtx, stopBus := context.WithCancel(context.Background())
	busDone := make(chan struct{})
	go func() { bus.Run(busCtx, broker); close(busDone) }()
	t.Cleanup(func() { stopBus(); <-busDone })
	reg := prometheus.NewRegistry()
	// The server starts first: venue QR codes hold its URL as the shop's
	// public URL, so a test can open what a phone camera would.
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	resolver := &graph.Resolver{PublicURL: srv.URL,
		Client: db.Client, Accounts: s.Accounts, Catalog: s.Catalog,
		Drops: s.Drops, Carts: s.Carts, Orders: s.Orders, Now: clock.Now,
		Wallets: s.Wallets, Members: s.Members, Currency: "EUR", Broker: broker, Bus: bus,
		Streams: s.Streams, Relay: relay, QR: s.QR, Hubs: s.Hubs, Fulfil: s.Fulfillment, Delivery: s.Delivery,
		Returns: s.Returns, Notify: s.Notify, Settings: s.Settings, Analytics: s.Analytics,
	}
	if sales != nil {
		resolver.Sales = sales
		resolver.Pickups = sales
		resolver.Dropoffs = sales
	}
	if o.Central != nil {
		resolver.Central = o.Central
	}
	if o.Resolver != nil {
		o.Resolver(resolver)
	}
	api, err := graph.NewServer(cfg, resolver, log, graph.NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/query", api)
	mux.Handle("/webhooks/stripe", s.Webhook(WebhookSecret))
	mux.Handle("/live/", relay.Handler())
	uploadsDir := filepath.Join(t.TempDir(), "uploads")
	uploads, err := api.Uploads(uploadsDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/uploads", uploads)
	mux.Handle("/uploads/", uploads)
	tok, err := s.Accounts.CreateStaffToken(ctx, "staff@example.com", "Staff", "tests")
	if err != nil {
		t.Fatal(err)
	}
	return &Env{
		URL: srv.URL + "/query", Server: srv, DB: db, Client: db.Client, API: api,
		Accounts: s.Accounts, Catalog: s.Catalog, Registry: reg, StaffToken: tok, Logs: logs,
		Drops: s.Drops, Carts: s.Carts, Orders: s.Orders, Stripe: fake, Clock: clock,
		Wallets: s.Wallets, Members: s.Members, Broker: broker, Relay: relay, Base: srv.URL, QR: s.QR, Mux: mux,
		Hubs: s.Hubs, Returns: s.Returns, Sales: sales, shop: s, Notify: s.Notify, Settings: s.Settings,
		WebhookURL: srv.URL + "/webhooks/stripe", UploadsDir: uploadsDir,
	}
}

// Sweep runs the shop's periodic jobs once (expired holds, overdue
// orders, refund retries, retention, gift expiry, membership renewals),
// as the server does every sweep interval.
func (e *Env) Sweep(ctx context.Context) (int, error) { return e.shop.Sweep(ctx) }

// Response is a decoded GraphQL response.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code returns the first error's extensions.code, or "".
func (r Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// Decode unmarshals Data into v, failing the test on GraphQL errors.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected GraphQL errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Data, err)
	}
}

// Do POSTs a GraphQL request with an optional bearer token.
func (e *Env) Do(t testing.TB, token, query string, vars map[string]any) Response {
	t.Helper()
	return Post(t, e.URL, token, map[string]any{"query": query, "variables": vars})
}

// Staff runs a request as staff and fails the test on errors.
func (e *Env) Staff(t testing.TB, query string, vars map[string]any, v any) {
	t.Helper()
	e.Do(t, e.StaffToken, query, vars).Decode(t, v)
}

// Post sends any JSON body to a GraphQL endpoint.
func Post(t testing.TB, endpoint, token string, body any) Response {
	t.Helper()
	return PostClient(t, http.DefaultClient, endpoint, token, body)
}

// PostClient is Post with a given HTTP client.
func PostClient(t testing.TB, c *http.Client, endpoint, token string, body any) Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return sendWith(t, c, req)
}

func send(t testing.TB, req *http.Request) Response {
	t.Helper()
	return sendWith(t, http.DefaultClient, req)
}

func sendWith(t testing.TB, c *http.Client, req *http.Request) Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r Response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s %s: status %d, body %q is not GraphQL JSON: %v", req.Method, req.URL, resp.StatusCode, raw, err)
	}
	r.Status = resp.StatusCode
	return r
}

// Get sends a GraphQL GET request.
func (e *Env) Get(t testing.TB, token, query string, vars map[string]any) Response {
	t.Helper()
	q := url.Values{"query": {query}}
	if vars != nil {
		b, _ := json.Marshal(vars)
		q.Set("variables", string(b))
	}
	req, err := http.NewRequest(http.MethodGet, e.URL+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, req)
}

// SignUp creates a customer and returns its token and global id.
func (e *Env) SignUp(t testing.TB, email string) (token, id string) {
	t.Helper()
	var out struct {
		SignUp struct {
			Token    string
			Customer struct{ ID string }
		}
	}
	e.Do(t, "", `mutation($i: SignUpInput!) { signUp(input: $i) { token customer { id } } }`,
		map[string]any{"i": map[string]any{"email": email, "password": "correct horse battery"}}).Decode(t, &out)
	return out.SignUp.Token, out.SignUp.Customer.ID
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Contains reports whether the logs contain sub.
func (s *SyncBuffer) Contains(sub string) bool { return strings.Contains(s.String(), sub) }

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Sprint(err))
	}
}

// ReportPercentiles sorts lat and reports each quantile q as "pNN-ms"
// (ReportPercentiles(b, lat, 0.50, 0.99) reports p50-ms and p99-ms).
func ReportPercentiles(b *testing.B, lat []time.Duration, qs ...float64) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	for _, q := range qs {
		d := lat[int(float64(len(lat)-1)*q)]
		b.ReportMetric(float64(d.Microseconds())/1000, fmt.Sprintf("p%02.0f-ms", q*100))
	}
}

// sessionTTL outlives any test: tests move the services' clock days ahead
// (drops, gift expiry), and the sweeper deletes sessions expired by that
// clock, while Accounts checks them against the wall clock.
const sessionTTL = 100 * 365 * 24 * time.Hour
