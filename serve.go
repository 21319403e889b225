package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"entgo.io/ent/dialect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/accounts"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/payments"
	"github.com/merchd/merchd/checkout/settings"
	"github.com/merchd/merchd/checkout/shop"
	"github.com/merchd/merchd/checkout/streams"
	"github.com/merchd/merchd/edge"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/staff"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/realtime"
	"github.com/merchd/merchd/hardware"
	"github.com/merchd/merchd/live"
	"github.com/merchd/merchd/web"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultServeConfig()
	fs := newFlagSet("serve", "Run the central merchd server: GraphQL API at /query (subscriptions on its websocket), GraphiQL at /graphiql (embedded in the binary: works offline; off with --introspection=false), storefront at /, staff console at /admin (make the first owner with `merchd staff create`), till at /till.", stderr)
	cfg.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	return runServer(ctx, cfg, stdout)
}

// edgeCommand runs merchd as a pop-up hub: the same server on its own
// SQLite, selling from its allocation and syncing to central.
func edgeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultServeConfig()
	cfg.Database = "merchd-edge.db"
	cfg.Edge = &edgeConfig{Sync: edge.DefaultConfig()}
	fs := newFlagSet("edge", "Run merchd on pop-up hub hardware: sells offline, syncs to --upstream.", stderr)
	cfg.flags(fs)
	cfg.Edge.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("edge: unexpected arguments %q", fs.Args())
	}
	cfg.Edge.Sync.Hub = cfg.Edge.Hub
	return runServer(ctx, cfg, stdout)
}

func runServer(ctx context.Context, cfg serveConfig, stdout io.Writer) error {
	var err error
	if cfg.Stripe.SecretKey, err = secretFromEnv("MERCHD_STRIPE_SECRET_KEY"); err != nil {
		return err
	}
	if cfg.Stripe.WebhookSecret, err = secretFromEnv("MERCHD_STRIPE_WEBHOOK_SECRET"); err != nil {
		return err
	}
	if cfg.Notify.SMTP.Password, err = secretFromEnv("MERCHD_SMTP_PASSWORD"); err != nil {
		return err
	}
	metricsToken, err := secretFromEnv("MERCHD_METRICS_TOKEN")
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		cmd := "serve"
		if cfg.Edge != nil {
			cmd = "edge"
		}
		return fmt.Errorf("%s: bad configuration:\n%w", cmd, err)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The soft limit bounds the heap: the collector works harder as it
		// nears it instead of letting a burst of requests take the machine.
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		// Below the limit, collect less often: GraphQL responses allocate
		// heavily and the catalog serves ~18% more requests (bench/
		// storefront.sh: 716 vs 608 req/s) while the limit above still
		// caps the heap (bench/abuse: 232 MiB peak under attack).
		debug.SetGCPercent(300)
	}
	level, _ := parseLevel(cfg.LogLevel)
	log := newLogger(stdout, level)

	db, err := entdb.Open(ctx, entdb.Config{URL: cfg.Database, MaxOpenConns: cfg.DatabaseConns})
	if err != nil {
		return err
	}
	defer db.Close()
	log.Info("database ready", "dialect", db.Dialect)

	now := func() time.Time { return time.Now().UTC() }
	hubCode := ""
	if cfg.Edge != nil {
		hubCode = cfg.Edge.Hub
	}
	var (
		pay      checkout.PaymentProvider
		subs     checkout.Subscriptions
		terminal hubs.Terminal
		install  string // this database's id, namespacing Stripe keys and events
	)
	if cfg.Stripe.Enabled() {
		sp := payments.NewProvider(cfg.Stripe)
		if install, err = payments.InstallID(ctx, db.Client); err != nil {
			return err
		}
		sp.NamespaceKeys(install)
		pay, subs = sp, sp
		if cfg.Edge == nil {
			terminal = stripeTerminal{hardware.NewStripeTerminal(string(cfg.Stripe.SecretKey), cfg.Stripe.APIURL)}
		}
	} else {
		log.Warn("card payments are off: set MERCHD_STRIPE_SECRET_KEY and MERCHD_STRIPE_WEBHOOK_SECRET")
	}

	// Real-time: services announce committed changes on the bus; the
	// broker turns them into subscription events. On PostgreSQL the bus is
	// LISTEN/NOTIFY, so every replica hears every replica's commits.
	var bus realtime.Bus = realtime.NewLocal()
	if db.Dialect == dialect.Postgres {
		bus = realtime.NewPostgres(db.SQL, cfg.Database, log)
	}
	broker := realtime.NewBroker(cfg.SubscriptionRate, log)
	s, err := shop.New(ctx, shop.Config{
		DB: db, Currencies: []string{cfg.Currency}, Hub: hubCode,
		Accounts: accounts.Config{SessionTTL: cfg.SessionTTL, Password: accounts.DefaultPasswordParams, Throttle: cfg.Throttle},
		Cart:     cfg.Cart, Wallet: cfg.Wallet, Retention: cfg.Retention, Returns: cfg.Returns, HubWalletLimit: cfg.HubWalletLimit,
		Pay: pay, Subs: subs, Install: install, Terminal: terminal, Fulfillment: cfg.Fulfillment,
		Notifier: bus, Notify: cfg.Notify, Now: now, Log: log,
		Look: settings.Shop{Name: cfg.Notify.ShopName, LogoURL: cfg.Brand.LogoURL, BrandColor: cfg.Brand.Color, Currency: cfg.Currency},
	})
	if err != nil {
		return err
	}
	if cfg.Edge == nil && !cfg.Notify.SMTP.Enabled() {
		log.Warn("email is off (order confirmations, pickup passes, password resets): set --smtp-host, --smtp-from and --public-url")
	}
	// At a hub, the hub's own side of the pop-up protocol: selling with or
	// without central, and the sync loop that delivers the outbox.
	var sales *edge.Sales
	if cfg.Edge != nil {
		cfg.Edge.Sync.Currency = cfg.Currency
		sales = edge.NewSales(db.Client, db.Dialect, hubCode, now)
		sales.SignRequestsWith(hubs.RequestKey(cfg.Edge.Sync.Token))
		sales.SetNotifier(bus)
		if err := edge.LoadTrust(ctx, cfg.Edge.Sync, db.Client, sales); err != nil {
			return err
		}
	}
	liveHooks := &graph.LiveHooks{Streams: s.Streams, Broker: broker}
	relay, err := live.New(cfg.Live, liveHooks, log)
	if err != nil {
		return err
	}
	defer relay.Close()
	// On PostgreSQL, live nodes find each other in the database and relay
	// each other's streams (README, "Live across nodes").
	var liveNodes *streams.Nodes
	if db.Dialect == dialect.Postgres && cfg.Edge == nil {
		liveNodes = streams.NewNodes(db.Client, streams.NodeConfig{Capacity: cfg.LiveNode.Capacity}, bus, log)
		liveHooks.Changed = liveNodes.Changed
		relay.EnableCascade(liveDirectory{liveNodes}, live.CascadeConfig{Capacity: cfg.LiveNode.Capacity, Grace: cfg.LiveNode.Grace})
	}
	if cfg.Demo {
		if err := shop.SeedDemo(ctx, db.Client, cfg.Currency, s.Catalog.LocationID()); err != nil {
			return err
		}
		log.Info("demo shop seeded")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(db.SQL, "merchd"))
	var syncer *edge.Syncer
	if cfg.Edge != nil {
		syncer = edge.New(cfg.Edge.Sync, db.Client, sales, log, reg)
	}
	resolver := &graph.Resolver{
		Client: db.Client, Accounts: s.Accounts, Catalog: s.Catalog,
		Drops: s.Drops, Carts: s.Carts, Orders: s.Orders, Now: now,
		Wallets: s.Wallets, Members: s.Members, Currency: cfg.Currency, Broker: broker, Bus: bus,
		Streams: s.Streams, Relay: relay, QR: s.QR, Hubs: s.Hubs, Fulfil: s.Fulfillment, Delivery: s.Delivery, Returns: s.Returns, Analytics: s.Analytics,
		Notify: s.Notify, PublicURL: cfg.Notify.PublicURL, Settings: s.Settings,
	}
	if liveNodes != nil {
		resolver.LiveMedia = liveNodes.Media(relay)
	}
	// Every replica drops its cached settings when any replica changes them.
	broker.Listen(s.Settings.Hear)
	if syncer != nil {
		resolver.HubLink = syncer
		resolver.Sales = sales
		resolver.Pickups = sales
		resolver.Dropoffs = sales
		resolver.Upstream = cfg.Edge.Sync.Upstream
		receiptURL := strings.TrimRight(cfg.Edge.Sync.Upstream, "/") + "/hub-sales/" // central's receipt page of a sale
		resolver.Central = syncer
		if cfg.Edge.ReceiptPrinter != "" {
			raw, _ := hardware.ParsePrinterURL(cfg.Edge.ReceiptPrinter) // validated
			resolver.Receipts = &edge.Receipts{Printer: &hardware.ReceiptPrinter{RawPrinter: *raw}, Shop: cfg.Edge.ReceiptHeader, Cols: cfg.Edge.ReceiptCols,
				OrderURL: receiptURL}
		}
		if cfg.Edge.LabelPrinter != "" {
			raw, _ := hardware.ParsePrinterURL(cfg.Edge.LabelPrinter) // validated
			resolver.Labels = &edge.Labeler{Printer: raw, ReceiptURL: receiptURL}
		}
	}
	api, err := graph.NewServer(cfg.API, resolver, log, graph.NewMetrics(reg))
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/query", api)
	if cfg.API.Introspection {
		explorer := web.Explorer() // embedded: works offline
		mux.Handle("GET /graphiql", explorer)
		mux.Handle("GET /graphiql/", explorer)
	}
	mux.Handle("/", web.Handler(web.Config{
		StripePublishableKey: cfg.StripePublishableKey,
		VerifyQR:             func(code string) error { _, err := s.QR.Verify(code); return err },
		ShopName:             cfg.Notify.ShopName,
		Brand:                cfg.Brand,
		Look: func(ctx context.Context) web.Look {
			l := s.Settings.Get(ctx)
			return web.Look{ShopName: l.Name, LogoURL: l.LogoURL, BrandColor: l.BrandColor}
		},
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			log.WarnContext(ctx, "not ready", "error", err)
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if metricsToken != "" {
		// On the public listener only with the scraper's token; always on
		// --debug-addr, which stays private.
		mux.Handle("GET /metrics", requireBearer(metricsToken, metrics))
	}
	mux.Handle("/live/", relay.Handler())
	uploads, err := api.Uploads(cfg.uploadsDir(), cfg.MaxUploadBytes)
	if err != nil {
		return err
	}
	mux.Handle("/uploads", uploads)
	mux.Handle("/uploads/", uploads)
	if cfg.Stripe.Enabled() {
		mux.Handle("/webhooks/stripe", s.Webhook(cfg.Stripe.WebhookSecret))
	}

	// Background work stops with the server.
	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(bg, cfg.SweepInterval) })
	wg.Go(func() { bus.Run(bg, broker) })
	if syncer != nil {
		wg.Go(func() { syncer.Run(bg) })
		if cfg.Edge.Scanner != "" {
			sc := &edge.Scanner{Path: cfg.Edge.Scanner, Baud: cfg.Edge.ScannerBaud, Sales: sales, Carts: s.Carts, Log: log}
			wg.Go(func() { sc.Run(bg) })
		}
	}
	defer func() { stopBG(); wg.Wait() }()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           withRequestLog(log, mux),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if cfg.DebugAddr != "" {
		dbg := http.NewServeMux()
		dbg.HandleFunc("/debug/pprof/", pprof.Index)
		dbg.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dbg.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		dbg.HandleFunc("/debug/pprof/trace", pprof.Trace)
		dbg.Handle("GET /metrics", metrics)
		// Bound here, so that a taken address stops serve rather than
		// leaving it without its debug endpoints, and so that port 0 works
		// (the address it got is logged).
		dln, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("serve: listen on %s (--debug-addr): %w", cfg.DebugAddr, err)
		}
		dsrv := &http.Server{Handler: dbg, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = dsrv.Serve(dln) }()
		defer dsrv.Close()
		log.Warn("debug endpoints on", "addr", dln.Addr().String())
	}
	if liveNodes != nil {
		nodeURL := cfg.LiveNode.URL
		if nodeURL == "" {
			nodeURL = "http://" + advertised(ln.Addr())
		}
		wg.Go(func() { liveNodes.Run(bg, strings.TrimRight(nodeURL, "/"), liveSource{relay}) })
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("merchd serving", "addr", ln.Addr().String(), "version", version)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Shutdown drains the plain requests; GoingAway, beside it, ends the
	// streams it does not see or would wait for (websockets, SSE) and lets
	// the queries and mutations on them answer first.
	away := make(chan struct{})
	go func() { api.GoingAway(sctx); close(away) }()
	err = srv.Shutdown(sctx)
	<-away
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// requireBearer serves h only to requests bearing token.
func requireBearer(token checkout.Secret, h http.Handler) http.Handler {
	want := []byte("Bearer " + string(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="merchd metrics"`)
			http.Error(w, "metrics need Authorization: Bearer $MERCHD_METRICS_TOKEN", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// stdin is where `merchd staff create` reads a password (tests set it).
var stdin io.Reader = os.Stdin

func staffCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = `Usage:
  merchd staff create --email EMAIL --role owner|staff|clerk [--name NAME] [--location CODE] [--password-file FILE] [--database DB]
                      (the password is read from the first line of stdin unless --password-file is given)
  merchd staff list [--database DB]
  merchd staff disable --email EMAIL [--database DB]   (every token of theirs ends at once)
  merchd staff create-token --email EMAIL [--name NAME] [--label LABEL] [--role ROLE] [--hub HUB] [--expires 72h] [--database DB]
  merchd staff list-tokens [--database DB]
  merchd staff revoke-token --id ID [--database DB]`
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("staff: expected create, list, disable, create-token, list-tokens or revoke-token")
	}
	sub := args[0]
	switch sub {
	case "--help", "-h":
		fmt.Fprintln(stderr, usage)
		return nil
	case "create", "list", "disable", "create-token", "list-tokens", "revoke-token":
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("staff: unknown subcommand %q", sub)
	}
	fs := newFlagSet("staff "+sub, "Manage staff members and their API tokens. A token is printed once; only its hash is stored.", stderr)
	database := fs.String("database", "merchd.db", "SQLite file path, or a postgres:// URL")
	var spec accounts.TokenSpec
	var member accounts.StaffSpec
	var id int
	var role, passwordFile string
	switch sub {
	case "create":
		fs.StringVar(&member.Email, "email", "", "the staff member's email (their sign-in)")
		fs.StringVar(&member.Name, "name", "", "the staff member's name")
		fs.StringVar(&role, "role", "", "owner (everything: tokens, settings, staff, webhooks), staff (catalog, drops, orders, fulfilment, customers, streams, refunds) or clerk (till, pickups, returns intake at --location)")
		fs.StringVar(&member.Location, "location", "", "a clerk's location code (central, or a hub's code)")
		fs.StringVar(&passwordFile, "password-file", "", "read the password from this file's first line (default: stdin); never give a password as a flag")
	case "disable":
		fs.StringVar(&member.Email, "email", "", "the staff member's email")
	case "create-token":
		fs.StringVar(&spec.Email, "email", "", "the staff member's email (created if new)")
		fs.StringVar(&spec.Name, "name", "", "the staff member's name")
		fs.StringVar(&spec.Label, "label", "", "what this token is for, e.g. \"pop-up laptop\"")
		fs.StringVar(&role, "role", "", "narrow the token to this role (owner, staff or clerk); a new member gets it as theirs (default owner)")
		fs.StringVar(&spec.Hub, "hub", "", "scope the token to this hub's business (recording its sales, its allocation, card payments): give a hub box this, not a full staff token")
		fs.DurationVar(&spec.TTL, "expires", 0, "the token ends by itself after this long (e.g. 72h for a weekend's pop-up); 0: until revoked")
	case "revoke-token":
		fs.IntVar(&id, "id", 0, "the token's id, from list-tokens")
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if role != "" {
		r, ok := viewer.ParseRank(role)
		if !ok {
			return fmt.Errorf("staff %s: --role is owner, staff or clerk, not %q", sub, role)
		}
		member.Role, spec.Role = staff.Role(r.String()), staff.Role(r.String())
	}
	switch {
	case sub == "create-token" && spec.Email == "":
		return errors.New("staff create-token: --email is required")
	case sub == "revoke-token" && id <= 0:
		return errors.New("staff revoke-token: --id is required (see list-tokens)")
	case (sub == "create" || sub == "disable") && member.Email == "":
		return fmt.Errorf("staff %s: --email is required", sub)
	case sub == "create" && role == "":
		return errors.New("staff create: --role is required (owner, staff or clerk)")
	}
	if sub == "create" {
		pw, err := readPassword(passwordFile)
		if err != nil {
			return err
		}
		member.Password = pw
	}
	db, err := entdb.Open(ctx, entdb.Config{URL: *database})
	if err != nil {
		return err
	}
	defer db.Close()
	accounts, err := accounts.New(db.Client, accounts.Config{SessionTTL: time.Hour, Password: accounts.DefaultPasswordParams})
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		s, err := accounts.CreateStaff(ctx, member)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "staff %d %s (%s) created; they sign in with staffSignIn\n", s.ID, s.Email, s.Role)
	case "list":
		ss, err := accounts.ListStaff(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLE\tLOCATION\tPASSWORD\tSTATE")
		for _, s := range ss {
			pw, state := "no", "active"
			if s.PasswordHash != "" {
				pw = "yes"
			}
			if s.DisabledAt != nil {
				state = "disabled " + s.DisabledAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Email, s.Name, s.Role, s.Location, pw, state)
		}
		return tw.Flush()
	case "disable":
		s, err := accounts.StaffByEmail(ctx, member.Email)
		if err != nil {
			return err
		}
		if _, err := accounts.DisableStaff(ctx, s.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "staff %s disabled; every token of theirs is revoked\n", s.Email)
	case "create-token":
		tok, err := accounts.CreateToken(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
	case "list-tokens":
		ts, err := accounts.ListTokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tLABEL\tHUB\tCREATED\tEXPIRES\tSTATE")
		for _, t := range ts {
			exp, state := "never", "active"
			if t.ExpiresAt != nil {
				exp = t.ExpiresAt.UTC().Format(time.RFC3339)
				if !time.Now().Before(*t.ExpiresAt) {
					state = "expired"
				}
			}
			if t.Revoked != nil {
				state = "revoked " + t.Revoked.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Email, t.Label, t.Hub, t.CreatedAt.UTC().Format(time.RFC3339), exp, state)
		}
		return tw.Flush()
	case "revoke-token":
		if err := accounts.RevokeToken(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %d revoked\n", id)
	}
	return nil
}

// readPassword reads a password from the first line of file, or of stdin.
func readPassword(file string) (string, error) {
	var r io.Reader = stdin
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("staff create: --password-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("staff create: read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("staff create: no password: give it on stdin or with --password-file")
	}
	return line, nil
}

// newLogger writes JSON lines with the request id of the context, if any.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

type requestIDKey struct{}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(a)}
}

func (h requestIDHandler) WithGroup(n string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(n)}
}

// withRequestLog gives each request an id (X-Request-Id, echoed back) and
// logs it once it is done.
func withRequestLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r.WithContext(ctx))
		log.LogAttrs(ctx, slog.LevelInfo, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Int64("bytes", sw.bytes),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	})
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack (websockets).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack lets gorilla/websocket take over the connection.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.status = http.StatusSwitchingProtocols
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Flush lets streaming responses through.
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// terminal adapts the Stripe Terminal driver to checkout's interface; a
// busy reader is the refusal checkout knows, any other error stays ours.
type stripeTerminal struct{ *hardware.StripeTerminal }

func (t stripeTerminal) Process(ctx context.Context, readerID, paymentIntentID string) (hubs.ReaderState, error) {
	s, err := t.StripeTerminal.Process(ctx, readerID, paymentIntentID)
	return hubs.ReaderState(s), readerRefusal(err)
}

func (t stripeTerminal) Cancel(ctx context.Context, readerID string) (hubs.ReaderState, error) {
	s, err := t.StripeTerminal.Cancel(ctx, readerID)
	return hubs.ReaderState(s), readerRefusal(err)
}

func (t stripeTerminal) Reader(ctx context.Context, readerID string) (hubs.ReaderState, error) {
	s, err := t.StripeTerminal.Reader(ctx, readerID)
	return hubs.ReaderState(s), readerRefusal(err)
}

func readerRefusal(err error) error {
	if errors.Is(err, hardware.ErrReaderBusy) {
		return hubs.ErrReaderBusy
	}
	return err
}

// liveDirectory is the node registry as the relay reads it.
type liveDirectory struct{ nodes *streams.Nodes }

func (d liveDirectory) Nodes(ctx context.Context, stream string) ([]live.NodeInfo, error) {
	others, err := d.nodes.Others(ctx, stream)
	out := make([]live.NodeInfo, 0, len(others))
	for _, n := range others {
		out = append(out, live.NodeInfo{URL: n.URL, Load: n.Load, Capacity: n.Capacity, Role: live.Role(n.Role)})
	}
	return out, err
}

func (d liveDirectory) PullCredential() string { return d.nodes.PullCredential() }

func (d liveDirectory) VerifyPull(ctx context.Context, cred string) (bool, error) {
	return d.nodes.VerifyPull(ctx, cred)
}

// liveSource is the relay as the node registry reports it.
type liveSource struct{ relay *live.Relay }

func (s liveSource) Load() int { return s.relay.Load() }

func (s liveSource) CarriedStreams() []streams.CarriedStream {
	var out []streams.CarriedStream
	for _, c := range s.relay.Carried() {
		out = append(out, streams.CarriedStream{Stream: c.Stream, Origin: c.Role == live.RoleOrigin, Viewers: c.Viewers})
	}
	return out
}

// advertised is a listen address as another host reaches it: the host
// name stands in for an unspecified address (set --live-node-url when
// that is not enough).
func advertised(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}
