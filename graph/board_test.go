package graph_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
)

const boardQuery = `query($id: ID!, $m: Int) { dropBoard(dropId: $id, minutes: $m) {
	heldUnits addedUnits paidUnits conversion firstSaleAt lastSaleAt soldOutAt salesPerMinute { at units }
	drop { remaining pools { channel remaining } } } }`

type boardView struct {
	HeldUnits, AddedUnits, PaidUnits int
	Conversion                       *float64
	FirstSaleAt, LastSaleAt          *time.Time
	SoldOutAt                        *time.Time
	SalesPerMinute                   []struct {
		At    time.Time
		Units int
	}
	Drop struct{ Remaining int }
}

func getBoard(t *testing.T, e *graphtest.Env, token, id string, minutes int) boardView {
	t.Helper()
	var out struct{ DropBoard boardView }
	e.Do(t, token, boardQuery, map[string]any{"id": id, "m": minutes}).Decode(t, &out)
	return out.DropBoard
}

// walletBuy holds n units for the customer and pays them from the wallet.
func walletBuy(t *testing.T, e *graphtest.Env, token, variant string, n int, key string) {
	t.Helper()
	var add struct {
		AddToCart struct{ Cart struct{ ID string } }
	}
	addToCart(t, e, token, variant, n, key+"-add").Decode(t, &add)
	e.Do(t, token, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID,
		"payWith": map[string]any{"wallet": map[string]any{"amount": 1000 * n, "currency": "EUR"}}, "idempotencyKey": key + "-pay"}}).Decode(t, &struct{}{})
}

// TestDropBoard: the board's figures match the carts and orders behind
// them while concurrent buyers pay from their wallets and others only
// hold: held and paid units, conversion, sales per minute, sold out.
// Clerks and customers are refused; anonymous callers must sign in.
func TestDropBoard(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 10, 1000, "EUR")
			t0 := e.Clock.Now()
			id := createDrop(t, e, map[string]any{"title": "Board", "variantIds": []string{v}, "cap": 8,
				"opensAt": t0, "closesAt": t0.Add(time.Hour), "pools": []any{
					map[string]any{"channel": "ONLINE", "units": 6}, map[string]any{"channel": "LIVE", "units": 2}}})

			b := getBoard(t, e, e.StaffToken, id, 5)
			if b.HeldUnits != 0 || b.PaidUnits != 0 || b.AddedUnits != 0 || b.Conversion != nil || b.FirstSaleAt != nil || b.SoldOutAt != nil || len(b.SalesPerMinute) != 5 {
				t.Fatalf("empty board: %+v", b)
			}

			// Four buyers pay one unit each at once; one more only holds two.
			var wg sync.WaitGroup
			for i := range 4 {
				tok, cid := e.SignUp(t, fmt.Sprintf("board%d@example.com", i))
				grant(t, e, cid, 5000, "g"+cid)
				wg.Add(1)
				go func() { defer wg.Done(); walletBuy(t, e, tok, v, 1, fmt.Sprintf("b%d", i)) }()
			}
			wg.Wait()
			holder, _ := e.SignUp(t, "holder@example.com")
			addToCart(t, e, holder, v, 2, "hold").Decode(t, &struct{}{})

			b = getBoard(t, e, e.StaffToken, id, 5)
			if b.PaidUnits != 4 || b.HeldUnits != 2 || b.AddedUnits != 6 || b.Drop.Remaining != 2 {
				t.Fatalf("after sales: %+v", b)
			}
			if b.Conversion == nil || *b.Conversion < 0.66 || *b.Conversion > 0.67 {
				t.Fatalf("conversion %v, want 4/6", b.Conversion)
			}
			last := b.SalesPerMinute[len(b.SalesPerMinute)-1]
			if last.Units != 4 || !last.At.Equal(t0.Truncate(time.Minute)) {
				t.Fatalf("sales this minute: %+v", last)
			}
			if b.FirstSaleAt == nil || b.SoldOutAt != nil {
				t.Fatalf("first sale %v, sold out %v (units are still held)", b.FirstSaleAt, b.SoldOutAt)
			}

			// The held units run out; the staff move them online and a
			// last buyer takes them: sold out, a minute later.
			e.Clock.Advance(11 * time.Minute)
			if _, err := e.Sweep(t.Context()); err != nil {
				t.Fatal(err)
			}
			b = getBoard(t, e, e.StaffToken, id, 15)
			if b.HeldUnits != 0 || b.PaidUnits != 4 || b.SalesPerMinute[3].Units != 4 {
				t.Fatalf("after expiry: %+v", b)
			}
			e.Staff(t, `mutation($i: RebalanceDropPoolsInput!) { rebalanceDropPools(input: $i) { drop { id } } }`,
				map[string]any{"i": map[string]any{"dropId": id, "from": "LIVE", "to": "ONLINE", "units": 2, "idempotencyKey": "rb"}}, &struct{}{})
			tok, cid := e.SignUp(t, "last@example.com")
			grant(t, e, cid, 5000, "g-last")
			walletBuy(t, e, tok, v, 4, "last")
			b = getBoard(t, e, e.StaffToken, id, 15)
			if b.PaidUnits != 8 || b.Drop.Remaining != 0 || b.SoldOutAt == nil || !b.SoldOutAt.Equal(e.Clock.Now()) {
				t.Fatalf("sold out: %+v", b)
			}
			if got := b.SalesPerMinute[len(b.SalesPerMinute)-1].Units; got != 4 {
				t.Fatalf("last minute sold %d, want 4", got)
			}

			// Who may look.
			clerk := addStaff(t, e, "clerk@staff.example", "CLERK", "central")
			staff := addStaff(t, e, "staff@staff.example", "STAFF", "")
			getBoard(t, e, staff.Token, id, 30)
			wantCode(t, e.Do(t, clerk.Token, boardQuery, map[string]any{"id": id}), "FORBIDDEN")
			wantCode(t, e.Do(t, tok, boardQuery, map[string]any{"id": id}), "FORBIDDEN")
			wantCode(t, e.Do(t, "", boardQuery, map[string]any{"id": id}), "UNAUTHENTICATED")
			wantCode(t, e.Do(t, e.StaffToken, boardQuery, map[string]any{"id": id, "m": 0}), "BAD_USER_INPUT")
			wantCode(t, e.Do(t, e.StaffToken, boardQuery, map[string]any{"id": id, "m": 100000}), "BAD_USER_INPUT")
			wantCode(t, e.Do(t, e.StaffToken, boardQuery, map[string]any{"id": v}), "NOT_FOUND")
		})
	}
}
