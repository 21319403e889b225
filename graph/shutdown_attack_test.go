package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/graphtest"
)

// dialStalledSSE opens an anonymous SSE subscription on a socket with a
// small receive buffer that the test never reads from.
func dialStalledSSE(t *testing.T, e *graphtest.Env, query string, vars map[string]any) net.Conn {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimSuffix(e.URL, "/query"), "http://")
	d := net.Dialer{Control: func(_, _ string, raw syscall.RawConn) error {
		return raw.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", host)
	graphtest.Must(t, err)
	t.Cleanup(func() { c.Close() })
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	_, err = fmt.Fprintf(c, "POST /query HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: %d\r\n\r\n%s", host, len(body), body)
	graphtest.Must(t, err)
	return c
}

// TestShutdownEndsAStalledSSEStream: an SSE subscriber that stops reading
// (its buffers full, the server's handler blocked in a write) must not
// hold up shutdown: GoingAway promises every SSE subscription ends and serve
// returns nil without waiting out --shutdown-timeout. serve.go's server
// has no WriteTimeout, and cancelling the stream's context does not
// unblock a write, so http.Server.Shutdown waits for its deadline and
// serve reports "serve: shutdown: context deadline exceeded".
func TestShutdownEndsAStalledSSEStream(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{SubscriptionRate: 1000})
	// Each value is big (~20 KB), so a stalled client's buffers fill.
	v := bulkyVariant(t, e, 5000)
	dialStalledSSE(t, e, bulkySub, map[string]any{"ids": []string{v}})
	waitSubscribers(t, e, v, 1)
	// ~20 KB a value: 4 MB, more than the kernel buffers of the two ends.
	for i := range 200 {
		setStock(t, e, v, 4000-i, fmt.Sprint("sse-stall", i))
	}
	time.Sleep(500 * time.Millisecond)

	start := time.Now()
	err := shutdownLikeServe(e, 5*time.Second)
	if err != nil {
		t.Fatalf("Shutdown with a stalled SSE subscriber: %v after %v (serve would return \"serve: shutdown: %v\")", err, time.Since(start).Round(time.Millisecond), err)
	}
}

var _ = graph.DefaultConfig

// TestGoingAwayEveryKindOfSocket: sockets before and after connection_init
// in both subprotocols, with and without subscriptions, and a stalled one;
// GoingAway called twice at once. Each readable socket gets 1001, none is
// left open, the connection slots come back, and a later upgrade is
// closed with 1001.
func TestGoingAwayEveryKindOfSocket(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 2000, "EUR")
	var socks []*websocket.Conn
	dial := func(proto string) *websocket.Conn {
		d := websocket.Dialer{Subprotocols: []string{proto}}
		c, _, err := d.Dial("ws"+strings.TrimPrefix(e.URL, "http"), nil)
		graphtest.Must(t, err)
		t.Cleanup(func() { c.Close() })
		socks = append(socks, c)
		return c
	}
	for range 3 {
		for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
			dial(proto) // before connection_init
			c := dial(proto)
			initSocket(t, c, nil)
			c = dial(proto)
			initSocket(t, c, nil)
			typ := "subscribe"
			if proto == "graphql-ws" {
				typ = "start"
			}
			graphtest.Must(t, c.WriteJSON(map[string]any{"id": "1", "type": typ, "payload": map[string]any{"query": stockSub, "variables": map[string]any{"ids": []string{v}}}}))
		}
	}
	dialStalled(t, e)
	waitSubscribers(t, e, v, 6)
	done := make(chan struct{})
	go func() { e.API.GoingAway(context.Background()); close(done) }()
	e.API.GoingAway(context.Background())
	<-done
	for i, c := range socks {
		c.SetReadDeadline(time.Now().Add(msgWait))
		var err error
		for err == nil {
			_, _, err = c.ReadMessage()
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Errorf("socket %d: %v, want a close frame with 1001", i, err)
		}
	}
	late := dial("graphql-transport-ws")
	late.SetReadDeadline(time.Now().Add(msgWait))
	_, _, err := late.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("an upgrade after GoingAway: %v, want a close frame with 1001", err)
	}
	// Every slot is back: as many new sockets as the per-address cap.
	for i := range graph.DefaultConfig().MaxConnectionsPerIP {
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		c, resp, err := d.Dial("ws"+strings.TrimPrefix(e.URL, "http"), nil)
		if err != nil {
			t.Fatalf("socket %d after GoingAway: %v (%v)", i, err, resp.Status)
		}
		c.Close()
	}
}

// TestStalledSSEIsDropped: an SSE subscriber that stops reading is
// disconnected once a write has waited SocketWriteTimeout, as a websocket
// is: its subscription and its connection slot go, and a handler is not
// held in a write forever.
func TestStalledSSEIsDropped(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.SocketWriteTimeout = 300 * time.Millisecond
	e := graphtest.New(t, graphtest.Options{SubscriptionRate: 1000, Config: &cfg})
	// Each value is big (~20 KB), so a stalled client's buffers fill.
	v := bulkyVariant(t, e, 5000)
	dialStalledSSE(t, e, bulkySub, map[string]any{"ids": []string{v}})
	topic := waitSubscribers(t, e, v, 1)
	for i := 0; e.Broker.Subscribers(topic) > 0; i++ {
		if i == 400 {
			t.Fatalf("after %d values (~20 KB each) the stalled SSE subscriber is still subscribed", i)
		}
		setStock(t, e, v, 4000-i, fmt.Sprint("sse-drop", i))
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSSEConnectionReusedAfterTheStream: an SSE stream's write deadline
// does not outlive it. After a stream ends, the client's next request on
// the same keep-alive connection, made later than SocketWriteTimeout, is
// answered (net/http clears a handler's write deadline when it returns;
// this holds us to that).
func TestSSEConnectionReusedAfterTheStream(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.SocketWriteTimeout = 300 * time.Millisecond
	e := graphtest.New(t, graphtest.Options{Config: &cfg})
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	post := func(body string, sse bool) (*http.Response, bool) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if sse {
			req.Header.Set("Accept", "text/event-stream")
		}
		reused := false
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
		resp, err := client.Do(req)
		graphtest.Must(t, err)
		return resp, reused
	}
	// A subscription that ends by itself: an unknown variant is an error,
	// then the stream completes.
	resp, _ := post(`{"query":"subscription { stockChanged(variantIds: [\"VmFyaWFudDo5OTk5OTk=\"]) { available } }"}`, true)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(b), "event: complete") {
		t.Fatalf("the SSE stream: %q %v, want it to complete", b, err)
	}
	time.Sleep(3 * cfg.SocketWriteTimeout)
	resp, reused := post(`{"query":"{ __typename }"}`, false)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !reused {
		t.Fatal("the client did not reuse the stream's connection")
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "Query") {
		t.Fatalf("the next request on the stream's connection: %d %q", resp.StatusCode, b)
	}
}

// shutdownLikeServe stops e's server as serve does: GoingAway beside
// http.Server.Shutdown, with one deadline.
func shutdownLikeServe(e *graphtest.Env, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	away := make(chan struct{})
	go func() { e.API.GoingAway(ctx); close(away) }()
	err := e.Server.Config.Shutdown(ctx)
	<-away
	return err
}

// TestRequestTimeoutBoundsAHeldLock: a buyer's addToCart waiting for a
// stock row another transaction holds answers UNAVAILABLE by the request
// timeout, over POST and over SSE. Before, a hold's group commit waited up
// to 30 s whatever the request's deadline, and a mutation over SSE had no
// request timeout at all.
func TestRequestTimeoutBoundsAHeldLock(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		if d != "postgres" {
			// On SQLite the test's transaction is a writer outside the
			// server's queue: a BEGIN waits for it in SQLite's busy handler,
			// which no context ends, unlike the server's own writers.
			continue
		}
		t.Run(d, func(t *testing.T) {
			cfg := graph.DefaultConfig()
			cfg.RequestTimeout = 500 * time.Millisecond
			e := graphtest.New(t, graphtest.Options{Dialect: d, Config: &cfg})
			v := newVariant(t, e, 10, 1000, "EUR")
			buyer, _ := e.SignUp(t, "patient@timeout.example")
			ctx := viewer.SystemContext(context.Background())
			tx, err := e.Client.Tx(ctx)
			graphtest.Must(t, err)
			defer tx.Rollback()
			graphtest.Must(t, tx.Stock.Update().Where(stock.VariantID(mustDecodeInt(t, v))).AddAvailable(0).Exec(ctx))
			for _, accept := range []string{"application/json", "text/event-stream"} {
				body, _ := json.Marshal(map[string]any{"query": `mutation($v: ID!, $k: String!) { addToCart(input: {variantId: $v, quantity: 1, idempotencyKey: $k}) { line { id } } }`,
					"variables": map[string]any{"v": v, "k": "timeout-" + accept}})
				req, _ := http.NewRequest(http.MethodPost, e.URL, strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", accept)
				req.Header.Set("Authorization", "Bearer "+buyer)
				resp, err := (&http.Client{Timeout: 8 * time.Second}).Do(req)
				var b []byte
				if err == nil {
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					t.Fatalf("an addToCart held past the request timeout, over %s, was not answered: %v", accept, err)
				}
				if !strings.Contains(string(b), "UNAVAILABLE") {
					t.Fatalf("over %s: %s, want UNAVAILABLE (a deadline passed)", accept, b)
				}
			}
		})
	}
}
