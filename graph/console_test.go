package graph_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/walletentry"
	"github.com/merchd/merchd/graph/graphtest"
)

const searchOrdersQuery = `query($s: String, $st: OrderStatus) { searchOrders(search: $s, status: $st, first: 20) {
	totalCount edges { node { id number status customer { email } } } } }`

type searchOut struct {
	SearchOrders struct {
		TotalCount int
		Edges      []struct {
			Node struct {
				ID, Number, Status string
				Customer           struct{ Email string }
			}
		}
	}
}

func searchOrders(t *testing.T, e *graphtest.Env, tok string, vars map[string]any) searchOut {
	t.Helper()
	var out searchOut
	e.Do(t, tok, searchOrdersQuery, vars).Decode(t, &out)
	return out
}

// TestSearchOrders: staff find an order by its number (any case, with or
// without its dash) and by the buyer's email or part of it, newest first;
// status narrows it; clerks and customers are refused.
func TestSearchOrders(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 20, 1200, "EUR")
	ada, _ := e.SignUp(t, "ada.lovelace@search.example")
	bob, _ := e.SignUp(t, "bob@search.example")
	a1 := paidOrder(t, e, ada, v, "ada-1")
	a2 := paidOrder(t, e, ada, v, "ada-2")
	b1 := paidOrder(t, e, bob, v, "bob-1")
	unpaid := splitCheckout(t, e, bob, v, 0, "bob-unpaid").Checkout.Order.ID

	var num struct {
		Node struct{ Number string }
	}
	e.Staff(t, `query($id: ID!) { node(id: $id) { ... on Order { number } } }`, map[string]any{"id": b1}, &num)
	for _, typed := range []string{num.Node.Number, strings.ToLower(num.Node.Number), strings.ReplaceAll(num.Node.Number, "-", ""), "  " + num.Node.Number + " "} {
		got := searchOrders(t, e, e.StaffToken, map[string]any{"s": typed})
		if got.SearchOrders.TotalCount != 1 || got.SearchOrders.Edges[0].Node.ID != b1 || got.SearchOrders.Edges[0].Node.Customer.Email != "bob@search.example" {
			t.Fatalf("search %q: %+v", typed, got)
		}
	}
	got := searchOrders(t, e, e.StaffToken, map[string]any{"s": "ADA.LOVELACE@search.example"})
	if got.SearchOrders.TotalCount != 2 || got.SearchOrders.Edges[0].Node.ID != a2 || got.SearchOrders.Edges[1].Node.ID != a1 {
		t.Fatalf("by email, newest first: %+v", got)
	}
	if got := searchOrders(t, e, e.StaffToken, map[string]any{"s": "lovelace"}); got.SearchOrders.TotalCount != 2 {
		t.Fatalf("by part of the email: %+v", got)
	}
	got = searchOrders(t, e, e.StaffToken, map[string]any{"s": "bob@", "st": "PENDING_PAYMENT"})
	if got.SearchOrders.TotalCount != 1 || got.SearchOrders.Edges[0].Node.ID != unpaid {
		t.Fatalf("bob's unpaid: %+v", got)
	}
	if got := searchOrders(t, e, e.StaffToken, map[string]any{"s": "nobody-here"}); got.SearchOrders.TotalCount != 0 {
		t.Fatalf("no match: %+v", got)
	}
	if got := searchOrders(t, e, e.StaffToken, map[string]any{}); got.SearchOrders.TotalCount != 4 {
		t.Fatalf("every order: %+v", got)
	}
	wantCode(t, e.Do(t, e.StaffToken, searchOrdersQuery, map[string]any{"s": strings.Repeat("x", 101)}), "BAD_USER_INPUT")
	wantCode(t, e.Do(t, ada, searchOrdersQuery, map[string]any{"s": "bob"}), "FORBIDDEN")
	clerk := addStaff(t, e, "clerk@search.example", "CLERK", "central")
	wantForbidden(t, e.Do(t, clerk.Token, searchOrdersQuery, map[string]any{"s": "bob"}), "clerk")
	member := addStaff(t, e, "ops@search.example", "STAFF", "")
	if got := searchOrders(t, e, member.Token, map[string]any{"s": "bob"}); got.SearchOrders.TotalCount != 2 {
		t.Fatalf("staff member's search: %+v", got)
	}
}

// TestClerkSeesOnlyTheirLocation: a clerk at popup-1 reads the orders
// picked up there (with their buyer, lines and fulfilment) and nothing
// else: an order picked up at another location, its buyer, and any
// wallet are NOT_FOUND; the fulfilment list holds only popup-1's.
func TestClerkSeesOnlyTheirLocation(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			popup := e.Client.Location.Create().SetCode("popup-1").SetName("Pop-up 1").SetKind(location.KindHUB).SaveX(sys())
			clerk := addStaff(t, e, "cleo@clerk.example", "CLERK", "popup-1")
			v := newVariant(t, e, 10, 1500, "EUR")
			here, hereID := e.SignUp(t, "here@clerk.example")
			away, awayID := e.SignUp(t, "away@clerk.example")
			grant(t, e, awayID, 700, "away-gift")
			atPopup := paidOrder(t, e, here, v, "here")
			fid := decodeID(t, orderPickup(t, e, here, atPopup).Node.Fulfillment.ID)
			graphtest.Must(t, e.Client.Fulfillment.UpdateOneID(fid).SetLocationID(popup.ID).Exec(sys()))
			elsewhere := paidOrder(t, e, away, v, "away") // picked up at central

			var mine struct {
				Node *struct {
					Number      string
					Customer    *struct{ Email string }
					Lines       []struct{ Sku string }
					Fulfillment *struct {
						ID       string
						Status   string
						Location struct{ Code string }
					}
				}
			}
			orderQ := `query($id: ID!) { node(id: $id) { ... on Order { number customer { email } lines { sku } fulfillment { id status location { code } } } } }`
			e.Do(t, clerk.Token, orderQ, map[string]any{"id": atPopup}).Decode(t, &mine)
			if mine.Node == nil || mine.Node.Customer == nil || mine.Node.Customer.Email != "here@clerk.example" || len(mine.Node.Lines) != 1 ||
				mine.Node.Fulfillment == nil || mine.Node.Fulfillment.Location.Code != "popup-1" {
				t.Fatalf("the clerk's own pickup: %+v", mine.Node)
			}
			wantCode(t, e.Do(t, clerk.Token, orderQ, map[string]any{"id": elsewhere}), "NOT_FOUND")
			wantCode(t, e.Do(t, clerk.Token, `query($id: ID!) { node(id: $id) { ... on Customer { email } } }`, map[string]any{"id": awayID}), "NOT_FOUND")
			var here2 struct {
				Node struct {
					Email   string
					Wallets []struct{ ID string }
				}
			}
			e.Do(t, clerk.Token, `query($id: ID!) { node(id: $id) { ... on Customer { email wallets { id } } } }`, map[string]any{"id": hereID}).Decode(t, &here2)
			if here2.Node.Email != "here@clerk.example" || len(here2.Node.Wallets) != 0 {
				t.Fatalf("a buyer at the clerk's location: %+v", here2)
			}
			var w struct {
				Customer struct{ Wallets []struct{ ID string } }
			}
			e.Staff(t, `query($id: ID!) { customer: node(id: $id) { ... on Customer { wallets { id } } } }`, map[string]any{"id": awayID}, &w)
			if len(w.Customer.Wallets) != 1 {
				t.Fatalf("staff see the wallet: %+v", w)
			}
			wantCode(t, e.Do(t, clerk.Token, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": w.Customer.Wallets[0].ID}), "NOT_FOUND")

			var list struct {
				Fulfillments struct{ TotalCount int }
			}
			e.Do(t, clerk.Token, `{ fulfillments(first: 50) { totalCount } }`, nil).Decode(t, &list)
			if list.Fulfillments.TotalCount != 1 {
				t.Fatalf("the clerk's fulfilment list: %d, want popup-1's one", list.Fulfillments.TotalCount)
			}
			e.Staff(t, `{ fulfillments(first: 50) { totalCount } }`, nil, &list)
			if list.Fulfillments.TotalCount != 2 {
				t.Fatalf("staff's fulfilment list: %d, want 2", list.Fulfillments.TotalCount)
			}

			// Live: the clerk watches popup-1's pickup, not another location's.
			ws := dialWS(t, e, clerk.Token)
			sub := `subscription($ids: [ID!]!) { fulfillmentUpdated(fulfillmentIds: $ids) { id status } }`
			ws.subscribe("here", sub, map[string]any{"ids": []string{mine.Node.Fulfillment.ID}})
			if got := ws.next("here"); !strings.Contains(got, "UNFULFILLED") {
				t.Fatalf("the clerk's own pickup, watched: %s", got)
			}
			awayF := orderPickup(t, e, away, elsewhere).Node.Fulfillment.ID
			ws.subscribe("away", sub, map[string]any{"ids": []string{mine.Node.Fulfillment.ID, awayF}})
			if code := ws.refusal("away"); code != "NOT_FOUND" {
				t.Fatalf("a clerk watching another location's pickup: %s, want NOT_FOUND", code)
			}
		})
	}
}

// TestRace_grantCreditByDrop: a gift to everyone who bought in a drop, the
// recipients decided on the server: 8 concurrent calls with one key credit
// each buyer once (and a bystander never); every call answers the same.
func TestRace_grantCreditByDrop(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 10, 500, "EUR")
			t0 := e.Clock.Now()
			drop := createDrop(t, e, map[string]any{"title": "Gifted race", "variantIds": []string{v}, "cap": 10, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
			var buyers []string
			for i := range 3 {
				tok, id := e.SignUp(t, fmt.Sprintf("gr%d@example.com", i))
				grant(t, e, id, 500, fmt.Sprint("seed", i))
				var add struct {
					AddToCart struct{ Cart struct{ ID string } }
				}
				addToCart(t, e, tok, v, 1, "a").Decode(t, &add)
				var out checkoutOut
				e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID,
					"payWith": map[string]any{"wallet": map[string]any{"amount": 500, "currency": "EUR"}}, "idempotencyKey": "p"}}).Decode(t, &out)
				if out.Checkout.Order.Status != "PAID" {
					t.Fatalf("buyer %d: %+v", i, out)
				}
				buyers = append(buyers, tok)
			}
			bystander, bystanderID := e.SignUp(t, "bystander-race@example.com")
			grant(t, e, bystanderID, 100, "seed-bystander")
			gifts := countEntries(t, e, walletentry.KindGIFT)
			in := map[string]any{"i": map[string]any{"dropId": drop, "amount": map[string]any{"amount": 250, "currency": "EUR"},
				"note": "thanks for coming", "idempotencyKey": "drop-gift-race"}}
			rs := raceAll(8, func(int) graphtest.Response {
				return graphtest.Post(t, e.URL, e.StaffToken, map[string]any{"query": grantMutation, "variables": in})
			})
			allSame(t, rs)
			var out struct{ GrantCredit struct{ Granted int } }
			rs[0].Decode(t, &out)
			if out.GrantCredit.Granted != 3 {
				t.Fatalf("granted %d, want 3", out.GrantCredit.Granted)
			}
			for i, tok := range buyers {
				if b := balance(t, e, tok); b != 250 {
					t.Fatalf("buyer %d: balance %d, want 250 (one gift)", i, b)
				}
			}
			if b := balance(t, e, bystander); b != 100 {
				t.Fatalf("bystander: balance %d, want 100", b)
			}
			if n := countEntries(t, e, walletentry.KindGIFT) - gifts; n != 3 {
				t.Fatalf("%d gift entries, want 3", n)
			}
		})
	}
}
