package graph_test

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/graphtest"
)

// Protocol tests of package wsock, the websocket transport, through real
// sockets to a real server.

// rawSocket dials with the given subprotocols (none: no header).
func rawSocket(t *testing.T, e *graphtest.Env, protos ...string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protos}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(e.URL, "http"), nil)
	graphtest.Must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// closeCode reads until the server closes the socket and returns the close
// code and reason (failing after msgWait).
func closeCode(t *testing.T, c *websocket.Conn) (int, string) {
	t.Helper()
	return closeCodeWithin(t, c, msgWait)
}

// closeCodeWithin is closeCode failing after within.
func closeCodeWithin(t *testing.T, c *websocket.Conn, within time.Duration) (int, string) {
	t.Helper()
	graphtest.Must(t, c.SetReadDeadline(time.Now().Add(within)))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server did not close the socket within %v", within)
		}
		t.Fatalf("the socket ended without a close frame: %v", err)
		return 0, ""
	}
}

func readMsg(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	graphtest.Must(t, c.SetReadDeadline(time.Now().Add(msgWait)))
	for {
		var m map[string]any
		graphtest.Must(t, c.ReadJSON(&m))
		if m["type"] != "ka" {
			return m
		}
	}
}

func initSocket(t *testing.T, c *websocket.Conn, payload map[string]any) {
	t.Helper()
	graphtest.Must(t, c.WriteJSON(map[string]any{"type": "connection_init", "payload": payload}))
	if m := readMsg(t, c); m["type"] != "connection_ack" {
		t.Fatalf("init: %v", m)
	}
}

// TestSocketBothSubprotocols: a stock subscription, ping/pong, a query and
// stopping a subscription, in graphql-transport-ws and legacy graphql-ws.
func TestSocketBothSubprotocols(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	for _, tc := range []struct{ proto, subscribe, next, stop string }{
		{"graphql-transport-ws", "subscribe", "next", "complete"},
		{"graphql-ws", "start", "data", "stop"},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			v := newVariant(t, e, 7, 1000, "EUR")
			topic := "stock:" + mustDecode(t, v)
			c := rawSocket(t, e, tc.proto)
			if c.Subprotocol() != tc.proto {
				t.Fatalf("negotiated %q", c.Subprotocol())
			}
			initSocket(t, c, nil)
			if tc.proto == "graphql-transport-ws" {
				graphtest.Must(t, c.WriteJSON(map[string]any{"type": "ping", "payload": map[string]any{"n": 1}}))
				if m := readMsg(t, c); m["type"] != "pong" || fmt.Sprint(m["payload"]) != "map[n:1]" {
					t.Fatalf("ping answered with %v", m)
				}
			}
			graphtest.Must(t, c.WriteJSON(map[string]any{"id": "s", "type": tc.subscribe, "payload": map[string]any{"query": stockSub, "variables": map[string]any{"ids": []string{v}}}}))
			if m := readMsg(t, c); m["type"] != tc.next || m["id"] != "s" || !strings.Contains(fmt.Sprint(m["payload"]), "available:7") {
				t.Fatalf("first value: %v", m)
			}
			// A query on the same socket: one result, then complete.
			graphtest.Must(t, c.WriteJSON(map[string]any{"id": "q", "type": tc.subscribe, "payload": map[string]any{"query": "{ __typename }"}}))
			if m := readMsg(t, c); m["type"] != tc.next || m["id"] != "q" {
				t.Fatalf("query result: %v", m)
			}
			if m := readMsg(t, c); m["type"] != "complete" || m["id"] != "q" {
				t.Fatalf("after the query's result: %v", m)
			}
			setStock(t, e, v, 6, "proto-"+tc.proto)
			if m := readMsg(t, c); m["type"] != tc.next || !strings.Contains(fmt.Sprint(m["payload"]), "available:6") {
				t.Fatalf("the change: %v", m)
			}
			// Stopping it unsubscribes from the broker.
			graphtest.Must(t, c.WriteJSON(map[string]any{"id": "s", "type": tc.stop}))
			deadline := time.Now().Add(msgWait)
			for e.Broker.Subscribers(topic) != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("still %d subscribers after %s", e.Broker.Subscribers(topic), tc.stop)
				}
				time.Sleep(10 * time.Millisecond)
			}
			// And the id is free again.
			graphtest.Must(t, c.WriteJSON(map[string]any{"id": "s", "type": tc.subscribe, "payload": map[string]any{"query": stockSub, "variables": map[string]any{"ids": []string{v}}}}))
			if m := readMsg(t, c); m["type"] != tc.next || m["id"] != "s" {
				t.Fatalf("subscribing again under the stopped id: %v", m)
			}
		})
	}
	t.Run("graphql-ws connection_terminate", func(t *testing.T) {
		c := rawSocket(t, e, "graphql-ws")
		initSocket(t, c, nil)
		graphtest.Must(t, c.WriteJSON(map[string]any{"type": "connection_terminate"}))
		if code, _ := closeCode(t, c); code != 1000 {
			t.Fatalf("close code %d, want 1000", code)
		}
	})
	t.Run("no subprotocol asked is graphql-ws", func(t *testing.T) {
		c := rawSocket(t, e)
		initSocket(t, c, nil)
		graphtest.Must(t, c.WriteJSON(map[string]any{"id": "1", "type": "start", "payload": map[string]any{"query": "{ __typename }"}}))
		if m := readMsg(t, c); m["type"] != "data" {
			t.Fatalf("result: %v", m)
		}
	})
	t.Run("an unknown subprotocol is 4406", func(t *testing.T) {
		c := rawSocket(t, e, "graphql-nope")
		if code, _ := closeCode(t, c); code != 4406 {
			t.Fatalf("close code %d, want 4406", code)
		}
	})
}

// TestSocketCloseCodes: each protocol violation closes the socket with
// graphql-transport-ws's code for it.
func TestSocketCloseCodes(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.SocketInitTimeout = 300 * time.Millisecond
	e := graphtest.New(t, graphtest.Options{Config: &cfg})
	v := newVariant(t, e, 5, 1000, "EUR")
	sub := map[string]any{"query": stockSub, "variables": map[string]any{"ids": []string{v}}}
	for _, tc := range []struct {
		name   string
		noInit bool
		send   []any
		code   int
		reason string
	}{
		{name: "no init in time", noInit: true, code: 4408, reason: "initialisation timeout"},
		{name: "subscribe before init", noInit: true, send: []any{map[string]any{"id": "1", "type": "subscribe", "payload": sub}}, code: 4401, reason: "Unauthorized"},
		{name: "second init", send: []any{map[string]any{"type": "connection_init"}}, code: 4429, reason: "Too many initialisation requests"},
		{name: "duplicate id", send: []any{
			map[string]any{"id": "a", "type": "subscribe", "payload": sub},
			map[string]any{"id": "a", "type": "subscribe", "payload": sub},
		}, code: 4409, reason: "Subscriber for a already exists"},
		{name: "not JSON", send: []any{"{not json"}, code: 4400},
		{name: "unknown type", send: []any{map[string]any{"type": "start", "id": "1"}}, code: 4400},
		{name: "no id", send: []any{map[string]any{"type": "subscribe", "payload": sub}}, code: 4400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawSocket(t, e, "graphql-transport-ws")
			if !tc.noInit {
				initSocket(t, c, nil)
			}
			for _, m := range tc.send {
				if s, ok := m.(string); ok {
					graphtest.Must(t, c.WriteMessage(websocket.TextMessage, []byte(s)))
				} else {
					graphtest.Must(t, c.WriteJSON(m))
				}
			}
			code, reason := closeCode(t, c)
			if code != tc.code || !strings.Contains(reason, tc.reason) {
				t.Fatalf("closed with %d %q, want %d %q", code, reason, tc.code, tc.reason)
			}
		})
	}
	t.Run("forged token is 4403", func(t *testing.T) {
		for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
			c := rawSocket(t, e, proto)
			graphtest.Must(t, c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer mcs_forged"}}))
			if proto == "graphql-ws" {
				if m := readMsg(t, c); m["type"] != "connection_error" {
					t.Fatalf("graphql-ws refusal: %v", m)
				}
			}
			if code, reason := closeCode(t, c); code != 4403 || !strings.Contains(reason, "Forbidden") {
				t.Fatalf("%s: closed with %d %q, want 4403 Forbidden", proto, code, reason)
			}
		}
	})
	t.Run("revoked session is 4403", func(t *testing.T) {
		tok, _ := e.SignUp(t, "revoked@wsock.example")
		c := rawSocket(t, e, "graphql-transport-ws")
		initSocket(t, c, map[string]any{"Authorization": "Bearer " + tok})
		e.Do(t, tok, `mutation { signOut { ok } }`, nil).Decode(t, &struct{}{})
		if code, reason := closeCode(t, c); code != 4403 || !strings.Contains(reason, "session ended") {
			t.Fatalf("closed with %d %q, want 4403 session ended", code, reason)
		}
	})
}

// TestSocketSlotComesBackAfterServerClose: a socket the server closes (a
// protocol violation) gives its per-address slot back.
func TestSocketSlotComesBackAfterServerClose(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.MaxConnectionsPerIP = 1
	e := graphtest.New(t, graphtest.Options{Config: &cfg})
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	url := "ws" + strings.TrimPrefix(e.URL, "http")
	for i := range 3 {
		var c *websocket.Conn
		deadline := time.Now().Add(msgWait)
		for {
			var err error
			c, _, err = d.Dial(url, nil)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("socket %d: the slot never came back: %v", i, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		graphtest.Must(t, c.WriteMessage(websocket.TextMessage, []byte("garbage")))
		if code, _ := closeCode(t, c); code != 4400 {
			t.Fatalf("close code %d, want 4400", code)
		}
		c.Close()
	}
}

// TestIdleSubscriptionsHoldNoGoroutines: 20 idle subscriptions on one
// socket hold the socket's one reading goroutine and nothing more (gqlgen's
// transport held 3 per socket and 1 per subscription), and still deliver.
func TestIdleSubscriptionsHoldNoGoroutines(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	vs := make([]string, 20)
	for i := range vs {
		vs[i] = newVariant(t, e, 10+i, 1000, "EUR")
	}
	settle := func(atMost int) int {
		t.Helper()
		deadline := time.Now().Add(msgWait)
		for {
			runtime.GC()
			n := runtime.NumGoroutine()
			if n <= atMost || time.Now().After(deadline) {
				return n
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	before := runtime.NumGoroutine() // whatever the server idles with
	ws := dialWS(t, e, "")
	for i, v := range vs {
		ws.subscribe(fmt.Sprint(i), stockSub, map[string]any{"ids": []string{v}})
		ws.next(fmt.Sprint(i))
	}
	if n := settle(before + 1); n > before+1 {
		t.Fatalf("%d goroutines with 20 idle subscriptions on one socket, %d before: want at most 1 more", n, before)
	}
	setStock(t, e, vs[7], 1, "idle")
	if got := ws.next("7"); !strings.Contains(got, `"available":1`) {
		t.Fatalf("after the change: %s", got)
	}
}

// TestSlowSocketIsDropped: a client that subscribes to big events and
// never reads is disconnected after the write timeout, while a healthy
// one keeps getting every change.
func TestSlowSocketIsDropped(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.SocketWriteTimeout = 300 * time.Millisecond
	cfg.MaxConnectionsPerIP = 2 // the stalled client and the healthy one
	e := graphtest.New(t, graphtest.Options{Config: &cfg, SubscriptionRate: 1000})
	// Each value is big (~20 KB), so a stalled client's buffers fill.
	v := bulkyVariant(t, e, 5000)
	// The stalled client's receive buffer is small, so the server's writes
	// block soon.
	stalled := dialStalled(t, e)
	graphtest.Must(t, stalled.WriteJSON(map[string]any{"id": "x", "type": "subscribe", "payload": map[string]any{
		"query":     bulkySub,
		"variables": map[string]any{"ids": []string{v}}}}))
	healthy := dialWS(t, e, "")
	healthy.subscribe("h", stockSub, map[string]any{"ids": []string{v}})
	healthy.next("h")
	// Both subscriptions are in the broker before the changes start (the
	// stalled one's subscribe may still be on its way).
	topic := waitSubscribers(t, e, v, 2)
	deadline := time.Now().Add(30 * time.Second)
	i := 0
	for ; e.Broker.Subscribers(topic) > 1; i++ {
		if time.Now().After(deadline) || i >= 4000 {
			t.Fatalf("after %d changes the stalled client still holds its subscription", i)
		}
		setStock(t, e, v, 4000-i, fmt.Sprint("slow", i))
		// The healthy client sees each change.
		want := fmt.Sprintf(`"available":%d`, 4000-i)
		for got := ""; !strings.Contains(got, want); {
			got = healthy.next("h")
		}
	}
	t.Logf("the stalled client was dropped after %d changes", i)
	// The server let go of its socket: the address's second slot is free
	// (bounded wait: the slot comes back as the close finishes).
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	for deadline := time.Now().Add(msgWait); ; time.Sleep(10 * time.Millisecond) {
		c, _, err := d.Dial("ws"+strings.TrimPrefix(e.URL, "http"), nil)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stalled socket still holds its slot: %v", err)
		}
	}
}
