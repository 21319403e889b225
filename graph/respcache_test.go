package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/graph/respcache"
)

// anon posts an anonymous query and returns the body and how the response
// cache took part ("hit", "miss" or "").
func anon(t *testing.T, e *graphtest.Env, query string, vars map[string]any) (map[string]any, string) {
	t.Helper()
	return post(t, e, "", query, vars)
}

func post(t *testing.T, e *graphtest.Env, token, query string, vars map[string]any) (map[string]any, string) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.URL, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil || out["errors"] != nil {
		t.Fatalf("%s: %s", query, body)
	}
	return out["data"].(map[string]any), res.Header.Get(respcache.Header)
}

// TestResponseCacheServesTheTruth attacks the catalog cache the way a
// drop does: every change a catalog page can show — a hold taking stock, a
// staff edit, a price, a drop opening by the clock with no write — must
// reach the next anonymous request, and a signed-in buyer's own prices
// must never be kept or served to anyone else.
func TestResponseCacheServesTheTruth(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			t0 := e.Clock.Now()
			v := newVariant(t, e, 5, 2000, "EUR")
			page := `query($id: ID!) { node(id: $id) { ... on Variant { available price { amount } memberPrice { amount } product { title } } } }`
			vars := map[string]any{"id": v}
			get := func(want string) map[string]any {
				t.Helper()
				data, how := anon(t, e, page, vars)
				if how != want {
					t.Fatalf("cache %q, want %q", how, want)
				}
				return data["node"].(map[string]any)
			}
			get("miss")
			if n := get("hit"); n["available"].(float64) != 5 {
				t.Fatalf("cached: %v", n)
			}
			// The same query written differently is the same entry.
			if _, how := anon(t, e, "query ($id: ID!) {\n  node(id: $id) {\n    ... on Variant { available price { amount } memberPrice { amount } product { title } }\n  }\n}", vars); how != "hit" {
				t.Fatalf("a reformatted query: cache %q, want hit", how)
			}

			// A buyer's hold takes a unit: the next anonymous page shows 4.
			tok, id := e.SignUp(t, "fan@example.com")
			addToCart(t, e, tok, v, 1, "hold-1").Decode(t, &struct{}{})
			if n := get("miss"); n["available"].(float64) != 4 {
				t.Fatalf("after a hold: %v", n)
			}
			// A staff edit of the product and of the price.
			e.Staff(t, `mutation($id: ID!) { updateVariant(input: {id: $id, price: {amount: 2500, currency: "EUR"}}) { variant { id } } }`, vars, &struct{}{})
			if n := get("miss"); n["price"].(map[string]any)["amount"].(float64) != 2500 {
				t.Fatalf("after a price change: %v", n)
			}

			// A member's own price is never kept, nor shown to anyone else.
			tier := owlsTier(t, e, v)
			grant(t, e, id, 100, "g1")
			buyTier(t, e, tok, tier, "m1")
			for i := range 2 {
				data, how := post(t, e, tok, page, vars)
				if how != "" || data["node"].(map[string]any)["memberPrice"] == nil {
					t.Fatalf("member request %d: cache %q, %v", i, how, data)
				}
				if n := get([]string{"miss", "hit"}[i]); n["memberPrice"] != nil {
					t.Fatalf("an anonymous page shows a member's price: %v", n)
				}
			}

			// A drop opens by the clock alone: the cached "scheduled" ends then.
			var dr struct {
				CreateDrop struct{ Drop struct{ ID string } }
			}
			e.Staff(t, `mutation($v: ID!, $o: Time!, $c: Time!) { createDrop(input: {title: "Glow", variantIds: [$v], cap: 2, opensAt: $o, closesAt: $c}) { drop { id } } }`,
				map[string]any{"v": v, "o": t0.Add(time.Hour), "c": t0.Add(2 * time.Hour)}, &dr)
			drops := `{ drops(first: 5) { edges { node { id state remaining } } } }`
			state := func(want, how string) {
				t.Helper()
				data, got := anon(t, e, drops, nil)
				s := data["drops"].(map[string]any)["edges"].([]any)[0].(map[string]any)["node"].(map[string]any)["state"]
				if s != want || got != how {
					t.Fatalf("drop %v (cache %q), want %s (cache %q)", s, got, want, how)
				}
			}
			state("SCHEDULED", "miss")
			state("SCHEDULED", "hit")
			e.Clock.Set(t0.Add(time.Hour))
			state("OPEN", "miss")

			// Only catalog reads are kept: a mutation, another root field,
			// a signed-in request never carry the header.
			if _, how := anon(t, e, `{ locations { code } }`, nil); how != "" {
				t.Fatalf("locations: cache %q", how)
			}
			for range 2 {
				raw, _ := json.Marshal(map[string]any{"query": `query($id: ID!) { node(id: $id) { id ... on Customer { email } } }`, "variables": map[string]any{"id": id}})
				res, err := http.Post(e.URL, "application/json", bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if how := res.Header.Get(respcache.Header); how != "" {
					t.Fatalf("a node read of a non-catalog type: cache %q", how)
				}
			}
		})
	}
}

// TestResponseCacheConcurrentMissesRunOnce: a storm of identical anonymous
// reads after a change runs the operation once per change, and every
// reader sees the change.
func TestResponseCacheConcurrentMissesRunOnce(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 50, 2000, "EUR")
			page := `query($id: ID!) { node(id: $id) { ... on Variant { available } } }`
			for round, want := range []float64{50, 49, 48} {
				if round > 0 {
					tok, _ := e.SignUp(t, "storm"+string(rune('a'+round))+"@example.com")
					addToCart(t, e, tok, v, 1, "storm").Decode(t, &struct{}{})
				}
				_, before := e.API.CacheStats()
				var wg sync.WaitGroup
				errs := make(chan string, 32)
				for range 32 {
					wg.Go(func() {
						data, _ := anon(t, e, page, map[string]any{"id": v})
						if got := data["node"].(map[string]any)["available"].(float64); got != want {
							errs <- "stale"
						}
					})
				}
				wg.Wait()
				close(errs)
				for range errs {
					t.Fatalf("round %d: a reader saw stock other than %v", round, want)
				}
				_, after := e.API.CacheStats()
				if after-before != 1 {
					t.Fatalf("round %d: %d runs of the operation for 32 identical reads, want 1", round, after-before)
				}
			}
		})
	}
}
