package graph_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/graphtest"
)

// Attacks on shared subscription encodings (graph/wsock/shared.go).

// leaderBlocker blocks, once armed, the products query of whichever
// subscriber executes a value (the group's leader) until that
// subscriber's context ends, and says which one it was (by the "who"
// extension of its subscribe message, which is not part of the share key).
type leaderBlocker struct {
	dialect.Driver
	mu      sync.Mutex
	armed   bool
	blocked chan string
}

func (d *leaderBlocker) Query(ctx context.Context, query string, args, v any) error {
	d.mu.Lock()
	armed := d.armed && strings.Contains(query, "products")
	var who string
	if armed {
		if oc := graphql.GetOperationContext(ctx); oc != nil {
			who, _ = oc.Extensions["who"].(string)
		}
		if who != "" {
			d.armed = false
		}
	}
	d.mu.Unlock()
	if who != "" {
		d.blocked <- who
		<-ctx.Done()
	}
	return d.Driver.Query(ctx, query, args, v)
}

// TestSharedLeaderCancelledMidExecution: the leader of a group stops its
// subscription while it executes a value; the other member must still be
// sent the value as its own execution gives it, not the leader's
// "context canceled".
func TestSharedLeaderCancelledMidExecution(t *testing.T) {
	blocker := &leaderBlocker{blocked: make(chan string, 1)}
	e := graphtest.New(t, graphtest.Options{Driver: func(d dialect.Driver) dialect.Driver {
		blocker.Driver = d
		return blocker
	}})
	v := newVariant(t, e, 10, 2000, "EUR")
	const q = `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available variant { product { title } } } }`
	socks := map[string]*wsClient{}
	for _, who := range []string{"a", "b"} {
		w := dialWS(t, e, "")
		w.send(map[string]any{"id": who, "type": "subscribe", "payload": map[string]any{"query": q,
			"variables": map[string]any{"ids": []string{v}}, "extensions": map[string]any{"who": who}}})
		w.next(who)
		socks[who] = w
	}
	blocker.mu.Lock()
	blocker.armed = true
	blocker.mu.Unlock()
	setStock(t, e, v, 9, "cancel-9")
	var leader string
	select {
	case leader = <-blocker.blocked:
	case <-time.After(msgWait):
		t.Fatal("no subscriber executed the value")
	}
	other := "a"
	if leader == "a" {
		other = "b"
	}
	socks[leader].send(map[string]any{"id": leader, "type": "complete"})
	got := socks[other].next(other)
	if !strings.Contains(got, `"available":9`) || strings.Contains(got, "errors") {
		t.Fatalf("the leader (%s) stopped mid-execution; the other member (%s) was sent %s", leader, other, got)
	}
}

// TestSharedStalledLeaderHoldsNoOneUp: a client that stops reading,
// subscribed to the same operation as a healthy one, must not hold up the
// healthy one's values for its write timeout (README: "a client that stops
// reading is dropped without holding up the others").
func TestSharedStalledLeaderHoldsNoOneUp(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.SocketWriteTimeout = 4 * time.Second
	e := graphtest.New(t, graphtest.Options{Config: &cfg, SubscriptionRate: 1000})
	v := bulkyVariant(t, e, 5000)
	// Both run bulkySub (one group); each value is ~20 KB, so the stalled
	// client's buffers fill after a few.
	vars := map[string]any{"ids": []string{v}}
	stalled := dialStalled(t, e)
	// Several subscriptions on the stalled socket: it leads most values.
	for i := range 8 {
		graphtest.Must(t, stalled.WriteJSON(map[string]any{"id": fmt.Sprint("x", i), "type": "subscribe", "payload": map[string]any{"query": bulkySub, "variables": vars}}))
	}
	healthy := dialWS(t, e, "")
	healthy.subscribe("h", bulkySub, vars)
	healthy.next("h")
	topic := waitSubscribers(t, e, v, 9)
	for i := 0; e.Broker.Subscribers(topic) > 1 && i < 200; i++ {
		setStock(t, e, v, 4000-i, fmt.Sprint("stall", i))
		start := time.Now()
		want := fmt.Sprintf(`"available":%d`, 4000-i)
		for got := ""; !strings.Contains(got, want); {
			got = healthy.next("h")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("change %d reached the healthy client after %v: held up by the stalled client's write", i, d.Round(time.Millisecond))
		}
	}
}

// dialStalled opens an anonymous socket with a small receive buffer that
// the test never reads from, so the server's writes to it block soon.
func dialStalled(t *testing.T, e *graphtest.Env) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			raw, _ := c.(*net.TCPConn).SyscallConn()
			raw.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}
		return c, err
	}}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(e.URL, "http"), nil)
	graphtest.Must(t, err)
	t.Cleanup(func() { c.Close() })
	initSocket(t, c, nil)
	return c
}

// TestSharedNestedStockIsEachOwn: a subscriber's nested Variant.available
// is read through its operation's stock loader. Two anonymous subscribers
// of one operation, one subscribed before a change and one after, must
// each be sent what their own execution gives: the current stock.
func TestSharedNestedStockIsEachOwn(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 2000, "EUR")
	const q = `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available variant { available } } }`
	vars := map[string]any{"ids": []string{v}}
	a := dialWS(t, e, "")
	a.subscribe("a", q, vars)
	if got := a.next("a"); !strings.Contains(got, `"variant":{"available":10}`) {
		t.Fatalf("a's first value: %s", got)
	}
	setStock(t, e, v, 9, "nested-9")
	if got := a.next("a"); !strings.Contains(got, `"variant":{"available":9}`) {
		t.Fatalf("a after the change to 9: %s", got)
	}
	b := dialWS(t, e, "")
	b.subscribe("b", q, vars)
	if got := b.next("b"); !strings.Contains(got, `"variant":{"available":9}`) {
		t.Fatalf("b's first value: %s", got)
	}
	setStock(t, e, v, 8, "nested-8")
	for _, w := range []struct {
		c  *wsClient
		id string
	}{{a, "a"}, {b, "b"}} {
		if got := w.c.next(w.id); !strings.Contains(got, `"variant":{"available":8}`) {
			t.Fatalf("%s after the change to 8: %s", w.id, got)
		}
	}
}

// TestSharedAcrossSubprotocols: graphql-ws and graphql-transport-ws
// sockets in one group, and one socket subscribed twice under two ids:
// each message carries its socket's type ("data" or "next") and its own
// id, the group shares, and no group outlives the sockets.
func TestSharedAcrossSubprotocols(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 2000, "EUR")
	vars := map[string]any{"ids": []string{v}}
	type sub struct {
		c         *websocket.Conn
		ids       []string
		typ, verb string
	}
	var subs []sub
	for i := range 6 {
		proto, typ, verb := "graphql-transport-ws", "next", "subscribe"
		if i%2 == 1 {
			proto, typ, verb = "graphql-ws", "data", "start"
		}
		c := rawSocket(t, e, proto)
		initSocket(t, c, nil)
		s := sub{c, []string{fmt.Sprint("p", i, "-1"), fmt.Sprint("p", i, "-2")}, typ, verb}
		for _, id := range s.ids {
			graphtest.Must(t, c.WriteJSON(map[string]any{"id": id, "type": verb, "payload": map[string]any{"query": stockSub, "variables": vars}}))
		}
		subs = append(subs, s)
	}
	expect := func(available int) {
		t.Helper()
		for _, s := range subs {
			seen := map[string]bool{}
			for len(seen) < len(s.ids) {
				m := readMsg(t, s.c)
				id, _ := m["id"].(string)
				if m["type"] != s.typ || (id != s.ids[0] && id != s.ids[1]) || seen[id] || !strings.Contains(fmt.Sprint(m["payload"]), fmt.Sprintf("available:%d", available)) {
					t.Fatalf("socket of %v (want %s): %v", s.ids, s.typ, m)
				}
				seen[id] = true
			}
		}
	}
	expect(10)
	shared0, own0 := e.API.SubscriptionSends()
	setStock(t, e, v, 9, "proto-mix-9")
	expect(9)
	if shared, own := waitSends(t, e, shared0, own0, 12); shared != 11 || own != 1 {
		t.Fatalf("12 subscribers of one operation: %d shared, %d own", shared, own)
	}
	for _, s := range subs {
		s.c.Close()
	}
	for deadline := time.Now().Add(msgWait); e.API.ShareGroups() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d groups left", e.API.ShareGroups())
		}
	}
}
