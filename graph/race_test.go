package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/droppool"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// customers signs up n customers through the accounts service (the race is
// about buying, not signing up) and returns their tokens.
func customers(t testing.TB, e *graphtest.Env, n int, prefix string) []string {
	t.Helper()
	toks := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			s, err := e.Accounts.SignUp(context.Background(), fmt.Sprintf("%s%d@race.example", prefix, i), "correct horse battery", "")
			if err != nil {
				errs <- err
				return
			}
			toks[i] = s.Token
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return toks
}

// TestFlashDropRace: 1,000 buyers at once on a 100-unit drop through real
// HTTP. Exactly 100 units are held, every other buyer is told OUT_OF_STOCK,
// no count goes negative, and then all 100 are sold.
func TestFlashDropRace(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			const buyers, units = 1000, 100
			v := newVariant(t, e, 150, 3000, "EUR") // more stock than the drop's cap
			t0 := e.Clock.Now()
			dropID := createDrop(t, e, map[string]any{"title": "Flash", "variantIds": []string{v}, "cap": units,
				"perCustomerLimit": 1, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
			toks := customers(t, e, buyers, "flash-"+d)

			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 128, MaxIdleConnsPerHost: 128}}
			results := make([]string, buyers)
			carts := make([]string, buyers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range buyers {
				wg.Go(func() {
					<-start
					var out struct {
						AddToCart struct{ Cart struct{ ID string } }
					}
					r := postWith(t, client, e.URL, toks[i], addToCartMutation, map[string]any{"i": map[string]any{
						"variantId": v, "quantity": 1, "idempotencyKey": "flash"}})
					results[i] = r.Code()
					if r.Code() == "" {
						r.Decode(t, &out)
						carts[i] = out.AddToCart.Cart.ID
					}
				})
			}
			close(start)
			wg.Wait()
			counts := map[string]int{}
			for _, c := range results {
				counts[c]++
			}
			if counts[""] != units || counts["OUT_OF_STOCK"] != buyers-units || len(counts) != 2 {
				t.Fatalf("outcomes: %v (want %d held, %d OUT_OF_STOCK)", counts, units, buyers-units)
			}
			ctx := viewer.SystemContext(context.Background())
			dID, _ := gid.Decode(dropID)
			pool := e.Client.DropPool.Query().Where(droppool.DropID(dID)).OnlyX(ctx)
			if pool.Remaining != 0 || stockOf(t, e, v) != 50 {
				t.Fatalf("after the race: pool %d, stock %d (want 0, 50)", pool.Remaining, stockOf(t, e, v))
			}
			if n := e.Client.CartLine.Query().Where(cartline.StatusEQ(cartline.StatusHELD)).CountX(ctx); n != units {
				t.Fatalf("%d holds, want %d", n, units)
			}

			// Every winner pays; Stripe confirms each.
			var pis []string
			var mu sync.Mutex
			for i := range buyers {
				if carts[i] == "" {
					continue
				}
				wg.Go(func() {
					var out checkoutOut
					postWith(t, client, e.URL, toks[i], checkoutMutation, map[string]any{"i": map[string]any{
						"cartId": carts[i], "payWith": map[string]any{"card": true}, "idempotencyKey": "pay"}}).Decode(t, &out)
					mu.Lock()
					pis = append(pis, *out.Checkout.PaymentIntentID)
					mu.Unlock()
				})
			}
			wg.Wait()
			for i, pi := range pis {
				wg.Go(func() {
					body, sig := e.Stripe.Event(t, fmt.Sprintf("evt_%s_%d", d, i), "payment_intent.succeeded", pi)
					if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != http.StatusOK {
						t.Errorf("webhook %d", code)
					}
				})
			}
			wg.Wait()
			if n := e.Client.Order.Query().Where(order.StatusEQ(order.StatusPAID)).CountX(ctx); n != units {
				t.Fatalf("%d paid orders, want %d", n, units)
			}
			if n := e.Client.CartLine.Query().Where(cartline.StatusEQ(cartline.StatusSOLD)).CountX(ctx); n != units {
				t.Fatalf("%d sold lines, want %d", n, units)
			}
			if got := stockOf(t, e, v); got != 50 {
				t.Fatalf("stock %d after selling, want 50", got)
			}
		})
	}
}

// TestPerCustomerLimitRace: one customer firing 50 requests at once cannot
// get past the per-customer limit.
func TestPerCustomerLimitRace(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 1000, "EUR")
			t0 := e.Clock.Now()
			createDrop(t, e, map[string]any{"title": "Limited", "variantIds": []string{v}, "cap": 100,
				"perCustomerLimit": 3, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
			tok, _ := e.SignUp(t, "greedy@race.example")
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 50}}
			codes := make([]string, 50)
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Go(func() {
					codes[i] = postWith(t, client, e.URL, tok, addToCartMutation, map[string]any{"i": map[string]any{
						"variantId": v, "quantity": 1, "idempotencyKey": fmt.Sprintf("greedy-%d", i)}}).Code()
				})
			}
			wg.Wait()
			counts := map[string]int{}
			for _, c := range codes {
				counts[c]++
			}
			if counts[""] != 3 || counts["LIMIT_EXCEEDED"] != 47 {
				t.Fatalf("outcomes %v, want 3 held and 47 LIMIT_EXCEEDED", counts)
			}
			if got := stockOf(t, e, v); got != 97 {
				t.Fatalf("stock %d, want 97", got)
			}
		})
	}
}

func postWith(t testing.TB, c *http.Client, url, token, query string, vars map[string]any) graphtest.Response {
	t.Helper()
	return graphtest.PostClient(t, c, url, token, map[string]any{"query": query, "variables": vars})
}
