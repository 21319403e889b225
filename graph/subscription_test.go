package graph_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/graphtest"
)

// wsClient speaks graphql-transport-ws.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func dialWS(t *testing.T, e *graphtest.Env, token string) *wsClient {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(e.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	w := &wsClient{t: t, c: c}
	w.send(map[string]any{"type": "connection_init", "payload": payload})
	if m := w.recv(); m["type"] != "connection_ack" {
		t.Fatalf("init: %v", m)
	}
	return w
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	graphtest.Must(w.t, w.c.WriteJSON(v))
}

// msgWait is how long one wait for a message may take.
const msgWait = 10 * time.Second

// recv returns the next message other than a keep-alive, waiting at most
// msgWait for it.
func (w *wsClient) recv() map[string]any {
	w.t.Helper()
	return w.recvBefore(time.Now().Add(msgWait))
}

// recvBefore is recv failing the test at deadline.
func (w *wsClient) recvBefore(deadline time.Time) map[string]any {
	w.t.Helper()
	graphtest.Must(w.t, w.c.SetReadDeadline(deadline))
	for {
		var m map[string]any
		if err := w.c.ReadJSON(&m); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				w.t.Fatalf("no message on the socket by the deadline (%v)", err)
			}
			w.t.Fatalf("reading the socket: %v", err)
		}
		if m["type"] != "ping" && m["type"] != "pong" && m["type"] != "ka" {
			return m
		}
	}
}

func (w *wsClient) subscribe(id, query string, vars map[string]any) {
	w.send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
}

// next waits (at most msgWait, whatever other subscriptions send meanwhile)
// for the next message of subscription id and returns its data (or fails
// on error).
func (w *wsClient) next(id string) string {
	w.t.Helper()
	return w.nextBefore(id, time.Now().Add(msgWait))
}

// nextBefore is next failing the test at deadline.
func (w *wsClient) nextBefore(id string, deadline time.Time) string {
	w.t.Helper()
	for {
		m := w.recvBefore(deadline)
		if m["id"] != id {
			continue
		}
		b, _ := json.Marshal(m["payload"])
		if m["type"] != "next" {
			w.t.Fatalf("subscription %s: %s %s", id, m["type"], b)
		}
		return string(b)
	}
}

// refusal waits for subscription id to be refused and returns the code.
func (w *wsClient) refusal(id string) string {
	w.t.Helper()
	deadline := time.Now().Add(msgWait)
	for {
		m := w.recvBefore(deadline)
		if m["id"] != id {
			continue
		}
		var p struct {
			Data   json.RawMessage
			Errors []struct{ Extensions struct{ Code string } }
		}
		b, _ := json.Marshal(m["payload"])
		json.Unmarshal(b, &p)
		if len(p.Errors) == 0 {
			w.t.Fatalf("subscription %s was not refused: %s %s", id, m["type"], b)
		}
		if w.recvBefore(deadline)["type"] != "complete" {
			w.t.Fatalf("a refused subscription %s did not complete", id)
		}
		return p.Errors[0].Extensions.Code
	}
}

func setStock(t testing.TB, e *graphtest.Env, variant string, n int, key string) {
	t.Helper()
	e.Staff(t, `mutation($i: SetStockInput!) { setStock(input: $i) { available } }`,
		map[string]any{"i": map[string]any{"variantId": variant, "available": n, "idempotencyKey": key}}, &struct{}{})
}

const stockSub = `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available variant { sku } } }`

// bulkyVariant is a variant of units whose product has a ~20 KB
// description: each value of bulkySub is that big, so the buffers of a
// client that stops reading fill after a few.
func bulkyVariant(t *testing.T, e *graphtest.Env, units int) string {
	t.Helper()
	v := newVariant(t, e, units, 1000, "EUR")
	var prod struct {
		Node struct{ Product struct{ ID string } }
	}
	e.Do(t, "", `query($id: ID!) { node(id: $id) { ... on Variant { product { id } } } }`, map[string]any{"id": v}).Decode(t, &prod)
	e.Staff(t, `mutation($i: UpdateProductMutationInput!) { updateProduct(input: $i) { product { id } } }`,
		map[string]any{"i": map[string]any{"id": prod.Node.Product.ID, "set": map[string]any{"description": strings.Repeat("merch ", 3333)}}}, &struct{}{})
	return v
}

// bulkySub carries a bulkyVariant's description with each stock value.
const bulkySub = `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available variant { product { description } } } }`

// waitSubscribers waits until variant's stock topic has n subscribers in
// the broker, and returns the topic.
func waitSubscribers(t *testing.T, e *graphtest.Env, variant string, n int) string {
	t.Helper()
	topic := "stock:" + mustDecode(t, variant)
	for deadline := time.Now().Add(msgWait); e.Broker.Subscribers(topic) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers of %s, want %d", e.Broker.Subscribers(topic), variant, n)
		}
	}
	return topic
}

func TestSubscriptionsOverWebsocket(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 12, 1000, "EUR")
	ws := dialWS(t, e, "")
	ws.subscribe("s", stockSub, map[string]any{"ids": []string{v}})
	if got := ws.next("s"); !strings.Contains(got, `"available":12`) {
		t.Fatalf("first value: %s", got)
	}
	setStock(t, e, v, 7, "k7")
	if got := ws.next("s"); !strings.Contains(got, `"available":7`) {
		t.Fatalf("after setStock: %s", got)
	}
	// A hold is a stock change too, and a rolled-back one is not announced.
	tok, _ := e.SignUp(t, "sub@example.com")
	wantCode(t, addToCart(t, e, tok, v, 8, "too-many"), "OUT_OF_STOCK")
	wantCode(t, addToCart(t, e, tok, v, 2, "two"), "")
	if got := ws.next("s"); !strings.Contains(got, `"available":5`) {
		t.Fatalf("after a hold: %s", got)
	}

	// Cart and wallet subscriptions follow the customer's own data.
	cw := dialWS(t, e, tok)
	cw.subscribe("cart", `subscription { cartUpdated { total { amount } lines { hold { expiresAt active } } } }`, nil)
	if got := cw.next("cart"); !strings.Contains(got, `"amount":2000`) {
		t.Fatalf("cart: %s", got)
	}
	addToCart(t, e, tok, v, 1, "one-more").Decode(t, &struct{}{})
	if got := cw.next("cart"); !strings.Contains(got, `"amount":3000`) {
		t.Fatalf("cart after adding: %s", got)
	}
	cw.subscribe("wallet", `subscription { walletUpdated { balance { amount } } }`, nil)
	if got := cw.next("wallet"); got != `{"data":{"walletUpdated":null}}` {
		t.Fatalf("wallet before any movement: %s", got)
	}
	var me struct{ Viewer struct{ ID string } }
	e.Do(t, tok, `{ viewer { id } }`, nil).Decode(t, &me)
	grant(t, e, me.Viewer.ID, 700, "ws-gift")
	if got := cw.next("wallet"); !strings.Contains(got, `"amount":700`) {
		t.Fatalf("wallet after a gift: %s", got)
	}

	// An order turning paid.
	var c struct{ Cart struct{ ID string } }
	e.Do(t, tok, `{ cart { id } }`, nil).Decode(t, &c)
	var out checkoutOut
	e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": c.Cart.ID, "payWith": map[string]any{"card": true}, "idempotencyKey": "ws-co"}}).Decode(t, &out)
	cw.subscribe("order", `subscription($id: ID!) { orderUpdated(orderId: $id) { status } }`, map[string]any{"id": out.Checkout.Order.ID})
	if got := cw.next("order"); !strings.Contains(got, "PENDING_PAYMENT") {
		t.Fatalf("order: %s", got)
	}
	body, sig := e.Stripe.Event(t, "evt_ws", "payment_intent.succeeded", *out.Checkout.PaymentIntentID)
	graphtest.Deliver(t, e.WebhookURL, body, sig)
	if got := cw.next("order"); !strings.Contains(got, `"PAID"`) {
		t.Fatalf("order after payment: %s", got)
	}

	t.Run("others' orders and wallets are refused", func(t *testing.T) {
		other, _ := e.SignUp(t, "nosy@example.com")
		ow := dialWS(t, e, other)
		ow.subscribe("o", `subscription($id: ID!) { orderUpdated(orderId: $id) { status } }`, map[string]any{"id": out.Checkout.Order.ID})
		if code := ow.refusal("o"); code != "NOT_FOUND" {
			t.Fatalf("another customer's order: %s", code)
		}
		anon := dialWS(t, e, "")
		anon.subscribe("w", `subscription { walletUpdated { balance { amount } } }`, nil)
		if code := anon.refusal("w"); code != "UNAUTHENTICATED" {
			t.Fatalf("anonymous wallet: %s", code)
		}
	})
}

func TestSubscriptionLimitPerConnection(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.MaxSubscriptions = 2
	e := graphtest.New(t, graphtest.Options{Config: &cfg})
	v := newVariant(t, e, 3, 1000, "EUR")
	ws := dialWS(t, e, "")
	for _, id := range []string{"a", "b"} {
		ws.subscribe(id, stockSub, map[string]any{"ids": []string{v}})
		ws.next(id)
	}
	ws.subscribe("c", stockSub, map[string]any{"ids": []string{v}})
	if code := ws.refusal("c"); code != "BAD_USER_INPUT" {
		t.Fatalf("third subscription: %s", code)
	}
	// Completing one frees its place.
	ws.send(map[string]any{"id": "a", "type": "complete"})
	topic, deadline := "stock:"+mustDecode(t, v), time.Now().Add(msgWait)
	for n := e.Broker.Subscribers(topic); n != 1; n = e.Broker.Subscribers(topic) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers of the variant %v after completing one of two, want 1", n, msgWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ws.subscribe("d", stockSub, map[string]any{"ids": []string{v}})
	ws.next("d")
}

func mustDecode(t testing.TB, id string) string {
	t.Helper()
	n, err := gid.Decode(id)
	graphtest.Must(t, err)
	return fmt.Sprint(n)
}

// TestSubscriptionsOverSSE: the same subscription over Server-Sent Events,
// authenticated by header.
func TestSubscriptionsOverSSE(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 4, 1000, "EUR")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body, _ := json.Marshal(map[string]any{"query": stockSub, "variables": map[string]any{"ids": []string{v}}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "data:") {
				events <- l
			}
		}
		close(events)
	}()
	wait := func(want string) {
		t.Helper()
		select {
		case ev := <-events:
			if !strings.Contains(ev, want) {
				t.Fatalf("event %q, want %s", ev, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event with %s", want)
		}
	}
	wait(`"available":4`)
	setStock(t, e, v, 1, "sse")
	wait(`"available":1`)
}

// TestGraphQLWSClientSeesStockChange: the npm graphql-ws client subscribes
// against the real server and sees a stock change made by a mutation.
func TestGraphQLWSClientSeesStockChange(t *testing.T) {
	dir := graphtest.NodeDir(t)
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 9, 1000, "EUR")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := fmt.Sprintf(`subscription { stockChanged(variantIds: [%q]) { available } }`, v)
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "ws-query.mjs"), "ws"+strings.TrimPrefix(e.URL, "http"), "", q, "2")
	out, _ := cmd.StdoutPipe()
	graphtest.Must(t, cmd.Start())
	sc := bufio.NewScanner(out)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) == 1 {
			setStock(t, e, v, 3, "npm")
		}
	}
	cmd.Wait()
	if len(lines) != 2 || !strings.Contains(lines[0], `"available":9`) || !strings.Contains(lines[1], `"available":3`) {
		t.Fatalf("graphql-ws client saw %q", lines)
	}
}

// TestStalledSubscriberDoesNotDelayOthers: a client that subscribes and
// never reads does not slow a healthy one, and the server's memory stays
// bounded while changes pour in.
func TestStalledSubscriberDoesNotDelayOthers(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{SubscriptionRate: 1000})
	// Each value is big (~20 KB), so a stalled client's buffers fill.
	v := bulkyVariant(t, e, 1000)
	stalled := dialWS(t, e, "")
	stalled.subscribe("x", `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available variant { sku title product { title description } } } }`, map[string]any{"ids": []string{v}})
	// … and never reads again.
	healthy := dialWS(t, e, "")
	healthy.subscribe("h", stockSub, map[string]any{"ids": []string{v}})
	healthy.next("h")
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := range 400 {
		setStock(t, e, v, 1000-i, fmt.Sprint("s", i))
	}
	changes := time.Since(start)
	// The healthy client ends on the latest value promptly.
	deadline := time.Now().Add(2 * time.Second)
	for got := ""; !strings.Contains(got, `"available":601`); {
		if time.Now().After(deadline) {
			t.Fatalf("healthy subscriber still at %s 2s after the last change", got)
		}
		got = healthy.nextBefore("h", deadline)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("400 changes in %s; heap grew %d KiB with a stalled subscriber", changes.Round(time.Millisecond), grew/1024)
	if grew > 8<<20 {
		t.Fatalf("heap grew %d bytes: the stalled subscriber's backlog is not bounded", grew)
	}
}

// TestBurstsCoalesce: at 5 updates a second, a burst of 50 changes reaches a
// subscriber as at most 5 updates a second, the last one the final value.
//
// Only what the broker promises is asserted, so that a slow machine cannot
// fail it: the topic's reads start at least 1/rate apart, each hands a
// subscriber at most one value, and the first read after the initial one
// starts after the burst begins; so the updates read in the W seconds from
// the first change to the final value number at most floor(W×rate)+1.
// How many that is depends on how fast the 50 mutations go; it is logged.
func TestBurstsCoalesce(t *testing.T) {
	const rate, changes = 5, 50
	e := graphtest.New(t, graphtest.Options{SubscriptionRate: rate})
	v := newVariant(t, e, 100, 1000, "EUR")
	ws := dialWS(t, e, "")
	ws.subscribe("s", stockSub, map[string]any{"ids": []string{v}})
	ws.next("s")
	start := time.Now()
	for i := range changes {
		setStock(t, e, v, changes-i, fmt.Sprint("b", i))
	}
	sent := time.Since(start)
	var got []string
	deadline := time.Now().Add(msgWait)
	for !strings.Contains(lastOf(got), `"available":1,`) && !strings.Contains(lastOf(got), `"available":1}`) {
		got = append(got, ws.nextBefore("s", deadline))
	}
	window := time.Since(start)
	allowed := int(window.Seconds()*rate) + 1
	t.Logf("%d changes in %v arrived as %d updates within %v (at most %d at %d/s)",
		changes, sent.Round(time.Millisecond), len(got), window.Round(time.Millisecond), allowed, rate)
	if len(got) > allowed {
		t.Fatalf("%d updates in %v at %d/s, want at most %d; the first %s, the last %s", len(got), window, rate, allowed, got[0], lastOf(got))
	}
}

func lastOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}
