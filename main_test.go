package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/graph/graphtest"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "nonsense"}, `--addr "nonsense" is not host:port`},
		{[]string{"--database", ""}, "--database"},
		{[]string{"--database", "postgres://"}, "is not a postgres://user@host:port/db URL"},
		{[]string{"--currency", "euro"}, `--currency "euro" is not an ISO 4217 currency`},
		{[]string{"--currency", "XYZ"}, `--currency "XYZ" is not an ISO 4217 currency`},
		{[]string{"--currency", "DEM"}, `--currency "DEM" is not an ISO 4217 currency`}, // historical
		{[]string{"--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"--max-depth", "1"}, "max depth 1 is below 3"},
		{[]string{"--allowed-origins", "shop.example"}, `allowed origin "shop.example" must be`},
		{[]string{"--max-depth", "x"}, `invalid value "x" for flag -max-depth`},
		{[]string{"--database", "/no/such/dir/merchd.db"}, `directory "/no/such/dir" for the SQLite file does not exist`},
		{[]string{"--smtp-host", "mail.example"}, "--smtp-from is required with --smtp-host"},
		{[]string{"--smtp-host", "mail.example", "--smtp-from", "s@shop.example"}, "--public-url is required with --smtp-host"},
		{[]string{"--smtp-host", "mail.example:25"}, "the port goes in --smtp-port"},
		{[]string{"--smtp-host", "m.example", "--smtp-tls", "ssl"}, `--smtp-tls "ssl": starttls, tls, opportunistic or none`},
		{[]string{"--smtp-host", "m.example", "--smtp-user", "u"}, "--smtp-user and MERCHD_SMTP_PASSWORD"},
		{[]string{"--public-url", "shop.example"}, `--public-url "shop.example" is not an http(s) URL`},
		{[]string{"--notify-lease", "5s"}, "--notify-lease 5s must outlast the webhook timeout 10s"},
		{[]string{"--notify-max-attempts", "1000"}, "--notify-max-attempts 1000 is outside 1..100"},
		{[]string{"--brand-color", "red; } body { display: none"}, `--brand-color "red; } body { display: none" is not a colour`},
		{[]string{"--logo-url", "javascript:alert(1)"}, `--logo-url "javascript:alert(1)" is neither an https URL nor a path`},
		{[]string{"--stripe-js-url", "http://evil.example/stripe.js"}, `--stripe-js-url "http://evil.example/stripe.js" is neither`},
		{[]string{"--max-upload-bytes", "0"}, "--max-upload-bytes 0: between 1 and 64 MiB"},
		{[]string{"--live-node-url", "live1.shop.example"}, `--live-node-url "live1.shop.example" must be a base URL`},
		{[]string{"--live-node-url", "https://live1.shop.example/live"}, `--live-node-url "https://live1.shop.example/live" must be a base URL`},
		{[]string{"--live-node-capacity", "0"}, "--live-node-capacity 0 must be at least 1"},
		{[]string{"--live-relay-grace", "-1s"}, "--live-relay-grace -1s must be between 0 and 10m"},
		{[]string{"--database-max-conns", "-1"}, "max open connections -1 is negative"},
	} {
		err := run(context.Background(), append([]string{"serve"}, tc.args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
	t.Setenv("MERCHD_HUB_TOKEN", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "edge: bad configuration"},
		{[]string{"--upstream", "ftp://central"}, `--upstream "ftp://central" is not an http(s) URL`},
		{[]string{"--upstream", "http://c"}, "no hub token: set MERCHD_HUB_TOKEN"},
		{[]string{"--upstream", "http://central.lan"}, `--upstream "http://central.lan" is plain http: use https, or pin central's key with --central-key`},
		{[]string{"--hub", "berlin pop-up"}, `--hub "berlin pop-up": give this hub's location code`},
		{[]string{"--hub", "central"}, `--hub "central"`},
		{[]string{"--receipt-printer", "lpt1"}, `printer "lpt1" is not tcp://host[:port]`},
		{[]string{"--receipt-cols", "8"}, "--receipt-cols 8"},
		{[]string{"--label-printer", "usb"}, `--label-printer: hardware: printer "usb"`},
		{[]string{"--scanner-baud", "7"}, "--scanner-baud 7"},
		{[]string{"--offline-wallet-limit", "-1"}, "--offline-wallet-limit -1"},
		{[]string{"--central-key", "not-a-key"}, "--central-key"},
	} {
		err := run(context.Background(), append([]string{"edge"}, tc.args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("edge %v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

// TestUploadsDir: uploaded images live next to the SQLite file unless
// --uploads-dir says otherwise; with PostgreSQL, in the working directory.
func TestUploadsDir(t *testing.T) {
	for _, tc := range []struct{ db, flag, want string }{
		{"merchd.db", "", "uploads"},
		{"/var/lib/merchd/shop.db", "", "/var/lib/merchd/uploads"},
		{"file:/srv/m.db?_pragma=x", "", "/srv/uploads"},
		{"postgres://u@db:5432/shop", "", "uploads"},
		{"/var/lib/merchd/shop.db", "/mnt/images", "/mnt/images"},
	} {
		c := defaultServeConfig()
		c.Database, c.UploadsDir = tc.db, tc.flag
		if got := c.uploadsDir(); got != tc.want {
			t.Errorf("database %q, --uploads-dir %q: %q, want %q", tc.db, tc.flag, got, tc.want)
		}
	}
}

func TestEnvironmentThenFlags(t *testing.T) {
	t.Setenv("MERCHD_CURRENCY", "USD")
	t.Setenv("MERCHD_MAX_DEPTH", "7")
	cfg := defaultServeConfig()
	fs := newFlagSet("serve", "", io.Discard)
	cfg.flags(fs)
	if err := parseFlags(fs, []string{"--max-depth", "9"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Currency != "USD" || cfg.API.MaxDepth != 9 {
		t.Fatalf("currency %q (want USD from env), max depth %d (want 9 from the flag)", cfg.Currency, cfg.API.MaxDepth)
	}
	t.Setenv("MERCHD_MAX_DEPTH", "deep")
	fs = newFlagSet("serve", "", io.Discard)
	cfg.flags(fs)
	if err := parseFlags(fs, nil); err == nil || !strings.Contains(err.Error(), `MERCHD_MAX_DEPTH="deep"`) {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestVersionAndHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "merchd dev") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"--help"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "merchd serve") {
		t.Fatalf("help: %q %v", out.String(), err)
	}
	var errOut bytes.Buffer
	run(context.Background(), []string{"serve", "--help"}, io.Discard, &errOut)
	if !strings.Contains(errOut.String(), "-database") || !strings.Contains(errOut.String(), "MERCHD_") {
		t.Fatalf("serve --help: %q", errOut.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// lineWriter collects output and signals each line.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		select {
		case w.lines <- sc.Text():
		default:
		}
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// startServe runs `merchd serve` in-process and returns its base URL.
func startServe(t *testing.T, args ...string) (base string, logs *lineWriter, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &lineWriter{lines: make(chan string, 1000)}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), logs, logs) }()
	deadline := time.After(30 * time.Second)
	for base == "" {
		select {
		case l := <-logs.lines:
			if a, ok := graphtest.ServingAddr(l); ok {
				base = "http://" + a
			}
		case err := <-errc:
			cancel()
			t.Fatalf("serve exited: %v\n%s", err, logs.String())
		case <-deadline:
			cancel()
			t.Fatalf("serve did not start:\n%s", logs.String())
		}
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(30 * time.Second):
				t.Error("serve did not stop within 30s")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return base, logs, stop
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestServeDemoShop(t *testing.T) {
	t.Setenv("MERCHD_METRICS_TOKEN", "test-metrics-token")
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			db := graphtest.DatabaseURL(t, d)
			base, logs, stop := startServe(t, "--database", db, "--demo")

			if code, body, _ := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
				t.Fatalf("/healthz: %d %q", code, body)
			}
			if code, body, _ := get(t, base+"/readyz"); code != 200 {
				t.Fatalf("/readyz: %d %q", code, body)
			}
			if code, body, h := get(t, base+"/graphiql"); code != 200 || !strings.Contains(body, "graphiql") ||
				!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("GraphiQL at /graphiql: %d, CSP %q", code, h.Get("Content-Security-Policy"))
			}
			if code, body, _ := get(t, base+"/"); code != 200 || !strings.Contains(body, "/assets/shop.js") {
				t.Fatalf("storefront at /: %d", code)
			}
			if code, body, _ := get(t, base+"/q/forged.code"); code != 400 || !strings.Contains(body, "not valid") {
				t.Fatalf("forged QR code: %d", code)
			}

			q := `query DemoShop { products(first: 20) { totalCount edges { node { title images { url alt } variants { sku available } } } }
  collections(first: 5) { edges { node { title products(first: 20) { totalCount } } } }
  locations { code kind } }`
			req, _ := http.NewRequest(http.MethodPost, base+"/query", strings.NewReader(mustJSON(map[string]any{"query": q})))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Request-Id", "test-request-42")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var out struct {
				Data struct {
					Products struct {
						TotalCount int
						Edges      []struct {
							Node struct {
								Title    string
								Images   []struct{ URL, Alt string }
								Variants []struct {
									Sku       string
									Available int
								}
							}
						}
					}
					Collections struct {
						Edges []struct {
							Node struct {
								Title    string
								Products struct{ TotalCount int }
							}
						}
					}
					Locations []struct{ Code, Kind string }
				}
				Errors []any
			}
			json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.Header.Get("X-Request-Id") != "test-request-42" {
				t.Fatalf("request id not echoed: %q", resp.Header.Get("X-Request-Id"))
			}
			p := out.Data.Products
			if len(out.Errors) > 0 || p.TotalCount != 12 || len(p.Edges[0].Node.Variants) != 3 || len(p.Edges[0].Node.Images) == 0 || p.Edges[0].Node.Variants[0].Available == 0 {
				t.Fatalf("demo shop: %+v %v", out.Data, out.Errors)
			}
			if len(out.Data.Collections.Edges) != 1 || out.Data.Collections.Edges[0].Node.Products.TotalCount != 6 {
				t.Fatalf("demo collection: %+v", out.Data.Collections)
			}
			if len(out.Data.Locations) != 2 || out.Data.Locations[0].Kind != "CENTRAL" || out.Data.Locations[1].Code != "popup-hub" {
				t.Fatalf("demo locations: %+v", out.Data.Locations)
			}

			if code, _, _ := get(t, base+"/metrics"); code != http.StatusUnauthorized {
				t.Errorf("/metrics without the token: %d, want 401", code)
			}
			mreq, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
			mreq.Header.Set("Authorization", "Bearer test-metrics-token")
			mresp, merr := http.DefaultClient.Do(mreq)
			if merr != nil {
				t.Fatal(merr)
			}
			mb, _ := io.ReadAll(mresp.Body)
			mresp.Body.Close()
			metrics := string(mb)
			for _, want := range []string{
				`merchd_graphql_requests_total{operation="DemoShop",outcome="ok",type="query"} 1`,
				`merchd_graphql_request_duration_seconds_count{operation="DemoShop",type="query"} 1`,
				`go_sql_max_open_connections{db_name="merchd"}`,
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %q:\n%s", want, grepLines(metrics, "merchd"))
				}
			}
			if err := stop(); err != nil {
				t.Fatalf("graceful stop: %v", err)
			}
			l := logs.String()
			if !strings.Contains(l, `"request_id":"test-request-42"`) || !strings.Contains(l, `"msg":"stopped"`) {
				t.Fatalf("logs lack the request id or the stop:\n%s", l)
			}

			// Seeding again on the same database changes nothing.
			base, _, _ = startServe(t, "--database", db, "--demo")
			var again struct {
				Data struct {
					Products struct{ TotalCount int }
					Variants struct{ TotalCount int }
				}
			}
			r, err := http.Post(base+"/query", "application/json", strings.NewReader(`{"query":"{ products(first: 1) { totalCount } variants(first: 1) { totalCount } }"}`))
			if err != nil {
				t.Fatal(err)
			}
			json.NewDecoder(r.Body).Decode(&again)
			r.Body.Close()
			if again.Data.Products.TotalCount != 12 || again.Data.Variants.TotalCount != 36 {
				t.Fatalf("after re-seeding: %+v", again.Data)
			}
		})
	}
}

// TestServeDebugAddr: --debug-addr may be port 0 (serve logs the address
// it got) and serves pprof there; an address already taken stops serve
// instead of leaving it without its debug endpoints.
func TestServeDebugAddr(t *testing.T) {
	_, logs, _ := startServe(t, "--database", filepath.Join(t.TempDir(), "debug.db"), "--debug-addr", "127.0.0.1:0")
	var debug string
	for _, l := range strings.Split(logs.String(), "\n") {
		if a, ok := graphtest.DebugAddr(l); ok {
			debug = a
		}
	}
	if debug == "" || strings.HasSuffix(debug, ":0") {
		t.Fatalf("no debug address logged (%q):\n%s", debug, logs.String())
	}
	if code, body, _ := get(t, "http://"+debug+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof on the logged debug address: %d %.200s", code, body)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // serving means it was not refused
	defer cancel()
	err = run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database", filepath.Join(t.TempDir(), "taken.db"), "--debug-addr", taken.Addr().String()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--debug-addr") {
		t.Fatalf("serve with its debug address taken: %v, want an error naming --debug-addr", err)
	}
}

func TestStaffCreateToken(t *testing.T) {
	db := filepath.Join(t.TempDir(), "merchd.db")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"staff", "create-token", "--database", db, "--email", "ops@example.com", "--label", "laptop"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	if !strings.HasPrefix(tok, "mst_") {
		t.Fatalf("token %q", tok)
	}
	base, _, _ := startServe(t, "--database", db)
	body := `{"query":"mutation { createProduct(input: {title: \"Staff made\", slug: \"staff-made\"}) { product { title } } }"}`
	for _, tc := range []struct {
		token string
		want  string
	}{{tok, `"title":"Staff made"`}, {"", `"UNAUTHENTICATED"`}} {
		req, _ := http.NewRequest(http.MethodPost, base+"/query", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), tc.want) {
			t.Fatalf("with token %q: %s", tc.token, b)
		}
	}
	if err := run(context.Background(), []string{"staff", "create-token", "--database", db}, io.Discard, io.Discard); err == nil {
		t.Fatal("create-token without --email succeeded")
	}
}

// TestStaffCreateSignInDisable: `merchd staff create` reads the password
// from stdin or a file (never a flag), the member signs in with it over
// GraphQL, `staff list` shows them, and `staff disable` ends their session
// at once.
func TestStaffCreateSignInDisable(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "merchd.db")
	ctx := context.Background()
	stdin = strings.NewReader("owner password 1\n")
	t.Cleanup(func() { stdin = os.Stdin })
	if err := run(ctx, []string{"staff", "create", "--database", db, "--email", "Boss@Example.com", "--name", "Boss", "--role", "owner"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "pw")
	graphtest.Must(t, os.WriteFile(pwFile, []byte("clerk password 1\n"), 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--email", "till@example.com", "--role", "clerk", "--password-file", pwFile}, "location"}, // a clerk needs a location
		{[]string{"--email", "till@example.com", "--role", "clerk", "--location", "nowhere", "--password-file", pwFile}, "nowhere"},
		{[]string{"--email", "till@example.com", "--role", "cashier", "--password-file", pwFile}, "--role"},
		{[]string{"--email", "boss@example.com", "--role", "staff", "--password-file", pwFile}, "already exists"},
		{[]string{"--email", "x@example.com", "--role", "staff", "--password", "flag"}, "password"}, // no such flag
	} {
		err := run(ctx, append([]string{"staff", "create", "--database", db}, tc.args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("staff create %v: %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
	base, _, _ := startServe(t, "--database", db)
	if err := run(ctx, []string{"staff", "create", "--database", db, "--email", "till@example.com", "--role", "clerk", "--location", "central", "--password-file", pwFile}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var list bytes.Buffer
	if err := run(ctx, []string{"staff", "list", "--database", db}, &list, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(grepLines(list.String(), "boss@example.com"), "OWNER") || !strings.Contains(grepLines(list.String(), "till@example.com"), "CLERK") {
		t.Fatalf("staff list:\n%s", list.String())
	}

	post := func(token, query string) string {
		req, _ := http.NewRequest(http.MethodPost, base+"/query", strings.NewReader(mustJSON(map[string]any{"query": query})))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var signIn struct {
		Data struct{ StaffSignIn struct{ Token string } }
	}
	graphtest.Must(t, json.Unmarshal([]byte(post("", `mutation { staffSignIn(input: {email: "till@example.com", password: "clerk password 1"}) { token } }`)), &signIn))
	tok := signIn.Data.StaffSignIn.Token
	if got := post(tok, `{ staffViewer { role location } }`); !strings.Contains(got, `"role":"CLERK","location":"central"`) {
		t.Fatalf("clerk's staffViewer: %s", got)
	}
	if err := run(ctx, []string{"staff", "disable", "--database", db, "--email", "till@example.com"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := post(tok, `{ staffViewer { role } }`); !strings.Contains(got, "UNAUTHENTICATED") {
		t.Fatalf("a disabled clerk's session still works: %s", got)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestStaffRevokeAndExpiry: staff and hub tokens could never be revoked or
// expire. A revoked token is refused at once (and stops the socket it
// holds open); a token created with --expires ends by itself.
func TestStaffRevokeAndExpiry(t *testing.T) {
	db := filepath.Join(t.TempDir(), "merchd.db")
	create := func(extra ...string) string {
		var out bytes.Buffer
		args := append([]string{"staff", "create-token", "--database", db, "--email", "ops@example.com"}, extra...)
		if err := run(context.Background(), args, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out.String())
	}
	keep, revoke := create("--label", "keep"), create("--label", "lost laptop")
	base, _, _ := startServe(t, "--database", db)
	// Made once the server runs, so a slow start (-race on a busy machine)
	// cannot use up its life before it is first asked.
	shortAt := time.Now()
	short := create("--label", "weekend", "--expires", "5s")
	ask := func(tok string) string {
		req, _ := http.NewRequest(http.MethodPost, base+"/query", strings.NewReader(`{"query":"{ products(first: 1) { totalCount } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strconv.Itoa(resp.StatusCode) + " " + string(b)
	}
	for _, tok := range []string{keep, revoke} {
		if got := ask(tok); !strings.HasPrefix(got, "200") {
			t.Fatalf("a fresh token was refused: %s", got)
		}
	}
	if got := ask(short); !strings.HasPrefix(got, "200") && time.Since(shortAt) < 5*time.Second {
		t.Fatalf("a token was refused within its 5s: %s", got)
	}
	// A socket held open with the token that will be revoked.
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+"/query", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + revoke}}); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	if err := ws.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("init: %v %v", ack, err)
	}

	var list bytes.Buffer
	if err := run(context.Background(), []string{"staff", "list-tokens", "--database", db}, &list, io.Discard); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, line := range strings.Split(list.String(), "\n") {
		if strings.Contains(line, "lost laptop") {
			id = strings.Fields(line)[0]
		}
	}
	if id == "" || !strings.Contains(list.String(), "weekend") {
		t.Fatalf("list-tokens:\n%s", list.String())
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"staff", "revoke-token", "--database", db, "--id", id}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := ask(revoke); !strings.HasPrefix(got, "401") {
		t.Fatalf("a revoked token still works: %s", got)
	}
	if got := ask(keep); !strings.HasPrefix(got, "200") {
		t.Fatalf("revoking one token refused another: %s", got)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m map[string]any
		if err := ws.ReadJSON(&m); err != nil {
			if strings.Contains(err.Error(), "timeout") {
				t.Fatal("the socket of a revoked token stayed open")
			}
			break
		}
	}
	deadline := shortAt.Add(15 * time.Second)
	for got := ask(short); !strings.HasPrefix(got, "401"); got = ask(short) {
		if time.Now().After(deadline) {
			t.Fatalf("a token created with --expires 5s still works: %s", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := run(context.Background(), []string{"staff", "revoke-token", "--database", db, "--id", "999999"}, io.Discard, io.Discard); err == nil {
		t.Fatal("revoking an unknown token succeeded")
	}
}
