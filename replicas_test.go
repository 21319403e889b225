package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/checkout/accounts"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestTwoProcessesOnePostgres: two merchd processes share one PostgreSQL;
// 1,000 buyers split between them race for a 100-unit drop. Exactly 100
// are held and then sold, across both.
func TestTwoProcessesOnePostgres(t *testing.T) {
	dbURL := graphtest.NewPostgresDB(t)
	mock := graphtest.StripeMock(t)
	bin := graphtest.BuildMerchd(t)
	env := []string{"MERCHD_STRIPE_SECRET_KEY=sk_test_123", "MERCHD_STRIPE_WEBHOOK_SECRET=" + graphtest.WebhookSecret}
	flags := []string{"--database", dbURL, "--stripe-api-url", mock}
	var urls [2]string
	var wg sync.WaitGroup
	for i := range urls {
		wg.Go(func() { urls[i] = graphtest.StartServe(t, bin, env, flags...) }) // start together: migrations race too
	}
	wg.Wait()

	ctx := context.Background()
	db, err := entdb.Open(ctx, entdb.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	accounts, _ := accounts.New(db.Client, accounts.Config{SessionTTL: time.Hour, Password: graphtest.FastPasswords, Throttle: accounts.ThrottleConfig{Off: true, MaxHashing: 1024}})
	staff, err := accounts.CreateStaffToken(ctx, "ops@example.com", "Ops", "test")
	if err != nil {
		t.Fatal(err)
	}
	const buyers, units = 1000, 100
	toks := make([]string, buyers)
	for i := range buyers {
		wg.Go(func() {
			s, err := accounts.SignUp(ctx, fmt.Sprintf("buyer%d@replicas.example", i), "correct horse battery", "")
			if err != nil {
				t.Error(err)
				return
			}
			toks[i] = s.Token
		})
	}
	wg.Wait()

	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 96, MaxIdleConnsPerHost: 96}}
	do := func(base, token, q string, vars map[string]any) graphtest.Response {
		return graphtest.PostClient(t, client, base+"/query", token, map[string]any{"query": q, "variables": vars})
	}
	var p struct {
		CreateProduct struct{ Product struct{ ID string } }
	}
	do(urls[0], staff, `mutation { createProduct(input: {title: "Replica tee", slug: "replica-tee"}) { product { id } } }`, nil).Decode(t, &p)
	var v struct {
		CreateVariant struct{ Variant struct{ ID string } }
	}
	do(urls[1], staff, `mutation($p: ID!) { createVariant(input: {productId: $p, sku: "RT-1", title: "M", price: {amount: 3000, currency: "EUR"}}) { variant { id } } }`,
		map[string]any{"p": p.CreateProduct.Product.ID}).Decode(t, &v)
	vid := v.CreateVariant.Variant.ID
	do(urls[0], staff, `mutation($v: ID!) { setStock(input: {variantId: $v, available: 150, idempotencyKey: "s"}) { available } }`, map[string]any{"v": vid}).Decode(t, &struct{}{})
	now := time.Now().UTC()
	do(urls[1], staff, `mutation($v: ID!, $o: Time!, $c: Time!) { createDrop(input: {title: "Replicas", variantIds: [$v], cap: 100, perCustomerLimit: 1, opensAt: $o, closesAt: $c}) { drop { id } } }`,
		map[string]any{"v": vid, "o": now.Add(-time.Minute), "c": now.Add(time.Hour)}).Decode(t, &struct{}{})

	add := `mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id } } }`

	// A subscriber on process B hears about a purchase made on process A.
	var v2 struct {
		CreateVariant struct{ Variant struct{ ID string } }
	}
	do(urls[0], staff, `mutation($p: ID!) { createVariant(input: {productId: $p, sku: "RT-2", title: "L", price: {amount: 3000, currency: "EUR"}}) { variant { id } } }`,
		map[string]any{"p": p.CreateProduct.Product.ID}).Decode(t, &v2)
	do(urls[0], staff, `mutation($v: ID!) { setStock(input: {variantId: $v, available: 5, idempotencyKey: "s2"}) { available } }`, map[string]any{"v": v2.CreateVariant.Variant.ID}).Decode(t, &struct{}{})
	ws, _, err := (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}).Dial("ws"+strings.TrimPrefix(urls[1], "http")+"/query", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	ws.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{}})
	ws.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription($v: [ID!]!) { stockChanged(variantIds: $v) { available } }`, "variables": map[string]any{"v": []string{v2.CreateVariant.Variant.ID}}}})
	readAvail := func() string {
		for {
			var m struct {
				Type    string
				Payload json.RawMessage
			}
			if err := ws.ReadJSON(&m); err != nil {
				t.Fatalf("subscriber on B: %v", err)
			}
			if m.Type == "next" {
				return string(m.Payload)
			}
		}
	}
	if got := readAvail(); !strings.Contains(got, `"available":5`) {
		t.Fatalf("first value on B: %s", got)
	}
	do(urls[0], toks[0], add, map[string]any{"i": map[string]any{"variantId": v2.CreateVariant.Variant.ID, "quantity": 2, "idempotencyKey": "cross"}}).Decode(t, &struct{}{})
	if got := readAvail(); !strings.Contains(got, `"available":3`) {
		t.Fatalf("B's subscriber after a purchase on A: %s", got)
	}
	// B's response cache follows a catalog edit made on A (announced on
	// PostgreSQL's LISTEN/NOTIFY, like the subscriptions).
	anonPage := func(base, variantID string) (body, how string) {
		raw, _ := json.Marshal(map[string]any{"query": `query($id: ID!) { node(id: $id) { ... on Variant { available price { amount } } } }`,
			"variables": map[string]any{"id": variantID}})
		res, err := client.Post(base+"/query", "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b), res.Header.Get("X-Merchd-Cache")
	}
	anonPage(urls[1], v2.CreateVariant.Variant.ID)
	if _, how := anonPage(urls[1], v2.CreateVariant.Variant.ID); how != "hit" {
		t.Fatalf("B's second anonymous read: cache %q, want hit", how)
	}
	edited := time.Now()
	do(urls[0], staff, `mutation($v: ID!) { updateVariant(input: {id: $v, price: {amount: 3100, currency: "EUR"}}) { variant { id } } }`,
		map[string]any{"v": v2.CreateVariant.Variant.ID}).Decode(t, &struct{}{})
	for {
		body, _ := anonPage(urls[1], v2.CreateVariant.Variant.ID)
		if strings.Contains(body, `"amount":3100`) {
			break
		}
		if time.Since(edited) > 3*time.Second {
			t.Fatalf("B still serves the old price 3 s after the edit on A: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("a price edited on A reached B's cached page in %v", time.Since(edited).Round(time.Millisecond))
	for _, u := range urls {
		anonPage(u, vid)
		anonPage(u, vid)
	}

	addLine := `mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id } line { id } } }`
	codes := make([]string, buyers)
	carts := make([]string, buyers)
	lines := make([]string, buyers)
	start := make(chan struct{})
	for i := range buyers {
		wg.Go(func() {
			<-start
			r := do(urls[i%2], toks[i], addLine, map[string]any{"i": map[string]any{"variantId": vid, "quantity": 1, "idempotencyKey": "go"}})
			codes[i] = r.Code()
			if r.Code() == "" {
				var out struct {
					AddToCart struct {
						Cart struct{ ID string }
						Line struct{ ID string }
					}
				}
				r.Decode(t, &out)
				carts[i], lines[i] = out.AddToCart.Cart.ID, out.AddToCart.Line.ID
			}
		})
	}
	close(start)
	wg.Wait()
	counts := map[string]int{}
	perProcess := [2]int{}
	for i, c := range codes {
		counts[c]++
		if c == "" {
			perProcess[i%2]++
		}
	}
	t.Logf("held per process: %v", perProcess)
	if counts[""] != units || counts["OUT_OF_STOCK"] != buyers-units {
		t.Fatalf("outcomes %v, want %d held and %d OUT_OF_STOCK", counts, units, buyers-units)
	}
	if perProcess[0] == 0 || perProcess[1] == 0 {
		t.Fatalf("one process sold nothing: %v", perProcess)
	}

	// Sold out, and both processes refuse from their sold-out memo. A unit
	// put back on one process sells on the other at once: the put-back's
	// announcement (LISTEN/NOTIFY) voids the other's memo.
	w, l := -1, -1
	for i := range buyers {
		if codes[i] == "" && w < 0 {
			w = i
		}
	}
	for i := range buyers {
		if codes[i] != "" && i%2 != w%2 {
			l = i
			break
		}
	}
	for range 3 { // the memo is set on the loser's process
		if r := do(urls[l%2], toks[l], addLine, map[string]any{"i": map[string]any{"variantId": vid, "quantity": 1, "idempotencyKey": "again"}}); r.Code() != "OUT_OF_STOCK" {
			t.Fatalf("a loser retrying while sold out: %q", r.Code())
		}
	}
	putBack := time.Now()
	if r := do(urls[w%2], toks[w], `mutation($i: RemoveFromCartInput!) { removeFromCart(input: $i) { cart { id } } }`,
		map[string]any{"i": map[string]any{"lineId": lines[w], "idempotencyKey": "back"}}); r.Code() != "" {
		t.Fatalf("putting a unit back: %q", r.Code())
	}
	for {
		r := do(urls[l%2], toks[l], addLine, map[string]any{"i": map[string]any{"variantId": vid, "quantity": 1, "idempotencyKey": "again"}})
		if r.Code() == "" {
			var out struct {
				AddToCart struct{ Cart struct{ ID string } }
			}
			r.Decode(t, &out)
			carts[w], carts[l] = "", out.AddToCart.Cart.ID
			break
		}
		if r.Code() != "OUT_OF_STOCK" || time.Since(putBack) > 3*time.Second {
			t.Fatalf("the unit put back on one process: the other still answers %q after %v", r.Code(), time.Since(putBack))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("a unit put back on one process sold on the other %v later", time.Since(putBack).Round(time.Millisecond))

	// Each winner checks out on its process; Stripe (stripe-mock) creates the
	// PaymentIntents and the signed success events go to the other process.
	co := `mutation($i: CheckoutInput!) { checkout(input: $i) { order { id total { amount } } paymentIntentId } }`
	for i := range buyers {
		if carts[i] == "" {
			continue
		}
		wg.Go(func() {
			var out struct {
				Checkout struct {
					Order struct {
						ID    string
						Total struct{ Amount int64 }
					}
					PaymentIntentID string
				}
			}
			do(urls[i%2], toks[i], co, map[string]any{"i": map[string]any{"cartId": carts[i], "payWith": map[string]any{"card": true}, "idempotencyKey": "pay"}}).Decode(t, &out)
			oid, _ := gid.Decode(out.Checkout.Order.ID)
			body, sig := graphtest.SignedEvent(t, "evt_"+strconv.Itoa(i), "payment_intent.succeeded", map[string]any{
				"id": out.Checkout.PaymentIntentID, "object": "payment_intent", "amount": out.Checkout.Order.Total.Amount,
				"currency": "eur", "status": "succeeded", "metadata": map[string]string{"merchd_order_id": strconv.Itoa(oid)},
			})
			if code := graphtest.Deliver(t, urls[(i+1)%2]+"/webhooks/stripe", body, sig); code != http.StatusOK {
				t.Errorf("webhook: %d", code)
			}
		})
	}
	wg.Wait()
	sys := viewer.SystemContext(ctx)
	if n := db.Client.Order.Query().Where(order.StatusEQ(order.StatusPAID)).CountX(sys); n != units {
		t.Fatalf("%d paid orders, want %d", n, units)
	}
	var avail int
	vnum, _ := gid.Decode(vid)
	if err := db.SQL.QueryRow("SELECT available FROM stocks WHERE variant_id = $1", vnum).Scan(&avail); err != nil || avail != 50 {
		t.Fatalf("stock %d (%v), want 50", avail, err)
	}
	// Both processes' anonymous pages (cached before the storm) show it.
	for _, u := range urls {
		if body, _ := anonPage(u, vid); !strings.Contains(body, `"available":50`) {
			t.Fatalf("%s after the storm: %s", u, body)
		}
	}
}

func TestMain(m *testing.M) {
	if spec := os.Getenv("MERCHD_FANOUT_CLIENT"); spec != "" {
		fanoutClientProcess(spec) // BenchmarkFanout's client process
		return
	}
	graphtest.Main(m)
}
