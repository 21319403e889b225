package graph

import (
	"net/http/httptest"
	"net/netip"
	"testing"
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
