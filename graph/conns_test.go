package graph

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestClientKey: per-address limits count the client, not the load
// balancer in front of it, never an address the client made up, and an
// IPv6 client by its /64 (an attacker holds billions of addresses in one).
func TestClientKey(t *testing.T) {
	s := &Server{proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	for _, c := range []struct {
		remote, xff, want string
	}{
		{"203.0.113.7:5555", "", "203.0.113.7"},
		{"203.0.113.7:5555", "198.51.100.1", "203.0.113.7"}, // an untrusted peer cannot pick its address
		{"10.0.0.2:443", "198.51.100.1", "198.51.100.1"},
		{"10.0.0.2:443", "192.0.2.9, 198.51.100.1, 10.0.0.3", "198.51.100.1"}, // the nearest untrusted hop
		{"10.0.0.2:443", "not-an-ip", "10.0.0.2"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "", "2001:db8:1:2::/64"},
		{"[::ffff:203.0.113.7]:80", "", "203.0.113.7"},
	} {
		r := httptest.NewRequest("GET", "/query", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.clientKey(r); got != c.want {
			t.Errorf("%s with X-Forwarded-For %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

// TestInFlightBound: one websocket runs at most its bound of queries and
// mutations at once; one more is RATE_LIMITED, and a finished one frees
// its slot. Each runs under the request timeout.
func TestInFlightBound(t *testing.T) {
	s := &Server{cfg: ServerConfig{RequestTimeout: time.Minute}}
	ctx := withInFlightLimit(context.Background(), 2)
	ctx = graphql.WithOperationContext(ctx, &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: ast.Query}})
	var deadlines []bool
	next := func(ctx context.Context) graphql.ResponseHandler {
		_, ok := ctx.Deadline()
		deadlines = append(deadlines, ok)
		return graphql.OneShot(&graphql.Response{Data: []byte(`{}`)})
	}
	first := s.boundSocketOperations(ctx, next)
	s.boundSocketOperations(ctx, next)
	third := s.boundSocketOperations(ctx, next)(ctx)
	if len(third.Errors) != 1 || third.Errors[0].Extensions["code"] != CodeRateLimited {
		t.Fatalf("a third operation in flight: %+v", third)
	}
	if r := first(ctx); r == nil || len(r.Errors) > 0 {
		t.Fatalf("the first operation: %+v", r)
	}
	if r := s.boundSocketOperations(ctx, next)(ctx); len(r.Errors) > 0 {
		t.Fatalf("after one finished, another was refused: %+v", r.Errors)
	}
	for i, ok := range deadlines {
		if !ok {
			t.Fatalf("operation %d ran without the request timeout", i)
		}
	}
}
