package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/accounts"
	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/notify"
	"github.com/merchd/merchd/checkout/orders"
	"github.com/merchd/merchd/checkout/payments"
	"github.com/merchd/merchd/checkout/returns"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/edge"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/hardware"
	"github.com/merchd/merchd/live"
	"github.com/merchd/merchd/web"
)

// serveConfig is everything `merchd serve` can be told.
type serveConfig struct {
	Addr            string
	Database        string
	DatabaseConns   int
	Demo            bool
	Currency        string
	LogLevel        string
	ShutdownTimeout time.Duration
	SessionTTL      time.Duration
	Throttle        accounts.ThrottleConfig
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT wins).
	MemoryLimit   int64
	Cart          carts.Config
	Wallet        wallets.Config
	SweepInterval time.Duration
	// Retention is how long the sweeper keeps replay guards and abandoned
	// hub payments.
	Retention orders.RetentionConfig
	// Fulfillment holds the fulfilment SLAs (pickup grace, shipping and
	// delivery deadlines, the late-delivery credit).
	Fulfillment fulfillment.Config
	// Returns is the default return policy (staff may change it).
	Returns returns.Config
	// StripePublishableKey (pk_…, not a secret) turns on Stripe Elements.
	StripePublishableKey string
	// Brand is the pages' look: brand colour, logo, Stripe.js's address.
	Brand web.Brand
	// DebugAddr, when set, serves /debug/pprof there (keep it private).
	DebugAddr string
	// SubscriptionRate caps updates per second per subscribed topic.
	SubscriptionRate float64
	// HubWalletLimit (central) is the most one wallet pass pays at hubs,
	// over all the sales made with it: hubs' --offline-wallet-limit, not
	// taken on their word.
	HubWalletLimit int64
	// Stripe's secrets come only from MERCHD_STRIPE_SECRET_KEY and
	// MERCHD_STRIPE_WEBHOOK_SECRET (or the files named by …_FILE).
	Stripe payments.Config
	API    graph.ServerConfig
	Live   live.Config
	// LiveNode is this node among others relaying each other's live
	// streams (PostgreSQL only).
	LiveNode liveNodeConfig
	// Notify is email (SMTP; the password only from MERCHD_SMTP_PASSWORD
	// or MERCHD_SMTP_PASSWORD_FILE) and outbound webhooks.
	Notify notify.Config
	// Edge is set by `merchd edge`: this server is a pop-up hub.
	Edge *edgeConfig
	// UploadsDir holds the product images staff upload (POST /uploads);
	// empty: an "uploads" folder next to the SQLite file, or in the
	// working directory with PostgreSQL.
	UploadsDir string
	// MaxUploadBytes bounds one uploaded image.
	MaxUploadBytes int64
}

// uploadsDir is where uploaded images are kept.
func (c serveConfig) uploadsDir() string {
	if c.UploadsDir != "" {
		return c.UploadsDir
	}
	if entdb.IsPostgres(c.Database) {
		return "uploads"
	}
	path := strings.TrimPrefix(c.Database, "file:")
	path, _, _ = strings.Cut(path, "?")
	return filepath.Join(filepath.Dir(path), "uploads")
}

// edgeConfig is what `merchd edge` adds to serve's flags.
type edgeConfig struct {
	Hub            string
	Scanner        string
	ScannerBaud    int
	Sync           edge.Config
	ReceiptPrinter string
	LabelPrinter   string
	ReceiptCols    int
	ReceiptHeader  string
}

func (e *edgeConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&e.Sync.Upstream, "upstream", e.Sync.Upstream, "central merchd's base `URL` (required)")
	fs.StringVar(&e.Sync.Token, "hub-token", e.Sync.Token, "staff token issued by central (prefer MERCHD_HUB_TOKEN: flags show in ps)")
	fs.StringVar(&e.Hub, "hub", e.Hub, "this hub's location `code`, as central leases stock to it (required)")
	fs.StringVar(&e.ReceiptPrinter, "receipt-printer", e.ReceiptPrinter, "ESC/POS receipt printer as tcp://`host:port` (port 9100 by default)")
	fs.StringVar(&e.LabelPrinter, "label-printer", e.LabelPrinter, "ZPL label printer as tcp://`host:port` (port 9100 by default): a smart label per unit sold")
	fs.StringVar(&e.ReceiptHeader, "receipt-header", "merchd", "the shop name printed at the top of receipts")
	fs.IntVar(&e.ReceiptCols, "receipt-cols", 42, "characters per receipt line (42 for 80 mm paper, 32 for 58 mm)")
	fs.DurationVar(&e.Sync.MaxBackoff, "sync-max-backoff", e.Sync.MaxBackoff, "longest wait between deliveries while central is unreachable")
	fs.StringVar(&e.Scanner, "scanner", e.Scanner, "serial barcode scanner `device` (e.g. /dev/ttyACM0): each code read goes into the till's cart")
	fs.IntVar(&e.ScannerBaud, "scanner-baud", 9600, "the serial scanner's baud rate")
	fs.Int64Var(&e.Sync.OfflineWalletLimit, "offline-wallet-limit", e.Sync.OfflineWalletLimit,
		"most a customer may spend from their wallet here before central confirms, and most one wallet pass pays here in all, in minor units (0: no wallet payments)")
	fs.StringVar(&e.Sync.CentralKey, "central-key", e.Sync.CentralKey,
		"central's signing `key` (its signingKey query) to pin; required when --upstream is plain http to another machine; otherwise the hub trusts the key central gives on first contact over https")
}

func (e *edgeConfig) validate() []error {
	var errs []error
	if u, err := url.Parse(e.Sync.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--upstream %q is not an http(s) URL of central", e.Sync.Upstream))
	} else if u.Scheme == "http" && e.Sync.CentralKey == "" && !isLoopback(u.Hostname()) {
		// Over plain http anyone on the venue's network could answer the
		// first contact with their own key and sign receipts the hub would
		// honour offline.
		errs = append(errs, fmt.Errorf("--upstream %q is plain http: use https, or pin central's key with --central-key (its signingKey query)", e.Sync.Upstream))
	}
	if e.Sync.Token == "" {
		errs = append(errs, errors.New("no hub token: set MERCHD_HUB_TOKEN (from `merchd staff create-token` on central)"))
	}
	if e.ReceiptPrinter != "" {
		if _, err := hardware.ParsePrinterURL(e.ReceiptPrinter); err != nil {
			errs = append(errs, fmt.Errorf("--receipt-printer: %w", err))
		}
	}
	if e.ScannerBaud < 1200 || e.ScannerBaud > 921600 {
		errs = append(errs, fmt.Errorf("--scanner-baud %d: between 1200 and 921600", e.ScannerBaud))
	}
	if e.Sync.OfflineWalletLimit < 0 {
		errs = append(errs, fmt.Errorf("--offline-wallet-limit %d: not negative", e.Sync.OfflineWalletLimit))
	}
	if e.Sync.CentralKey != "" {
		if _, err := hubs.ParsePublicKey(e.Sync.CentralKey); err != nil {
			errs = append(errs, fmt.Errorf("--central-key: %w", err))
		}
	}
	if e.LabelPrinter != "" {
		if _, err := hardware.ParsePrinterURL(e.LabelPrinter); err != nil {
			errs = append(errs, fmt.Errorf("--label-printer: %w", err))
		}
	}
	if e.ReceiptCols < 24 || e.ReceiptCols > 64 {
		errs = append(errs, fmt.Errorf("--receipt-cols %d: between 24 and 64", e.ReceiptCols))
	}
	if !checkout.ValidHubCode(e.Hub) || e.Hub == "central" {
		errs = append(errs, fmt.Errorf("--hub %q: give this hub's location code (letters, digits, '-', '_'; up to 40), e.g. --hub popup-berlin", e.Hub))
	}
	return errs
}

func defaultServeConfig() serveConfig {
	return serveConfig{
		Addr:             "127.0.0.1:8080",
		Database:         "merchd.db",
		Currency:         "EUR",
		LogLevel:         "info",
		ShutdownTimeout:  20 * time.Second,
		SessionTTL:       30 * 24 * time.Hour,
		Throttle:         accounts.DefaultThrottle(),
		MemoryLimit:      768 << 20,
		Cart:             carts.DefaultConfig(),
		Wallet:           wallets.DefaultConfig(),
		SweepInterval:    time.Second,
		Retention:        orders.DefaultRetention(),
		Returns:          returns.DefaultConfig(),
		SubscriptionRate: 10,
		API:              graph.DefaultConfig(),
		Live:             live.DefaultConfig(),
		LiveNode:         liveNodeConfig{Capacity: 500, Grace: 5 * time.Second},
		Notify:           notify.DefaultConfig(),
		MaxUploadBytes:   graph.DefaultMaxUploadBytes,
	}
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "`host:port` to listen on")
	fs.StringVar(&c.Database, "database", c.Database, "SQLite file path, or a postgres:// URL")
	fs.IntVar(&c.DatabaseConns, "database-max-conns", c.DatabaseConns, "most database connections this process opens (0: 20 for PostgreSQL, 8 for SQLite); replicas × this (+1 each for LISTEN) must stay under PostgreSQL's max_connections")
	fs.StringVar(&c.UploadsDir, "uploads-dir", c.UploadsDir, "`directory` for the product images staff upload (default: \"uploads\" next to the SQLite file; with PostgreSQL, in the working directory — share it between replicas)")
	fs.Int64Var(&c.MaxUploadBytes, "max-upload-bytes", c.MaxUploadBytes, "largest product image staff may upload")
	fs.BoolVar(&c.Demo, "demo", c.Demo, "seed a demo creator shop (idempotent)")
	fs.StringVar(&c.Currency, "currency", c.Currency, "the shop's ISO 4217 currency")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long to drain requests on SIGTERM")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "how long a customer stays signed in")
	fs.DurationVar(&c.Cart.HoldTTL, "hold-ttl", c.Cart.HoldTTL, "how long add-to-cart holds units outside drops")
	fs.DurationVar(&c.Cart.PaymentWindow, "payment-window", c.Cart.PaymentWindow, "how long holds wait for a started payment")
	fs.IntVar(&c.Cart.MaxQuantity, "max-quantity", c.Cart.MaxQuantity, "most units one add-to-cart may take")
	fs.IntVar(&c.Cart.MaxHeldPerVariant, "max-held-per-variant", c.Cart.MaxHeldPerVariant, "most units of one variant a customer may hold at once outside drops")
	fs.IntVar(&c.Cart.MaxHeldUnits, "max-held-units", c.Cart.MaxHeldUnits, "most units a customer may hold at once outside drops, all variants together")
	fs.BoolVar(&c.Cart.HoldBatch, "hold-batch", c.Cart.HoldBatch, "group commit: concurrent holds of one variant share one transaction")
	fs.IntVar(&c.Cart.MaxUnpaidOrders, "max-unpaid-orders", c.Cart.MaxUnpaidOrders, "most orders awaiting a card payment a customer may have at once")
	fs.DurationVar(&c.SweepInterval, "sweep-interval", c.SweepInterval, "how often expired holds are returned")
	fs.DurationVar(&c.Retention.Idempotency, "idempotency-retention", c.Retention.Idempotency, "how long an idempotency key replays its first result (at least 24h)")
	fs.DurationVar(&c.Retention.StripeEvents, "stripe-event-retention", c.Retention.StripeEvents, "how long processed Stripe event ids are kept against redelivery (at least 96h)")
	fs.DurationVar(&c.Retention.HubPayments, "hub-payment-retention", c.Retention.HubPayments, "how long a hub payment never paid is kept before its PaymentIntent is canceled and it is deleted (at least 24h)")
	fs.DurationVar(&c.Fulfillment.PickupGrace, "pickup-grace", c.Fulfillment.PickupGrace, "a pickup with no window goes on the late list this long after payment (0: 7 days; negative: never)")
	fs.DurationVar(&c.Fulfillment.DeliverWithin, "deliver-within", c.Fulfillment.DeliverWithin, "a local delivery is late this long after payment unless its zone's cutoff says otherwise (0: 8h)")
	fs.DurationVar(&c.Fulfillment.ShipWithin, "ship-within", c.Fulfillment.ShipWithin, "a shipment must be handed to the courier this long after payment (0: 48h)")
	fs.Int64Var(&c.Fulfillment.LateCredit, "late-delivery-credit", c.Fulfillment.LateCredit, "wallet credit for a late local delivery, in minor units, once per order (0: none)")
	fs.DurationVar(&c.Returns.Window, "return-window", c.Returns.Window, "how long after collection or delivery a buyer may ask for a return (whole days; staff may change it)")
	fs.Func("return-refund", "how returns are refunded: WALLET_ON_DROPOFF (credit at drop-off) or CARD_AFTER_INSPECTION (default WALLET_ON_DROPOFF; staff may change it)", func(s string) error {
		c.Returns.Refund = returns.RefundMode(strings.ToUpper(strings.TrimSpace(s)))
		return nil
	})
	fs.Int64Var(&c.Wallet.TopUpMin, "topup-min", c.Wallet.TopUpMin, "smallest wallet top-up, in minor units")
	fs.Int64Var(&c.Wallet.TopUpMax, "topup-max", c.Wallet.TopUpMax, "largest wallet top-up, in minor units")
	fs.Func("topup-presets", "comma-separated top-up amounts clients offer, in minor units (default 1000,2500,5000)", func(s string) error {
		var out []int64
		for _, p := range splitList(s) {
			n, err := strconv.ParseInt(p, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an amount in minor units", p)
			}
			out = append(out, n)
		}
		c.Wallet.TopUpPresets = out
		return nil
	})
	fs.StringVar(&c.StripePublishableKey, "stripe-publishable-key", c.StripePublishableKey, "Stripe publishable key (pk_…) for card payments in the pages")
	fs.StringVar(&c.Brand.Color, "brand-color", c.Brand.Color, "the pages' brand `colour` (#rrggbb): buttons, links, highlights")
	fs.StringVar(&c.Brand.LogoURL, "logo-url", c.Brand.LogoURL, "the shop's logo in the pages' header: an https `URL` or a path on this server")
	fs.StringVar(&c.Brand.StripeJSURL, "stripe-js-url", c.Brand.StripeJSURL, "where the pages load Stripe.js from (default Stripe's; change only for a test stand-in)")
	fs.StringVar(&c.DebugAddr, "debug-addr", c.DebugAddr, "serve Go's /debug/pprof on this private `host:port` (off by default)")
	fs.Int64Var(&c.HubWalletLimit, "hub-wallet-limit", hubs.DefaultHubWalletLimit,
		"on central: the most one wallet pass pays at hubs in total (all its sales, every hub), in minor units (match the hubs' --offline-wallet-limit); the rest is a SHORTFALL for staff")
	fs.Float64Var(&c.SubscriptionRate, "subscription-rate", c.SubscriptionRate, "most updates per second a subscriber gets for one topic (bursts coalesce, ending on the latest value)")
	fs.IntVar(&c.API.MaxSubscriptions, "max-subscriptions", c.API.MaxSubscriptions, "most live subscriptions on one websocket connection")
	fs.Func("ice-servers", "comma-separated STUN/TURN URLs offered to WebRTC peers (TURN credentials: MERCHD_TURN_USERNAME, MERCHD_TURN_PASSWORD)", func(s string) error {
		urls := splitList(s)
		for _, u := range urls {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				return fmt.Errorf("%q is not a stun:, turn: or turns: URL", u)
			}
		}
		c.Live.ICEServers = []webrtc.ICEServer{{URLs: urls}}
		return nil
	})
	fs.IntVar(&c.Live.UDPPort, "webrtc-udp-port", c.Live.UDPPort, "carry all WebRTC media on this one UDP port (0: an ephemeral port)")
	fs.Func("webrtc-public-ips", "comma-separated public IPs to announce for WebRTC (1:1 NAT)", func(s string) error {
		c.Live.PublicIPs = splitList(s)
		return nil
	})
	fs.BoolVar(&c.Live.IncludeLoopback, "webrtc-loopback", c.Live.IncludeLoopback, "offer loopback ICE candidates (viewers on this host)")
	fs.IntVar(&c.Live.MaxViewers, "live-max-viewers", c.Live.MaxViewers, "most WHEP viewers of one stream, connected or connecting (more get HTTP 503)")
	fs.IntVar(&c.Live.MaxViewersPerIP, "live-max-viewers-per-ip", c.Live.MaxViewersPerIP, "most WHEP viewers from one address across all streams (more get HTTP 429)")
	fs.StringVar(&c.LiveNode.URL, "live-node-url", c.LiveNode.URL, "this node's base `URL` as viewers and other nodes reach it, for live streams across nodes on PostgreSQL (default: http:// and the listen address)")
	fs.IntVar(&c.LiveNode.Capacity, "live-node-capacity", c.LiveNode.Capacity, "WHEP sessions this node takes across its streams before it redirects new viewers to a less loaded node (PostgreSQL)")
	fs.DurationVar(&c.LiveNode.Grace, "live-relay-grace", c.LiveNode.Grace, "how long a stream relayed from another node keeps its pull after its last viewer leaves")
	fs.IntVar(&c.Live.MaxHandshakes, "live-max-handshakes", c.Live.MaxHandshakes, "most DTLS handshakes of joining viewers in progress at once (more wait their turn)")
	fs.DurationVar(&c.Live.ViewerConnectTimeout, "live-viewer-connect-timeout", c.Live.ViewerConnectTimeout, "time a WHEP viewer has to connect before its session is closed")
	fs.StringVar(&c.Stripe.APIURL, "stripe-api-url", c.Stripe.APIURL, "Stripe API base URL (for stripe-mock); default Stripe's")
	fs.BoolVar(&c.API.Introspection, "introspection", c.API.Introspection, "allow GraphQL introspection, and serve GraphiQL (embedded, works offline) at /graphiql")
	fs.IntVar(&c.API.MaxDepth, "max-depth", c.API.MaxDepth, "deepest allowed query nesting")
	fs.IntVar(&c.API.MaxComplexity, "max-complexity", c.API.MaxComplexity, "highest allowed query complexity")
	fs.Func("trusted-proxies", "comma-separated CIDRs of load balancers whose X-Forwarded-For names the client for per-address limits", func(s string) error {
		c.API.TrustedProxies = splitList(s)
		return nil
	})
	fs.IntVar(&c.API.MaxConnections, "max-connections", c.API.MaxConnections, "open websockets and SSE streams in all")
	fs.IntVar(&c.API.MaxConnectionsPerIP, "max-connections-per-ip", c.API.MaxConnectionsPerIP, "open websockets and SSE streams from one address")
	fs.IntVar(&c.API.MaxInFlight, "max-in-flight", c.API.MaxInFlight, "queries and mutations running at once on one websocket")
	fs.IntVar(&c.API.MaxAliases, "max-aliases", c.API.MaxAliases, "most aliased fields in one operation")
	fs.Int64Var(&c.API.ResponseCacheBytes, "response-cache-bytes", c.API.ResponseCacheBytes, "memory for anonymous catalog responses served from the cache (0: off); a change reaches it as fast as subscriptions")
	fs.DurationVar(&c.API.ResponseCacheMaxAge, "response-cache-max-age", c.API.ResponseCacheMaxAge, "longest life of a cached catalog response")
	fs.IntVar(&c.API.MaxWrites, "max-writes", c.API.MaxWrites, "most mutations moving stock or money in one operation")
	fs.Float64Var(&c.Throttle.SignInPerIP, "signin-rate", c.Throttle.SignInPerIP, "sign-in attempts per minute from one address")
	fs.Float64Var(&c.Throttle.SignInPerAccount, "signin-account-rate", c.Throttle.SignInPerAccount, "sign-in attempts per minute on one account")
	fs.Float64Var(&c.Throttle.SignUpPerIP, "signup-rate", c.Throttle.SignUpPerIP, "sign-ups per minute from one address")
	fs.IntVar(&c.Throttle.MaxHashing, "max-hashing", c.Throttle.MaxHashing, "concurrent password hashes (19 MiB each; 0: one per CPU)")
	fs.Int64Var(&c.MemoryLimit, "memory-limit", c.MemoryLimit, "soft memory limit in bytes for the Go runtime (GOMEMLIMIT overrides)")
	fs.Int64Var(&c.API.MaxBodyBytes, "max-body-bytes", c.API.MaxBodyBytes, "largest accepted request body")
	fs.DurationVar(&c.API.RequestTimeout, "request-timeout", c.API.RequestTimeout, "time limit for one query or mutation")
	fs.StringVar(&c.Notify.SMTP.Host, "smtp-host", c.Notify.SMTP.Host, "SMTP server `host` for the buyers' emails (empty: email off; webhooks still go)")
	fs.IntVar(&c.Notify.SMTP.Port, "smtp-port", c.Notify.SMTP.Port, "SMTP port (0: 587, or 465 with --smtp-tls tls)")
	fs.StringVar(&c.Notify.SMTP.User, "smtp-user", c.Notify.SMTP.User, "SMTP user name (password: MERCHD_SMTP_PASSWORD or MERCHD_SMTP_PASSWORD_FILE)")
	fs.StringVar(&c.Notify.SMTP.From, "smtp-from", c.Notify.SMTP.From, "the emails' sender, e.g. \"Shop <orders@shop.example>\"")
	fs.StringVar(&c.Notify.SMTP.TLS, "smtp-tls", c.Notify.SMTP.TLS, "starttls (required), tls (implicit, port 465), opportunistic, or none")
	fs.DurationVar(&c.Notify.SMTP.Timeout, "smtp-timeout", c.Notify.SMTP.Timeout, "time limit for sending one email")
	fs.StringVar(&c.Notify.ShopName, "shop-name", c.Notify.ShopName, "the shop's name in emails and on the pages")
	fs.StringVar(&c.Notify.PublicURL, "public-url", c.Notify.PublicURL, "the shop's public base `URL` (https://shop.example): links in emails start with it")
	fs.BoolVar(&c.Notify.AllowPrivateWebhooks, "allow-private-webhooks", c.Notify.AllowPrivateWebhooks, "let webhook endpoints be on loopback and private addresses")
	fs.IntVar(&c.Notify.MaxAttempts, "notify-max-attempts", c.Notify.MaxAttempts, "attempts an email or webhook gets before it is DEAD (retried with backoff from 30s, doubling, up to 6h)")
	fs.DurationVar(&c.Notify.WebhookTimeout, "webhook-timeout", c.Notify.WebhookTimeout, "time limit for one webhook POST (no 2xx in time: retried)")
	fs.DurationVar(&c.Notify.Lease, "notify-lease", c.Notify.Lease, "how long a replica owns an email or webhook it is sending; after it another replica sends it")
	fs.Func("allowed-origins", "comma-separated browser origins allowed to call the API (\"*\" for any)", func(s string) error {
		c.API.AllowedOrigins = splitList(s)
		return nil
	})
}

// isLoopback reports a host name or address that never leaves the machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c serveConfig) Validate() error {
	var errs []error
	if c.Edge != nil {
		errs = append(errs, c.Edge.validate()...)
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("--addr %q is not host:port (e.g. 127.0.0.1:8080)", c.Addr))
	}
	if err := (entdb.Config{URL: c.Database, MaxOpenConns: c.DatabaseConns}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--database, --database-max-conns: %w", err))
	}
	if err := c.Throttle.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--signin-rate, --signup-rate, --signin-account-rate, --max-hashing: %w", err))
	}
	if c.MaxUploadBytes < 1 || c.MaxUploadBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("--max-upload-bytes %d: between 1 and 64 MiB", c.MaxUploadBytes))
	}
	if c.MemoryLimit < 64<<20 {
		errs = append(errs, fmt.Errorf("--memory-limit %d is below 64 MiB", c.MemoryLimit))
	}
	if _, err := checkout.ParseCurrency(c.Currency); err != nil {
		errs = append(errs, fmt.Errorf("--currency %q is not an ISO 4217 currency in use, like EUR or JPY", c.Currency))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout must be positive"))
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, fmt.Errorf("--session-ttl %s is shorter than a minute", c.SessionTTL))
	}
	if c.HubWalletLimit < 0 {
		errs = append(errs, fmt.Errorf("--hub-wallet-limit %d: not negative", c.HubWalletLimit))
	}
	if err := c.Wallet.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Cart.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Retention.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Fulfillment.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Returns.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--return-window, --return-refund: %w", err))
	}
	if c.SubscriptionRate <= 0 || c.SubscriptionRate > 1000 {
		errs = append(errs, fmt.Errorf("--subscription-rate %g is outside (0, 1000]", c.SubscriptionRate))
	}
	if c.SweepInterval < 10*time.Millisecond || c.SweepInterval > time.Minute {
		errs = append(errs, fmt.Errorf("--sweep-interval %s is outside 10ms..1m", c.SweepInterval))
	}
	if err := c.Brand.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Stripe.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Live.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.LiveNode.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.API.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Notify.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// secretFromEnv reads NAME, or the file named by NAME_FILE.
func secretFromEnv(name string) (checkout.Secret, error) {
	if v := os.Getenv(name); v != "" {
		return checkout.Secret(v), nil
	}
	if f := os.Getenv(name + "_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		return checkout.Secret(strings.TrimSpace(string(b))), nil
	}
	return "", nil
}

// parseFlags fills fs from MERCHD_* variables, then from args.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := "MERCHD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return fs.Parse(args)
}

func newFlagSet(name, doc string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: merchd %s [flags]\n\n%s\n\nFlags (each also MERCHD_<FLAG> in the environment):\n", name, doc)
		fs.PrintDefaults()
	}
	return fs
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q is not debug, info, warn or error", s)
	}
	return l, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// liveNodeConfig is a node's part in live streams across nodes.
type liveNodeConfig struct {
	URL      string
	Capacity int
	Grace    time.Duration
}

func (c liveNodeConfig) validate() error {
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("--live-node-url %q must be a base URL like https://live1.shop.example", c.URL)
		}
	}
	if c.Capacity < 1 {
		return fmt.Errorf("--live-node-capacity %d must be at least 1", c.Capacity)
	}
	if c.Grace < 0 || c.Grace > 10*time.Minute {
		return fmt.Errorf("--live-relay-grace %v must be between 0 and 10m", c.Grace)
	}
	return nil
}
