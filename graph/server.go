package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/accounts"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/respcache"
	"github.com/merchd/merchd/graph/wsock"
)

// ServerConfig are the API's limits and switches.
type ServerConfig struct {
	Introspection bool
	MaxDepth      int
	MaxComplexity int
	// MaxAliases bounds the aliased fields of one operation.
	MaxAliases int
	// MaxWrites bounds one operation's mutations that move stock or money.
	MaxWrites      int
	MaxBodyBytes   int64
	RequestTimeout time.Duration
	// AllowedOrigins lists browser origins allowed to call the API (CORS and
	// websocket upgrades). "*" allows any origin.
	AllowedOrigins []string
	QueryCacheSize int
	APQCacheSize   int
	KeepAlive      time.Duration
	// SocketWriteTimeout bounds one websocket message's or SSE event's
	// write: a client that reads nothing for that long is disconnected
	// (0: 10s).
	SocketWriteTimeout time.Duration
	// SocketInitTimeout is how long a websocket may wait before its
	// connection_init (closed with 4408; 0: 10s).
	SocketInitTimeout time.Duration
	// MaxSubscriptions bounds one websocket connection's live subscriptions.
	MaxSubscriptions int
	// MaxConnections and MaxConnectionsPerIP bound open websockets and SSE
	// streams, in all and from one address.
	MaxConnections, MaxConnectionsPerIP int
	// MaxInFlight bounds one websocket's queries and mutations running at once.
	MaxInFlight int
	// TrustedProxies are the load balancers (CIDRs) whose X-Forwarded-For
	// names the client for per-address limits.
	TrustedProxies []string
	// ResponseCacheBytes bounds the anonymous catalog responses kept in
	// memory (package respcache); 0 turns the cache off. It needs the
	// broker (subscriptions on): that is how it learns of changes.
	ResponseCacheBytes int64
	// ResponseCacheMaxAge is a cached response's longest life.
	ResponseCacheMaxAge time.Duration
}

// DefaultConfig is what `merchd serve` starts with.
func DefaultConfig() ServerConfig {
	return ServerConfig{
		Introspection:       true,
		MaxDepth:            12,
		MaxComplexity:       5000,
		MaxAliases:          30,
		MaxWrites:           3,
		MaxBodyBytes:        1 << 20,
		RequestTimeout:      15 * time.Second,
		QueryCacheSize:      1000,
		APQCacheSize:        1000,
		KeepAlive:           15 * time.Second,
		MaxSubscriptions:    32,
		MaxConnections:      20000,
		MaxConnectionsPerIP: 64,
		MaxInFlight:         8,
		ResponseCacheBytes:  32 << 20,
		ResponseCacheMaxAge: 30 * time.Second,
	}
}

// Validate reports unusable limits.
func (c ServerConfig) Validate() error {
	switch {
	case c.MaxDepth < 3:
		return fmt.Errorf("graph: max depth %d is below 3; nothing useful fits", c.MaxDepth)
	case c.MaxComplexity < 10:
		return fmt.Errorf("graph: max complexity %d is below 10", c.MaxComplexity)
	case c.MaxAliases < 0:
		return fmt.Errorf("graph: max aliases %d is negative", c.MaxAliases)
	case c.MaxWrites < 1 || c.MaxWrites > 100:
		return fmt.Errorf("graph: max stock or money mutations per operation %d is outside 1..100", c.MaxWrites)
	case c.MaxBodyBytes < 1024:
		return fmt.Errorf("graph: max body %d bytes is below 1 KiB", c.MaxBodyBytes)
	case c.RequestTimeout < 100*time.Millisecond:
		return fmt.Errorf("graph: request timeout %s is below 100ms", c.RequestTimeout)
	case c.QueryCacheSize < 1 || c.APQCacheSize < 1:
		return fmt.Errorf("graph: cache sizes must be positive")
	case c.MaxSubscriptions < 1:
		return fmt.Errorf("graph: max subscriptions per connection %d is below 1", c.MaxSubscriptions)
	case c.MaxConnections < 1 || c.MaxConnectionsPerIP < 1 || c.MaxConnectionsPerIP > c.MaxConnections:
		return fmt.Errorf("graph: connection limits %d in all, %d per address: both must be positive, the second no larger", c.MaxConnections, c.MaxConnectionsPerIP)
	case c.MaxInFlight < 1:
		return fmt.Errorf("graph: max operations in flight per connection %d is below 1", c.MaxInFlight)
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			return fmt.Errorf("graph: trusted proxy %q is not a CIDR like 10.0.0.0/8: %w", p, err)
		}
	}
	for _, o := range c.AllowedOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("graph: allowed origin %q must be \"*\" or start with http:// or https://", o)
		}
	}
	return nil
}

// Server is the /query endpoint.
type Server struct {
	proxies  []netip.Prefix
	conns    *connLimits
	cfg      ServerConfig
	log      *slog.Logger
	accounts *accounts.Service
	gql      *handler.Server
	metrics  *Metrics
	cache    *respcache.Cache // nil: off
	sockets  *wsock.Transport
	res      *Resolver // the audit of writes outside GraphQL (uploads)
	// stopping ends with GoingAway: SSE streams end with it.
	stopping  context.Context
	goingAway context.CancelFunc
}

// GoingAway ends the long-lived streams, which net/http's Shutdown would
// otherwise wait for (SSE) or never see (websockets, hijacked), so that
// their clients reconnect to another replica or after the restart:
// subscriptions end at once, over SSE or a websocket (closed with 1001,
// going away); queries and mutations already running finish and answer,
// until ctx ends; new streams and operations are refused. Call it beside
// http.Server.Shutdown with the same ctx; it returns when every socket is
// closed.
func (s *Server) GoingAway(ctx context.Context) {
	s.goingAway()
	s.sockets.GoingAway(ctx)
}

// NewServer builds the GraphQL handler over r.
func NewServer(cfg ServerConfig, r *Resolver, log *slog.Logger, m *Metrics) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r.Client.Variant.Intercept(registerLoadedVariants())
	var cache *respcache.Cache
	if r.Broker != nil {
		r.registerTopics()
		r.registerOverlay()
		if r.Carts != nil {
			// Another replica's change voids the carts' sold-out memo too.
			r.Broker.Listen(r.Carts.Changed)
		}
		// Catalog writes are announced to every replica (on the bus the
		// services use), so each one's response cache starts over.
		var bus checkout.Notifier = r.Broker
		if r.Bus != nil {
			bus = r.Bus
		}
		respcache.Announce(r.Client, bus)
		if cfg.ResponseCacheBytes > 0 {
			cache = respcache.New(respcache.Config{MaxBytes: cfg.ResponseCacheBytes, MaxAge: cfg.ResponseCacheMaxAge,
				Now: r.Now, NextChange: r.nextDropChange})
			r.Broker.Listen(cache.Topics)
		}
	}

	schema := NewExecutableSchema(gqlConfig(r))
	proxies := make([]netip.Prefix, len(cfg.TrustedProxies))
	for i, p := range cfg.TrustedProxies {
		proxies[i] = netip.MustParsePrefix(p).Masked() // validated
	}
	s := &Server{proxies: proxies, cfg: cfg, log: log, accounts: r.Accounts, metrics: m, conns: newConnLimits(cfg.MaxConnections, cfg.MaxConnectionsPerIP), cache: cache, res: r}
	s.stopping, s.goingAway = context.WithCancel(context.Background())
	srv := handler.New(schema)
	s.sockets = wsock.New(wsock.Config{
		Init:         s.websocketInit,
		CheckOrigin:  s.originAllowed,
		KeepAlive:    cfg.KeepAlive,
		InitTimeout:  cfg.SocketInitTimeout,
		WriteTimeout: cfg.SocketWriteTimeout,
		ReadLimit:    cfg.MaxBodyBytes,
		// Anonymous subscribers of one operation see the same response for
		// each value: it is executed and encoded once for all of them.
		Share: func(ctx context.Context) (string, bool) {
			return "anonymous", viewer.FromContext(ctx).Role == viewer.Anonymous
		},
	})
	srv.AddTransport(s.sockets)
	srv.AddTransport(transport.SSE{}) // before POST: it claims Accept: text/event-stream
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(smallOnly[*ast.QueryDocument]{lru.New[*ast.QueryDocument](cfg.QueryCacheSize), func(q string, _ *ast.QueryDocument) int { return len(q) }})
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: smallOnly[string]{lru.New[string](cfg.APQCacheSize), func(_, q string) int { return len(q) }}})
	srv.Use(&queryLimits{MaxDepth: cfg.MaxDepth, MaxComplexity: cfg.MaxComplexity, MaxAliases: cfg.MaxAliases, MaxWrites: cfg.MaxWrites})
	srv.AroundOperations(s.checkSession)
	srv.AroundOperations(s.sseOperations)
	srv.AroundOperations(s.boundSocketOperations)
	// The stock loader and the member's tier are per response: a
	// subscription's values each read them afresh (once per operation froze
	// a nested Variant.available at the first value, and kept a customer who
	// bought a membership mid-subscription on non-member prices).
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		return next(withMemberCache(withStockLoader(ctx)))
	})
	// The audit is outermost: it sees every refusal, the hub scope's too.
	srv.AroundFields(r.audit)
	srv.AroundFields(hubScope)
	if r.Sales == nil {
		r.Sales = notAHub{}
	} else {
		srv.AroundFields(atHub(r.Sales.HubCode()))
	}
	srv.AroundFields(markResolverErrors)
	if m != nil {
		srv.AroundResponses(m.observe)
	}
	r.present, r.log = errorPresenter(log), log
	srv.SetErrorPresenter(r.present)
	srv.SetRecoverFunc(recoverFunc(log))
	s.gql = srv
	return s, nil
}

// gqlConfig wires the resolvers and prices connections by their page size.
func gqlConfig(r *Resolver) Config {
	c := Config{Resolvers: r}
	c.Complexity.Query.Products = func(child int, _ *entgql.Cursor[int], first *int, _ *entgql.Cursor[int], last *int, _ *ent.ProductOrder, _ *ent.ProductWhereInput) int {
		return connectionCost(child, first, last)
	}
	c.Complexity.Query.Collections = func(child int, _ *entgql.Cursor[int], first *int, _ *entgql.Cursor[int], last *int, _ *ent.CollectionOrder, _ *ent.CollectionWhereInput) int {
		return connectionCost(child, first, last)
	}
	c.Complexity.Query.Variants = func(child int, _ *entgql.Cursor[int], first *int, _ *entgql.Cursor[int], last *int, _ *ent.VariantOrder, _ *ent.VariantWhereInput) int {
		return connectionCost(child, first, last)
	}
	c.Complexity.Collection.Products = func(child int, _ *entgql.Cursor[int], first *int, _ *entgql.Cursor[int], last *int, _ *ent.ProductOrder, _ *ent.ProductWhereInput) int {
		return connectionCost(child, first, last)
	}
	c.Complexity.Query.Nodes = func(child int, ids []int) int { return 1 + child*max(len(ids), 1) }
	return c
}

// ServeHTTP authenticates the caller, applies the body limit, timeout and
// CORS, and runs the operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if isWebsocket(r) {
		if !s.originAllowed(r) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		// Websocket clients authenticate in connection_init (browsers cannot
		// set headers on the upgrade); a header still works for others.
		ctx, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		release, ok := s.holdConnection(w, r)
		if !ok {
			return
		}
		// The socket outlives this call (the transport hijacks it and
		// returns): the transport gives the slot back when it closes.
		s.gql.ServeHTTP(w, r.WithContext(wsock.WithRelease(ctx, release)))
		return
	}
	if msg, status := s.badTransport(r); msg != "" {
		writeGraphQLError(w, status, CodeBadUserInput, msg)
		return
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		writeGraphQLError(w, http.StatusRequestEntityTooLarge, CodeBadUserInput,
			fmt.Sprintf("request body is larger than %d bytes", s.cfg.MaxBodyBytes))
		return
	}
	var body []byte
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		var err error
		body, err = readAll(r.Body, s.cfg.MaxBodyBytes)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeGraphQLError(w, http.StatusRequestEntityTooLarge, CodeBadUserInput,
					fmt.Sprintf("request body is larger than %d bytes", s.cfg.MaxBodyBytes))
				return
			}
			writeGraphQLError(w, http.StatusBadRequest, CodeBadUserInput, "could not read request body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	ctx, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		release, ok := s.holdConnection(w, r)
		if !ok {
			return
		}
		defer release()
		// An SSE stream lives on, and ends with the session that opened it
		// or with the server (GoingAway).
		ctx, cancel := context.WithCancel(withLongLived(ctx))
		defer cancel()
		sw := newStreamWriter(w, s.cfg.SocketWriteTimeout)
		// At shutdown a subscription's stream ends at once; a query or
		// mutation sent over SSE finishes and answers (sseOperations).
		st := &sseStream{end: func() { cancel(); sw.stop() }}
		defer context.AfterFunc(s.stopping, st.stopping)()
		s.watchSession(ctx, viewer.FromContext(ctx), cancel)
		s.gql.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, sseStreamKey{}, st)))
		return
	}
	// Anonymous catalog reads may come from the response cache.
	if s.cache != nil && r.Method == http.MethodPost && r.Header.Get("Authorization") == "" {
		s.cache.Serve(w, r.WithContext(ctx), body, http.HandlerFunc(s.execute))
		return
	}
	s.execute(w, r.WithContext(ctx))
}

// execute runs a query or mutation under the request deadline.
func (s *Server) execute(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	cw := &codedErrors{ResponseWriter: w}
	s.gql.ServeHTTP(cw, r.WithContext(ctx))
	cw.flush()
}

// maxCachedQuery is the longest query text the parsed-query and
// persisted-query caches keep: theirs are counted in entries, so without
// it 1,000 anonymous 1 MiB queries would pin a gigabyte. Real operations
// are a few KiB; a longer one is parsed again each time.
const maxCachedQuery = 16 << 10

// smallOnly is a gqlgen cache that keeps only entries whose query text
// (size) is at most maxCachedQuery bytes.
type smallOnly[T any] struct {
	graphql.Cache[T]
	size func(key string, v T) int
}

func (c smallOnly[T]) Add(ctx context.Context, key string, v T) {
	if c.size(key, v) <= maxCachedQuery {
		c.Cache.Add(ctx, key, v)
	}
}

// SubscriptionSends counts the values sent to websocket subscribers:
// shared, encoded once for every anonymous subscriber of one operation;
// own, executed and encoded for one subscriber.
func (s *Server) SubscriptionSends() (shared, own uint64) { return s.sockets.Encodings() }

// ShareGroups is how many shared subscription operations have subscribers.
func (s *Server) ShareGroups() int { return s.sockets.Groups() }

// CacheStats are the response cache's hits and misses (zeros when it is off).
func (s *Server) CacheStats() (hits, misses uint64) {
	if s.cache == nil {
		return 0, 0
	}
	return s.cache.Stats()
}

// holdConnection takes one of the long-lived connection slots for the
// caller's address, or answers 429 and reports false.
func (s *Server) holdConnection(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	release, refusal := s.conns.acquire(s.clientKey(r))
	if refusal != "" {
		writeTooMany(w, refusal)
		return nil, false
	}
	return release, true
}

// badTransport refuses, before gqlgen sees them, requests no transport
// takes: its refusals carry no extensions.code.
func (s *Server) badTransport(r *http.Request) (string, int) {
	switch r.Method {
	case http.MethodGet:
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			return "the URL's query string is malformed", http.StatusBadRequest
		}
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return "send the request as Content-Type: application/json", http.StatusUnsupportedMediaType
		}
	default:
		return "use GET for queries or POST for any operation", http.StatusMethodNotAllowed
	}
	return "", 0
}

// codedErrors gives the few refusals gqlgen writes itself (a mutation over
// GET, say) the extensions.code every other refusal has. It only looks at
// responses with an error status.
type codedErrors struct {
	http.ResponseWriter
	status int
}

func (c *codedErrors) WriteHeader(status int) {
	c.status = status
	if status < 400 {
		c.ResponseWriter.WriteHeader(status)
	}
}

// flush sends an error status that no body followed.
func (c *codedErrors) flush() {
	if c.status >= 400 {
		c.ResponseWriter.WriteHeader(c.status)
		c.status = 0
	}
}

func (c *codedErrors) Write(b []byte) (int, error) {
	if c.status < 400 {
		return c.ResponseWriter.Write(b)
	}
	var body struct {
		Errors []map[string]any `json:"errors"`
		Data   any              `json:"data"`
	}
	if err := json.Unmarshal(b, &body); err != nil || len(body.Errors) == 0 {
		c.ResponseWriter.WriteHeader(c.status)
		c.status = 0
		return c.ResponseWriter.Write(b)
	}
	for _, e := range body.Errors {
		if _, ok := e["extensions"]; !ok {
			e["extensions"] = map[string]any{"code": CodeBadUserInput}
		}
	}
	out, _ := json.Marshal(body)
	c.ResponseWriter.Header().Del("Content-Length")
	c.ResponseWriter.WriteHeader(c.status)
	c.status = 0
	if _, err := c.ResponseWriter.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// authenticate puts the viewer named by a bearer token into the request's
// context; without a token the caller is anonymous. A bad token is answered
// here and reported as not ok.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (context.Context, bool) {
	ctx := r.Context()
	ctx = checkout.WithClientIP(ctx, s.clientKey(r))
	h := r.Header.Get("Authorization")
	if h == "" {
		return ctx, true
	}
	tok, ok := bearer(h)
	if !ok {
		// A credential we cannot read is not anonymity: say so, or a client
		// sending Basic would think its writes were its own.
		w.Header().Set("WWW-Authenticate", `Bearer realm="merchd"`)
		writeGraphQLError(w, http.StatusUnauthorized, CodeUnauthenticated, "use Authorization: Bearer <token>")
		return nil, false
	}
	v, err := s.accounts.Authenticate(ctx, tok)
	if err != nil {
		s.writeAuthError(w, err)
		return nil, false
	}
	return viewer.NewContext(ctx, v), true
}

func (s *Server) writeAuthError(w http.ResponseWriter, err error) {
	if errors.Is(err, checkout.ErrUnauthenticated) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="merchd"`)
		writeGraphQLError(w, http.StatusUnauthorized, CodeUnauthenticated, "invalid or expired token")
		return
	}
	id := errorID()
	s.log.Error("authenticate", "error_id", id, "error", err)
	writeGraphQLError(w, http.StatusInternalServerError, CodeInternal, "internal error (id "+id+")")
}

func (s *Server) websocketInit(ctx context.Context, p map[string]any) (context.Context, error) {
	ctx = withInFlightLimit(withSubscriptionLimit(ctx, s.cfg.MaxSubscriptions), s.cfg.MaxInFlight)
	raw := transport.InitPayload(p).Authorization()
	if raw == "" {
		if t, ok := p["authToken"].(string); ok {
			raw = "Bearer " + t
		}
	}
	// Signed in by the upgrade request's Authorization header (not a
	// browser), or anonymous, unless connection_init names a token.
	v := viewer.FromContext(ctx)
	if raw != "" {
		// 4403 is graphql-transport-ws's "Forbidden": clients must not retry.
		refuse := func(code int, msg string) (context.Context, error) {
			return nil, &wsock.CloseError{Code: code, Reason: msg}
		}
		tok, ok := bearer(raw)
		if !ok {
			return refuse(4403, "Forbidden: authorization must be \"Bearer <token>\"")
		}
		var err error
		v, err = s.accounts.Authenticate(ctx, tok)
		if err != nil {
			if errors.Is(err, checkout.ErrUnauthenticated) {
				return refuse(4403, "Forbidden: invalid or expired token")
			}
			s.log.ErrorContext(ctx, "websocket authenticate", "error", err)
			return refuse(4500, "internal error")
		}
	}
	if v.Role == viewer.Anonymous {
		return ctx, nil
	}
	// Either way, the session is checked per operation and watched.
	ctx, cancel := context.WithCancel(viewer.NewContext(withLongLived(ctx), v))
	s.watchSession(ctx, v, cancel)
	return ctx, nil
}

// longLivedKey marks a connection that outlives its authentication
// (websocket, SSE): its session is checked again per operation.
type longLivedKey struct{}

func withLongLived(ctx context.Context) context.Context {
	return context.WithValue(ctx, longLivedKey{}, true)
}

// sessionCheckEvery is how often an open socket's session is checked.
const sessionCheckEvery = 2 * time.Second

// watchSession ends a long-lived connection (cancel) once the session
// behind it is signed out, revoked or expired, checking every
// sessionCheckEvery until ctx ends. It runs on a timer: an idle connection
// keeps no goroutine for it.
func (s *Server) watchSession(ctx context.Context, v viewer.Viewer, cancel context.CancelFunc) {
	if v.Role == viewer.Anonymous {
		return
	}
	w := &sessionWatch{}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = time.AfterFunc(sessionCheckEvery, func() {
		if ctx.Err() != nil {
			return
		}
		ok, err := s.accounts.SessionActive(ctx, v)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "check session of an open connection", "error", err)
		}
		if err == nil && !ok {
			cancel()
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.t.Reset(sessionCheckEvery)
	})
	context.AfterFunc(ctx, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.t.Stop()
	})
}

type sessionWatch struct {
	mu sync.Mutex
	t  *time.Timer
}

// checkSession refuses an operation on a long-lived connection whose
// session has ended since it opened.
func (s *Server) checkSession(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if ctx.Value(longLivedKey{}) == nil {
		return next(ctx)
	}
	v := viewer.FromContext(ctx)
	ok, err := s.accounts.SessionActive(ctx, v)
	if err == nil && ok {
		return next(ctx)
	}
	msg, code := "your session ended: sign in again", CodeUnauthenticated
	if err != nil {
		id := errorID()
		s.log.ErrorContext(ctx, "check session", "error_id", id, "error", err)
		msg, code = "internal error (id "+id+")", CodeInternal
	}
	return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{Message: msg, Extensions: map[string]any{"code": code}}}})
}

// cors answers the CORS headers; false means the request was refused.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if !s.originAllowed(r) {
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusForbidden)
			return false
		}
		return true // the browser blocks the response without an allow header
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
		h.Set("Access-Control-Max-Age", "600")
	}
	return true
}

// originAllowed: same-origin and non-browser requests always; others only
// when on the allow-list.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	host := strings.TrimPrefix(strings.TrimPrefix(origin, "https://"), "http://")
	return strings.EqualFold(host, r.Host)
}

func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func writeGraphQLError(w http.ResponseWriter, status int, code, msg string) {
	writeGraphQLErrorExt(w, status, map[string]any{"code": code}, msg)
}

func writeGraphQLErrorExt(w http.ResponseWriter, status int, ext map[string]any, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": ext}},
	})
}
