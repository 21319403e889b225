package graph_test

import (
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
)

// TestAddToCartRefusals: each refusal has its code and changes nothing;
// idempotency keys replay or refuse.
func TestAddToCartRefusals(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 1000, "EUR")
	usd := newVariant(t, e, 10, 1200, "USD")
	tok, _ := e.SignUp(t, "careful@example.com")

	for _, q := range []int{0, -1, 101, 1 << 30} {
		wantCode(t, addToCart(t, e, tok, v, q, "bad-q"), "BAD_USER_INPUT")
	}
	wantCode(t, addToCart(t, e, "", v, 1, "anon"), "UNAUTHENTICATED")
	wantCode(t, addToCart(t, e, e.StaffToken, v, 1, "staff"), "FORBIDDEN")
	wantCode(t, addToCart(t, e, tok, v, 11, "too-many"), "OUT_OF_STOCK")
	wantCode(t, addToCart(t, e, tok, "bWVyY2hkOjM4NjU0NzA1NjY0OTk5", 1, "ghost"), "NOT_FOUND")
	r := e.Do(t, tok, addToCartMutation, map[string]any{"i": map[string]any{"variantId": v, "quantity": 1, "idempotencyKey": "ch", "channel": "SPACE"}})
	wantCode(t, r, "BAD_USER_INPUT")
	if got := stockOf(t, e, v); got != 10 {
		t.Fatalf("refusals changed stock to %d", got)
	}

	first := addToCart(t, e, tok, v, 2, "k1")
	wantCode(t, first, "")
	replay := addToCart(t, e, tok, v, 2, "k1")
	if string(replay.Data) != string(first.Data) {
		t.Fatalf("replay differs:\n%s\n%s", first.Data, replay.Data)
	}
	if got := stockOf(t, e, v); got != 8 {
		t.Fatalf("replay took stock again: %d", got)
	}
	wantCode(t, addToCart(t, e, tok, v, 3, "k1"), "IDEMPOTENCY_KEY_REUSED")
	// The same key from another customer is theirs alone.
	other, _ := e.SignUp(t, "other@example.com")
	wantCode(t, addToCart(t, e, other, v, 1, "k1"), "")
	// The cart is in EUR: a USD item is refused.
	r = addToCart(t, e, tok, usd, 1, "usd")
	wantCode(t, r, "BAD_USER_INPUT")
	if !strings.Contains(r.Errors[0].Message, "USD") {
		t.Fatalf("currency message: %q", r.Errors[0].Message)
	}
	if got := stockOf(t, e, usd); got != 10 {
		t.Fatalf("refused currency took stock: %d", got)
	}
	// Checkout without a payment method.
	var c struct{ Cart struct{ ID string } }
	e.Do(t, tok, `{ cart { id } }`, nil).Decode(t, &c)
	wantCode(t, e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": c.Cart.ID, "payWith": map[string]any{}, "idempotencyKey": "p0"}}), "BAD_USER_INPUT")
	// Someone else's cart is not found.
	wantCode(t, e.Do(t, other, checkoutMutation, map[string]any{"i": map[string]any{"cartId": c.Cart.ID, "payWith": map[string]any{"card": true}, "idempotencyKey": "p1"}}), "NOT_FOUND")
}

func TestDropAdmin(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 300, 1000, "EUR")
	t0 := e.Clock.Now()
	mut := `mutation($i: CreateDropInput!) { createDrop(input: $i) { drop { id } } }`
	base := func() map[string]any {
		return map[string]any{"title": "Tour", "variantIds": []string{v}, "cap": 300, "opensAt": t0, "closesAt": t0.Add(time.Hour)}
	}
	for name, change := range map[string]func(map[string]any){
		"closes before it opens": func(m map[string]any) { m["closesAt"] = t0.Add(-time.Minute) },
		"early after open":       func(m map[string]any) { m["earlyAccessAt"] = t0.Add(time.Minute) },
		"pools do not add up": func(m map[string]any) {
			m["pools"] = []any{map[string]any{"channel": "ONLINE", "units": 200}, map[string]any{"channel": "LIVE", "units": 60}}
		},
		"zero cap":       func(m map[string]any) { m["cap"] = 0 },
		"negative limit": func(m map[string]any) { m["perCustomerLimit"] = -1 },
		"hold too short": func(m map[string]any) { m["holdSeconds"] = 5 },
		"no variants":    func(m map[string]any) { m["variantIds"] = []string{} },
	} {
		in := base()
		change(in)
		if r := e.Do(t, e.StaffToken, mut, map[string]any{"i": in}); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("%s: %+v", name, r.Errors)
		}
	}
	tok, _ := e.SignUp(t, "fan@example.com")
	wantCode(t, e.Do(t, tok, mut, map[string]any{"i": base()}), "FORBIDDEN")

	in := base()
	in["pools"] = []any{map[string]any{"channel": "ONLINE", "units": 200}, map[string]any{"channel": "LIVE", "units": 60}, map[string]any{"channel": "HUB", "units": 40}}
	id := createDrop(t, e, in)
	wantCode(t, e.Do(t, e.StaffToken, mut, map[string]any{"i": base()}), "BAD_USER_INPUT") // variant already in a running drop

	// Hold 2 from LIVE (bought from a live stream), then move 50 of LIVE's 58 unsold units online.
	r := e.Do(t, tok, addToCartMutation, map[string]any{"i": map[string]any{"variantId": v, "quantity": 2, "streamId": newStream(t, e, true), "idempotencyKey": "live"}})
	wantCode(t, r, "")
	reb := `mutation($i: RebalanceDropPoolsInput!) { rebalanceDropPools(input: $i) { drop { remaining pools { channel allocated remaining } } } }`
	var out struct {
		RebalanceDropPools struct{ Drop dropView }
	}
	e.Staff(t, reb, map[string]any{"i": map[string]any{"dropId": id, "from": "LIVE", "to": "ONLINE", "units": 50, "idempotencyKey": "rb1"}}, &out)
	got := map[string][2]int{}
	for _, p := range out.RebalanceDropPools.Drop.Pools {
		got[p.Channel] = [2]int{p.Allocated, p.Remaining}
	}
	if got["ONLINE"] != [2]int{250, 250} || got["LIVE"] != [2]int{10, 8} || got["HUB"] != [2]int{40, 40} || out.RebalanceDropPools.Drop.Remaining != 298 {
		t.Fatalf("after rebalance: %v remaining %d", got, out.RebalanceDropPools.Drop.Remaining)
	}
	// Held units cannot be moved: only 8 of LIVE's are unsold.
	wantCode(t, e.Do(t, e.StaffToken, reb, map[string]any{"i": map[string]any{"dropId": id, "from": "LIVE", "to": "HUB", "units": 9, "idempotencyKey": "rb2"}}), "OUT_OF_STOCK")
	// Replaying rb1 moves nothing more.
	e.Staff(t, reb, map[string]any{"i": map[string]any{"dropId": id, "from": "LIVE", "to": "ONLINE", "units": 50, "idempotencyKey": "rb1"}}, &out)
	if d := getDrop(t, e, id); d.Remaining != 298 {
		t.Fatalf("replayed rebalance changed remaining to %d", d.Remaining)
	}
	// The released LIVE hold returns to LIVE, within its smaller allocation.
	var c struct {
		Cart struct{ Lines []struct{ ID string } }
	}
	e.Do(t, tok, `{ cart { lines { id } } }`, nil).Decode(t, &c)
	e.Do(t, tok, `mutation($i: RemoveFromCartInput!) { removeFromCart(input: $i) { cart { id } } }`,
		map[string]any{"i": map[string]any{"lineId": c.Cart.Lines[0].ID, "idempotencyKey": "rm"}}).Decode(t, &struct{}{})
	if d := getDrop(t, e, id); d.Remaining != 300 {
		t.Fatalf("after release: remaining %d, want 300", d.Remaining)
	}

	// updateDrop moves the window.
	var up struct {
		UpdateDrop struct{ Drop struct{ ClosesAt time.Time } }
	}
	e.Staff(t, `mutation($i: UpdateDropInput!) { updateDrop(input: $i) { drop { closesAt } } }`,
		map[string]any{"i": map[string]any{"id": id, "closesAt": t0.Add(3 * time.Hour)}}, &up)
	if !up.UpdateDrop.Drop.ClosesAt.Equal(t0.Add(3 * time.Hour)) {
		t.Fatalf("closesAt %v", up.UpdateDrop.Drop.ClosesAt)
	}
}
