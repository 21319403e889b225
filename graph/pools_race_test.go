package graph_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/droppool"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// heldUnits sums the units of a variant held in carts.
func heldUnits(t testing.TB, e *graphtest.Env, variantID string) int {
	t.Helper()
	id, _ := gid.Decode(variantID)
	qs := e.Client.CartLine.Query().Where(cartline.VariantID(id), cartline.StatusEQ(cartline.StatusHELD)).
		Select(cartline.FieldQuantity).IntsX(viewer.SystemContext(context.Background()))
	n := 0
	for _, q := range qs {
		n += q
	}
	return n
}

const setStockMutation = `mutation($i: SetStockInput!) { setStock(input: $i) { available } }`

// TestRace_setStock: a count replayed 16 times at once is applied once;
// 16 counts racing 16 shoppers' holds never make phantom units: sellable
// plus held is always the count, and releasing every hold gives the count.
func TestRace_setStock(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 10, 1000, "EUR")
			tok, _ := e.SignUp(t, "holder@race.example")
			wantCode(t, addToCart(t, e, tok, v, 3, "hold-3"), "")

			same := raceAll(raceN, func(int) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, setStockMutation, map[string]any{"i": map[string]any{"variantId": v, "available": 10, "idempotencyKey": "count"}})
			})
			allSame(t, same)
			if got := stockOf(t, e, v); got != 7 {
				t.Fatalf("same key: stock %d, want 7 (10 counted, 3 held)", got)
			}

			toks := customers(t, e, raceN, "count-"+d)
			rs := raceAll(2*raceN, func(i int) graphtest.Response {
				if i%2 == 0 {
					return postWith(t, c, e.URL, e.StaffToken, setStockMutation, map[string]any{"i": map[string]any{"variantId": v, "available": 10, "idempotencyKey": fmt.Sprintf("count-%d", i)}})
				}
				return postWith(t, c, e.URL, toks[i/2], addToCartMutation, map[string]any{"i": map[string]any{"variantId": v, "quantity": 1, "idempotencyKey": "buy"}})
			})
			for i, r := range rs {
				if r.Code() != "" && (i%2 == 0 || r.Code() != "OUT_OF_STOCK") {
					t.Fatalf("call %d: %q %+v", i, r.Code(), r.Errors)
				}
			}
			held, avail := heldUnits(t, e, v), stockOf(t, e, v)
			if held+avail != 10 || avail < 0 || held < 3 {
				t.Fatalf("after the race: %d sellable + %d held, want 10 in all", avail, held)
			}
			// Every hold goes back: exactly the count is sellable.
			ctx := viewer.SystemContext(context.Background())
			e.Clock.Advance(time.Hour)
			if _, err := e.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if got := stockOf(t, e, v); got != 10 || heldUnits(t, e, v) != 0 {
				t.Fatalf("after every hold expired: %d sellable, %d held; want 10, 0", got, heldUnits(t, e, v))
			}
		})
	}
}

const rebalanceMutation = `mutation($i: RebalanceDropPoolsInput!) { rebalanceDropPools(input: $i) { drop { remaining pools { channel allocated remaining } } } }`

// poolUnits reads a drop's pools straight from the database as channel →
// [allocated, remaining].
func poolUnits(t testing.TB, e *graphtest.Env, dropID string) map[string][2]int {
	t.Helper()
	id, _ := gid.Decode(dropID)
	out := map[string][2]int{}
	for _, p := range e.Client.DropPool.Query().Where(droppool.DropID(id)).AllX(viewer.SystemContext(context.Background())) {
		out[string(p.Channel)] = [2]int{p.Allocated, p.Remaining}
	}
	return out
}

// TestRace_rebalanceDropPools: one move replayed 16 times at once moves its
// units once; 16 different moves racing for the last units of a pool move
// exactly what it had, and the cap never changes.
func TestRace_rebalanceDropPools(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 40, 1000, "EUR")
			t0 := e.Clock.Now()
			dropID := createDrop(t, e, map[string]any{"title": "Moves", "variantIds": []string{v}, "cap": 32,
				"opensAt": t0, "closesAt": t0.Add(time.Hour), "pools": []any{
					map[string]any{"channel": "ONLINE", "units": 16}, map[string]any{"channel": "LIVE", "units": 16}}})

			same := raceAll(raceN, func(int) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, rebalanceMutation, map[string]any{"i": map[string]any{
					"dropId": dropID, "from": "LIVE", "to": "ONLINE", "units": 5, "idempotencyKey": "move-5"}})
			})
			allSame(t, same)
			if got := poolUnits(t, e, dropID); got["ONLINE"] != [2]int{21, 21} || got["LIVE"] != [2]int{11, 11} {
				t.Fatalf("same key: pools %v, want ONLINE 21/21, LIVE 11/11", got)
			}

			rs := raceAll(raceN, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, rebalanceMutation, map[string]any{"i": map[string]any{
					"dropId": dropID, "from": "LIVE", "to": "HUB", "units": 1, "idempotencyKey": fmt.Sprintf("split-%d", i)}})
			})
			if got := codeCounts(rs); got[""] != 11 || got["OUT_OF_STOCK"] != raceN-11 {
				t.Fatalf("different keys: %v, want 11 moved and %d OUT_OF_STOCK", got, raceN-11)
			}
			got := poolUnits(t, e, dropID)
			if got["ONLINE"] != [2]int{21, 21} || got["LIVE"] != [2]int{0, 0} || got["HUB"] != [2]int{11, 11} {
				t.Fatalf("different keys: pools %v, want ONLINE 21/21, LIVE 0/0, HUB 11/11", got)
			}
			if dv := getDrop(t, e, dropID); dv.Remaining != 32 {
				t.Fatalf("remaining %d, want the cap 32", dv.Remaining)
			}
		})
	}
}

// TestRace_addToCartLivePool: 16 viewers of a live stream race for its
// LIVE pool of 1 while 16 online customers claim the LIVE channel: exactly
// one viewer holds, no online customer touches the pool; one viewer's
// request sent 16 times at once holds once.
func TestRace_addToCartLivePool(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			live := newStream(t, e, true)
			newDrop := func(title string, liveUnits int) (string, string) {
				v := newVariant(t, e, 40, 1000, "EUR")
				t0 := e.Clock.Now()
				return v, createDrop(t, e, map[string]any{"title": title, "variantIds": []string{v}, "cap": 16 + liveUnits,
					"opensAt": t0, "closesAt": t0.Add(time.Hour), "pools": []any{
						map[string]any{"channel": "ONLINE", "units": 16}, map[string]any{"channel": "LIVE", "units": liveUnits}}})
			}

			v, dropID := newDrop("Live one", 1)
			toks := customers(t, e, 2*raceN, "live-"+d)
			rs := raceAll(2*raceN, func(i int) graphtest.Response {
				in := map[string]any{"variantId": v, "quantity": 1, "idempotencyKey": "grab"}
				if i%2 == 0 {
					in["streamId"] = live
				} else {
					in["channel"] = "LIVE" // an online customer claiming the live pool
				}
				return postWith(t, c, e.URL, toks[i], addToCartMutation, map[string]any{"i": in})
			})
			viewers, online := map[string]int{}, map[string]int{}
			for i, r := range rs {
				if i%2 == 0 {
					viewers[r.Code()]++
				} else {
					online[r.Code()]++
				}
			}
			if viewers[""] != 1 || viewers["OUT_OF_STOCK"] != raceN-1 || online["BAD_USER_INPUT"] != raceN {
				t.Fatalf("viewers %v (want 1 held, %d OUT_OF_STOCK), online %v (want all BAD_USER_INPUT)", viewers, raceN-1, online)
			}
			if got := poolUnits(t, e, dropID); got["LIVE"] != [2]int{1, 0} || got["ONLINE"] != [2]int{16, 16} {
				t.Fatalf("pools %v, want LIVE 1/0 and ONLINE untouched", got)
			}
			if held := heldUnits(t, e, v); held != 1 || stockOf(t, e, v) != 39 {
				t.Fatalf("%d held, stock %d; want 1, 39", held, stockOf(t, e, v))
			}

			// One viewer, one request, sent 16 times at once, holds once, on
			// a LIVE pool of 1: the duplicates of the request that took the
			// last unit replay it instead of answering OUT_OF_STOCK.
			v2, drop2 := newDrop("Live two", 1)
			tok, _ := e.SignUp(t, "eager-"+d+"@race.example")
			same := raceAll(raceN, func(int) graphtest.Response {
				return postWith(t, c, e.URL, tok, addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": v2, "quantity": 1, "streamId": live, "idempotencyKey": "once"}})
			})
			allSame(t, same)
			if got := poolUnits(t, e, drop2); got["LIVE"] != [2]int{1, 0} || heldUnits(t, e, v2) != 1 {
				t.Fatalf("same key: pools %v, %d held; want LIVE 1/0, 1 held", got, heldUnits(t, e, v2))
			}
		})
	}
}
