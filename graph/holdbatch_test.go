package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/dropcustomer"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// Group commit (checkout/carts/batch.go): concurrent holds of one variant
// share one transaction. These race the batcher itself through GraphQL
// over HTTP, on both databases.

type holdOut struct {
	AddToCart struct {
		Line struct{ ID string }
	}
}

func holdLine(t *testing.T, r graphtest.Response) string {
	t.Helper()
	var out holdOut
	r.Decode(t, &out)
	return out.AddToCart.Line.ID
}

func bigClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}}
}

// TestHoldBatch_SoldEqualsCap: 240 buyers, 120 units. Exactly 120 distinct
// lines, everyone else OUT_OF_STOCK, and the holds took far fewer
// transactions than holds: batches formed.
func TestHoldBatch_SoldEqualsCap(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			var txs atomic.Int64
			e := graphtest.New(t, graphtest.Options{Dialect: d, Driver: func(d dialect.Driver) dialect.Driver { return txCounter{d, &txs} }})
			const buyers, units = 240, 120
			v := newVariant(t, e, 200, 1500, "EUR")
			t0 := e.Clock.Now()
			drop := createDrop(t, e, map[string]any{"title": "Batch", "variantIds": []string{v}, "cap": units,
				"perCustomerLimit": 1, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
			toks := customers(t, e, buyers, "hb-cap-"+d)
			c := bigClient(buyers)
			before, batches := txs.Load(), e.Carts.Batches()
			rs := raceAll(buyers, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, toks[i], addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": v, "quantity": 1, "idempotencyKey": "hb"}})
			})
			opened, ran := txs.Load()-before, e.Carts.Batches()-batches
			if got := codeCounts(rs); got[""] != units || got["OUT_OF_STOCK"] != buyers-units {
				t.Fatalf("outcomes %v, want %d held and %d OUT_OF_STOCK", got, units, buyers-units)
			}
			lines := map[string]bool{}
			for _, r := range rs {
				if r.Code() == "" {
					lines[holdLine(t, r)] = true
				}
			}
			if len(lines) != units {
				t.Fatalf("%d distinct lines for %d holds", len(lines), units)
			}
			if r := poolRemaining(t, e, drop); r != 0 || stockOf(t, e, v) != 80 {
				t.Fatalf("pool %d, stock %d; want 0 and 80", r, stockOf(t, e, v))
			}
			ctx := viewer.SystemContext(context.Background())
			if n := e.Client.CartLine.Query().Where(cartline.StatusEQ(cartline.StatusHELD)).CountX(ctx); n != units {
				t.Fatalf("%d held lines, want %d", n, units)
			}
			t.Logf("%d holds: %d transactions, %d batches", units, opened, ran)
			if ran == 0 || opened > units/2 {
				t.Fatalf("%d holds opened %d transactions (%d batches); want batches, at most %d transactions", units, opened, ran, units/2)
			}
		})
	}
}

// TestHoldBatch_PartialFit: when a batch's sum does not fit, units go in
// arrival order to whoever fits; never more than there are.
func TestHoldBatch_PartialFit(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			const buyers, units = 40, 9
			v := newVariant(t, e, 100, 1500, "EUR")
			t0 := e.Clock.Now()
			drop := createDrop(t, e, map[string]any{"title": "Pairs", "variantIds": []string{v}, "cap": units,
				"opensAt": t0, "closesAt": t0.Add(time.Hour)})
			toks := customers(t, e, buyers, "hb-fit-"+d)
			c := bigClient(buyers)
			rs := raceAll(buyers, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, toks[i], addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": v, "quantity": 2, "idempotencyKey": "pair"}})
			})
			if got := codeCounts(rs); got[""] != units/2 || got["OUT_OF_STOCK"] != buyers-units/2 {
				t.Fatalf("outcomes %v, want %d pairs held and the rest OUT_OF_STOCK", got, units/2)
			}
			if r := poolRemaining(t, e, drop); r != units%2 || stockOf(t, e, v) != 100-units+units%2 {
				t.Fatalf("pool %d, stock %d; want %d and %d", r, stockOf(t, e, v), units%2, 100-units+units%2)
			}
		})
	}
}

// TestHoldBatch_LimitWithinBatch: each customer fires five holds at once
// on a limit-2 drop; their holds may share a batch and count together:
// exactly two each.
func TestHoldBatch_LimitWithinBatch(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			const buyers, each, limit = 20, 5, 2
			v := newVariant(t, e, 500, 1500, "EUR")
			t0 := e.Clock.Now()
			drop := createDrop(t, e, map[string]any{"title": "Two each", "variantIds": []string{v}, "cap": 400,
				"perCustomerLimit": limit, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
			toks := customers(t, e, buyers, "hb-lim-"+d)
			c := bigClient(buyers * each)
			rs := raceAll(buyers*each, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, toks[i%buyers], addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": v, "quantity": 1, "idempotencyKey": fmt.Sprintf("k-%d", i)}})
			})
			per := make([]map[string]int, buyers)
			for i, r := range rs {
				if per[i%buyers] == nil {
					per[i%buyers] = map[string]int{}
				}
				per[i%buyers][r.Code()]++
			}
			for b, got := range per {
				if got[""] != limit || got["LIMIT_EXCEEDED"] != each-limit {
					t.Fatalf("customer %d: outcomes %v, want %d held and %d LIMIT_EXCEEDED", b, got, limit, each-limit)
				}
			}
			if got := stockOf(t, e, v); got != 500-buyers*limit {
				t.Fatalf("stock %d, want %d", got, 500-buyers*limit)
			}
			dID, _ := gid.Decode(drop)
			ctx := viewer.SystemContext(context.Background())
			for _, dc := range e.Client.DropCustomer.Query().Where(dropcustomer.DropID(dID)).AllX(ctx) {
				if dc.Units != limit {
					t.Fatalf("customer %d counted %d units of the drop, want %d", dc.CustomerID, dc.Units, limit)
				}
			}
		})
	}
}

// TestHoldBatch_SameKeyInBatch: each customer sends one key four times at
// once (they may land in one batch): all four see the same line, and one
// unit is taken — in a drop and outside one.
func TestHoldBatch_SameKeyInBatch(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			const buyers, dup = 16, 4
			inDrop := newVariant(t, e, 100, 1500, "EUR")
			t0 := e.Clock.Now()
			createDrop(t, e, map[string]any{"title": "Dup", "variantIds": []string{inDrop}, "cap": 100,
				"perCustomerLimit": 1, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
			plain := newVariant(t, e, 100, 900, "EUR")
			toks := customers(t, e, buyers, "hb-key-"+d)
			c := bigClient(2 * buyers * dup)
			vs := []string{inDrop, plain}
			rs := raceAll(2*buyers*dup, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, toks[i%buyers], addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": vs[i/(buyers*dup)], "quantity": 1, "idempotencyKey": "same-" + vs[i/(buyers*dup)]}})
			})
			for vi, v := range vs {
				// Lines, not whole answers: the cart's total moves with
				// the customer's other hold racing alongside.
				for b := range buyers {
					first := holdLine(t, rs[vi*buyers*dup+b])
					for k := 1; k < dup; k++ {
						if got := holdLine(t, rs[vi*buyers*dup+k*buyers+b]); got != first {
							t.Fatalf("variant %d, customer %d: call %d with one key answered line %s, the first %s", vi, b, k, got, first)
						}
					}
				}
				if got := stockOf(t, e, v); got != 100-buyers {
					t.Fatalf("variant %d: stock %d, want %d", vi, got, 100-buyers)
				}
			}
			ctx := viewer.SystemContext(context.Background())
			if n := e.Client.CartLine.Query().CountX(ctx); n != 2*buyers {
				t.Fatalf("%d lines, want %d", n, 2*buyers)
			}
		})
	}
}

// TestHoldBatch_RefusalsDoNotFailTheBatch: fresh buyers race buyers already
// at their limit and buyers whose cart is in another currency. Those are
// refused inside the batch (the precheck cannot see them); the fresh
// buyers get their units all the same.
func TestHoldBatch_RefusalsDoNotFailTheBatch(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			const group = 12
			v := newVariant(t, e, 200, 1500, "EUR")
			usd := newVariant(t, e, 200, 1500, "USD")
			t0 := e.Clock.Now()
			createDrop(t, e, map[string]any{"title": "Mixed", "variantIds": []string{v}, "cap": 100,
				"perCustomerLimit": 1, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
			toks := customers(t, e, 3*group, "hb-mix-"+d)
			for i := range group {
				wantCode(t, addToCart(t, e, toks[group+i], v, 1, "first"), "")
				wantCode(t, addToCart(t, e, toks[2*group+i], usd, 1, "dollars"), "")
			}
			c := bigClient(3 * group)
			rs := raceAll(3*group, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, toks[i], addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": v, "quantity": 1, "idempotencyKey": "race"}})
			})
			want := []string{"", "LIMIT_EXCEEDED", "BAD_USER_INPUT"}
			for i, r := range rs {
				if r.Code() != want[i/group] {
					t.Fatalf("buyer %d: %q %+v, want %q", i, r.Code(), r.Errors, want[i/group])
				}
			}
			if got := stockOf(t, e, v); got != 200-2*group {
				t.Fatalf("stock %d, want %d", got, 200-2*group)
			}
			// The winners' keys were recorded: a replay answers their line.
			for i := range group {
				again := addToCart(t, e, toks[i], v, 1, "race")
				if again.Code() != "" || holdLine(t, again) != holdLine(t, rs[i]) {
					t.Fatalf("replay of buyer %d: %+v", i, again)
				}
			}
		})
	}
}

// queryCounter counts the reads issued to the database.
type queryCounter struct {
	dialect.Driver
	n *atomic.Int64
}

func (d queryCounter) Query(ctx context.Context, q string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Query(ctx, q, args, v)
}

// TestSoldOutMemo attacks the sold-out memo (checkout/carts/soldout.go):
// once a drop is sold out its refusals are answered from memory — but a
// key that already holds still gets its line, and a unit coming back is
// for sale at once, never refused from a stale memory.
func TestSoldOutMemo(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			var reads atomic.Int64
			e := graphtest.New(t, graphtest.Options{Dialect: d, Driver: func(d dialect.Driver) dialect.Driver { return queryCounter{d, &reads} }})
			v := newVariant(t, e, 10, 1000, "EUR")
			t0 := e.Clock.Now()
			drop := createDrop(t, e, map[string]any{"title": "Memo", "variantIds": []string{v}, "cap": 2, "opensAt": t0, "closesAt": t0.Add(time.Hour),
				"pools": []map[string]any{{"channel": "ONLINE", "units": 1}, {"channel": "LIVE", "units": 1}}})
			toks := customers(t, e, 3, "memo-"+d)
			ann, bob, cat := toks[0], toks[1], toks[2]
			line := holdLine(t, addToCart(t, e, ann, v, 1, "a1"))

			// The first refusal reads its way to "sold out"; the next is
			// answered from memory with fewer reads.
			n0 := reads.Load()
			wantCode(t, addToCart(t, e, bob, v, 1, "b1"), "OUT_OF_STOCK")
			n1 := reads.Load()
			wantCode(t, addToCart(t, e, cat, v, 1, "c1"), "OUT_OF_STOCK")
			n2 := reads.Load()
			if n2-n1 >= n1-n0 {
				t.Fatalf("a refusal from memory took %d reads, the first %d: no memo", n2-n1, n1-n0)
			}

			// Ann repeating her key gets her line, not the memo's refusal.
			if got := holdLine(t, addToCart(t, e, ann, v, 1, "a1")); got != line {
				t.Fatalf("ann's replay: line %q, want %q", got, line)
			}

			// Ann puts it back: the very next buyer gets it.
			rm := `mutation($i: RemoveFromCartInput!) { removeFromCart(input: $i) { cart { id } } }`
			wantCode(t, e.Do(t, ann, rm, map[string]any{"i": map[string]any{"lineId": line, "idempotencyKey": "rm"}}), "")
			wantCode(t, addToCart(t, e, bob, v, 1, "b2"), "")
			wantCode(t, addToCart(t, e, cat, v, 1, "c2"), "OUT_OF_STOCK")

			// Staff move the live pool's unit online: for sale at once too.
			wantCode(t, e.Do(t, e.StaffToken, `mutation($i: RebalanceDropPoolsInput!) { rebalanceDropPools(input: $i) { drop { id } } }`,
				map[string]any{"i": map[string]any{"dropId": drop, "from": "LIVE", "to": "ONLINE", "units": 1, "idempotencyKey": "rb"}}), "")
			wantCode(t, addToCart(t, e, cat, v, 1, "c3"), "")
		})
	}
}

// TestHoldTwinsWhileUnitsReturn: each buyer sends one key four times at
// once while staff move units into the sold-out pool mid-burst. Every copy
// that holds gets the same line (one line per key), the pools account for
// every unit, and a copy refused while a twin was still writing answers
// the twin's line (checkout/txn: a refused call waits for its twins in
// flight). Copies the server took one after the other may still differ —
// a refusal is not stored, so a copy after it is a fresh try; the test
// logs how many.
func TestHoldTwinsWhileUnitsReturn(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			const buyers, copies, rounds = 24, 4, 3
			for round := range rounds {
				v := newVariant(t, e, 100, 1500, "EUR")
				t0 := e.Clock.Now()
				drop := createDrop(t, e, map[string]any{"title": "Twins", "variantIds": []string{v}, "cap": 20, "opensAt": t0, "closesAt": t0.Add(time.Hour),
					"pools": []map[string]any{{"channel": "ONLINE", "units": 2}, {"channel": "LIVE", "units": 18}}})
				toks := customers(t, e, buyers, fmt.Sprintf("twins-%s-%d-", d, round))
				c := bigClient(buyers * copies)
				rs := raceAll(buyers*copies+3, func(i int) graphtest.Response {
					if i >= buyers*copies { // three rebalances land mid-burst
						return e.Do(t, e.StaffToken, `mutation($i: RebalanceDropPoolsInput!) { rebalanceDropPools(input: $i) { drop { id } } }`,
							map[string]any{"i": map[string]any{"dropId": drop, "from": "LIVE", "to": "ONLINE", "units": 3, "idempotencyKey": fmt.Sprintf("rb%d-%d", round, i)}})
					}
					return postWith(t, c, e.URL, toks[i/copies], addToCartMutation, map[string]any{"i": map[string]any{
						"variantId": v, "quantity": 1, "idempotencyKey": "twin"}})
				})
				for _, r := range rs[buyers*copies:] {
					if r.Code() != "" {
						t.Fatalf("round %d: a rebalance: %s", round, r.Code())
					}
				}
				held, split := 0, 0
				for b := range buyers {
					line, refused := "", false
					for k := range copies {
						r := rs[b*copies+k]
						switch r.Code() {
						case "":
							l := holdLine(t, r)
							if line != "" && l != line {
								t.Fatalf("round %d, buyer %d: one key made two lines %s and %s", round, b, line, l)
							}
							line = l
						case "OUT_OF_STOCK":
							refused = true
						default:
							t.Fatalf("round %d, buyer %d: %s", round, b, r.Code())
						}
					}
					if line != "" {
						held++
						if refused {
							split++
						}
					}
				}
				t.Logf("round %d: %d held; %d keys also answered OUT_OF_STOCK to a copy taken before the line's", round, held, split)
				if r := poolRemaining(t, e, drop); held+r != 20 || held > 11 {
					t.Fatalf("round %d: %d held, %d left in the pools; want 20 in all and at most 11 held online", round, held, r)
				}
			}
		})
	}
}
