package graph

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// connLimits counts open long-lived connections (websockets and SSE
// streams), in all and per address: each holds goroutines and buffers, so
// one client must not open thousands.
type connLimits struct {
	max, perIP int
	mu         sync.Mutex
	total      int
	byIP       map[string]int
}

func newConnLimits(max, perIP int) *connLimits {
	return &connLimits{max: max, perIP: perIP, byIP: map[string]int{}}
}

// acquire takes a slot for ip; release gives it back. A refusal says which
// limit was hit.
func (c *connLimits) acquire(ip string) (release func(), refusal string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.total >= c.max:
		return nil, "the server holds its limit of " + strconv.Itoa(c.max) + " open connections; retry shortly"
	case c.byIP[ip] >= c.perIP:
		return nil, "your address holds its limit of " + strconv.Itoa(c.perIP) + " open connections; close one first"
	}
	c.total++
	c.byIP[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.total--
			if c.byIP[ip]--; c.byIP[ip] <= 0 {
				delete(c.byIP, ip)
			}
		})
	}, ""
}

// clientKey is who a request counts against for per-address limits: the
// peer's address or, when the peer is a trusted proxy, the nearest
// untrusted address in X-Forwarded-For. IPv6 addresses count by their /64,
// which one subscriber usually holds whole.
func (s *Server) clientKey(r *http.Request) string {
	addr, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	ip := addr.Addr().Unmap()
	if s.trusted(ip) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			ip = hop.Unmap()
			if !s.trusted(ip) {
				break
			}
		}
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// writeTooMany answers a refused connection before any upgrade.
func writeTooMany(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "5")
	writeGraphQLErrorExt(w, http.StatusTooManyRequests, map[string]any{"code": CodeRateLimited, "retryAfter": 5}, msg)
}

// inFlightKey carries a long-lived connection's bound on operations that
// run at once (queries and mutations; subscriptions have their own).
type inFlightKey struct{}

func withInFlightLimit(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, inFlightKey{}, make(chan struct{}, n))
}

// boundSocketOperations gives a query or mutation sent over a websocket
// the same deadline as one over HTTP, and refuses one more than the
// connection's in-flight bound with RATE_LIMITED.
func (s *Server) boundSocketOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	sem, _ := ctx.Value(inFlightKey{}).(chan struct{})
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || oc.Operation == nil || oc.Operation.Operation == ast.Subscription || ctx.Value(longLivedKey{}) == nil && sem == nil {
		return next(ctx)
	}
	if sem == nil { // a query or mutation sent as an SSE stream: the deadline still applies
		sem = make(chan struct{}, 1)
	}
	select {
	case sem <- struct{}{}:
	default:
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message:    "too many operations in flight on this connection (at most " + strconv.Itoa(cap(sem)) + "); wait for answers first",
			Extensions: map[string]any{"code": CodeRateLimited, "retryAfter": 1},
		}}})
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	h := next(ctx)
	done := false
	return func(c context.Context) *graphql.Response {
		if done {
			return nil
		}
		done = true
		defer func() { cancel(); <-sem }()
		return h(c)
	}
}
