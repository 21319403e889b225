package graph_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

var variantSeq atomic.Int64

// newVariant creates a product with one variant priced amount (currency),
// with units in stock at central, and returns the variant's id.
func newVariant(t testing.TB, e *graphtest.Env, units int, amount int, currency string) string {
	t.Helper()
	n := variantSeq.Add(1)
	var p struct {
		CreateProduct struct{ Product struct{ ID string } }
	}
	e.Staff(t, `mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } } }`,
		map[string]any{"i": map[string]any{"title": fmt.Sprintf("Drop tee %d", n), "slug": fmt.Sprintf("drop-tee-%d", n)}}, &p)
	var v struct {
		CreateVariant struct{ Variant struct{ ID string } }
	}
	e.Staff(t, `mutation($i: CreateVariantInput!) { createVariant(input: $i) { variant { id } } }`,
		map[string]any{"i": map[string]any{"productId": p.CreateProduct.Product.ID, "sku": fmt.Sprintf("DT-%d", n),
			"title": "One size", "price": map[string]any{"amount": amount, "currency": currency}}}, &v)
	id := v.CreateVariant.Variant.ID
	e.Staff(t, `mutation($i: SetStockInput!) { setStock(input: $i) { available } }`,
		map[string]any{"i": map[string]any{"variantId": id, "available": units, "idempotencyKey": "stock-" + id}}, &struct{}{})
	return id
}

// createDrop creates a drop through the staff API and returns its id.
func createDrop(t testing.TB, e *graphtest.Env, in map[string]any) string {
	t.Helper()
	var out struct {
		CreateDrop struct{ Drop struct{ ID string } }
	}
	e.Staff(t, `mutation($i: CreateDropInput!) { createDrop(input: $i) { drop { id } } }`, map[string]any{"i": in}, &out)
	return out.CreateDrop.Drop.ID
}

const addToCartMutation = `mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id total { amount currency } } line { id quantity hold { expiresAt active } } } }`

func addToCart(t testing.TB, e *graphtest.Env, token, variantID string, quantity int, key string) graphtest.Response {
	t.Helper()
	return e.Do(t, token, addToCartMutation, map[string]any{"i": map[string]any{
		"variantId": variantID, "quantity": quantity, "idempotencyKey": key}})
}

type dropView struct {
	State            string
	Remaining        int
	NextTransitionAt *time.Time
	Pools            []struct {
		Channel              string
		Allocated, Remaining int
	}
}

func getDrop(t testing.TB, e *graphtest.Env, id string) dropView {
	t.Helper()
	var out struct{ Node dropView }
	e.Do(t, "", `query($id: ID!) { node(id: $id) { ... on Drop { state remaining nextTransitionAt pools { channel allocated remaining } } } }`,
		map[string]any{"id": id}).Decode(t, &out)
	return out.Node
}

// stockOf reads a variant's central stock straight from the database.
func stockOf(t testing.TB, e *graphtest.Env, variantID string) int {
	t.Helper()
	id, err := gid.Decode(variantID)
	graphtest.Must(t, err)
	n, err := e.Client.Stock.Query().Where(stock.VariantID(id)).Select(stock.FieldAvailable).Int(viewer.SystemContext(context.Background()))
	graphtest.Must(t, err)
	return n
}

func wantCode(t testing.TB, r graphtest.Response, code string) {
	t.Helper()
	if r.Code() != code {
		t.Fatalf("want %s, got %q: %+v", code, r.Code(), r.Errors)
	}
}

func TestDropLifecycle(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			t0 := e.Clock.Now()
			v := newVariant(t, e, 10, 2500, "EUR")
			id := createDrop(t, e, map[string]any{
				"title": "Midnight drop", "variantIds": []string{v}, "cap": 3, "perCustomerLimit": 2, "holdSeconds": 60,
				"earlyAccessAt": t0.Add(30 * time.Minute), "opensAt": t0.Add(time.Hour), "closesAt": t0.Add(2 * time.Hour),
			})
			alice, _ := e.SignUp(t, "alice@drop.example")
			bob, _ := e.SignUp(t, "bob@drop.example")
			carol, _ := e.SignUp(t, "carol@drop.example")

			dv := getDrop(t, e, id)
			if dv.State != "SCHEDULED" || dv.Remaining != 3 || !dv.NextTransitionAt.Equal(t0.Add(30*time.Minute)) {
				t.Fatalf("before: %+v", dv)
			}
			wantCode(t, addToCart(t, e, alice, v, 1, "a1"), "DROP_NOT_OPEN")

			e.Clock.Advance(45 * time.Minute)
			if dv := getDrop(t, e, id); dv.State != "EARLY_ACCESS" || !dv.NextTransitionAt.Equal(t0.Add(time.Hour)) {
				t.Fatalf("early: %+v", dv)
			}
			wantCode(t, addToCart(t, e, alice, v, 1, "a2"), "DROP_NOT_OPEN") // not a member
			if got := stockOf(t, e, v); got != 10 {
				t.Fatalf("refusals changed stock to %d", got)
			}

			e.Clock.Set(t0.Add(time.Hour))
			if dv := getDrop(t, e, id); dv.State != "OPEN" || !dv.NextTransitionAt.Equal(t0.Add(2*time.Hour)) {
				t.Fatalf("open: %+v", dv)
			}
			r := addToCart(t, e, alice, v, 2, "a3")
			wantCode(t, r, "")
			if !strings.Contains(string(r.Data), `"total":{"amount":5000,"currency":"EUR"}`) ||
				!strings.Contains(string(r.Data), t0.Add(time.Hour+time.Minute).Format("2006-01-02T15:04:05")) {
				t.Fatalf("hold: %s", r.Data)
			}
			wantCode(t, addToCart(t, e, alice, v, 1, "a4"), "LIMIT_EXCEEDED")
			wantCode(t, addToCart(t, e, bob, v, 1, "b1"), "")
			if dv := getDrop(t, e, id); dv.State != "SOLD_OUT" || dv.Remaining != 0 {
				t.Fatalf("sold out: %+v", dv)
			}
			wantCode(t, addToCart(t, e, carol, v, 1, "c1"), "OUT_OF_STOCK")
			if got := stockOf(t, e, v); got != 7 {
				t.Fatalf("stock %d after 3 held, want 7", got)
			}

			// Holds expire: the sweeper returns every unit exactly once.
			e.Clock.Advance(61 * time.Second)
			n, err := e.Sweep(context.Background())
			if err != nil || n != 2 {
				t.Fatalf("sweep: %d holds, %v (want 2 lines)", n, err)
			}
			if n, _ := e.Sweep(context.Background()); n != 0 {
				t.Fatalf("second sweep expired %d more", n)
			}
			if dv := getDrop(t, e, id); dv.State != "OPEN" || dv.Remaining != 3 {
				t.Fatalf("after expiry: %+v", dv)
			}
			if got := stockOf(t, e, v); got != 10 {
				t.Fatalf("stock %d after expiry, want 10", got)
			}
			// Alice's allowance came back with her units.
			wantCode(t, addToCart(t, e, alice, v, 2, "a5"), "")

			// The expired line stays on Bob's cart, so checkout tells him.
			var bc struct {
				Cart struct {
					ID    string
					Lines []struct {
						ID     string
						Status string
						Hold   struct{ Active bool }
					}
				}
			}
			e.Do(t, bob, `{ cart { id lines { id status hold { active } } } }`, nil).Decode(t, &bc)
			if len(bc.Cart.Lines) != 1 || bc.Cart.Lines[0].Status != "EXPIRED" || bc.Cart.Lines[0].Hold.Active {
				t.Fatalf("bob's cart: %+v", bc.Cart)
			}
			co := `mutation($i: CheckoutInput!) { checkout(input: $i) { order { id } } }`
			wantCode(t, e.Do(t, bob, co, map[string]any{"i": map[string]any{"cartId": bc.Cart.ID, "payWith": map[string]any{"card": true}, "idempotencyKey": "co1"}}), "HOLD_EXPIRED")
			rm := `mutation($i: RemoveFromCartInput!) { removeFromCart(input: $i) { cart { total { amount } } } }`
			wantCode(t, e.Do(t, bob, rm, map[string]any{"i": map[string]any{"lineId": bc.Cart.Lines[0].ID, "idempotencyKey": "rm1"}}), "")

			e.Clock.Set(t0.Add(2 * time.Hour))
			if dv := getDrop(t, e, id); dv.State != "CLOSED" || dv.NextTransitionAt != nil {
				t.Fatalf("closed: %+v", dv)
			}
			wantCode(t, addToCart(t, e, carol, v, 1, "c2"), "DROP_NOT_OPEN")
		})
	}
}
