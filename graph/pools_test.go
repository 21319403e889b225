package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/catalog"
	"github.com/merchd/merchd/edge"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/droppool"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/stream"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// newStream creates a stream through the staff API and, when live, marks
// it LIVE as its publisher's WHIP session would; it returns the stream's id.
func newStream(t testing.TB, e *graphtest.Env, live bool) string {
	t.Helper()
	var cs struct {
		CreateStream struct{ Stream struct{ ID string } }
	}
	e.Staff(t, `mutation { createStream(input: {title: "Live drop"}) { stream { id } } }`, nil, &cs)
	id := cs.CreateStream.Stream.ID
	if live {
		setStreamState(t, e, id, stream.StateLIVE)
	}
	return id
}

func setStreamState(t testing.TB, e *graphtest.Env, id string, st stream.State) {
	t.Helper()
	n, err := gid.Decode(id)
	graphtest.Must(t, err)
	graphtest.Must(t, e.Client.Stream.UpdateOneID(n).SetState(st).Exec(viewer.SystemContext(context.Background())))
}

// pools reads a drop's pools as channel → remaining.
func pools(t testing.TB, e *graphtest.Env, dropID string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, p := range getDrop(t, e, dropID).Pools {
		got[p.Channel] = p.Remaining
	}
	return got
}

// TestFinding3_ChannelPoolsEnforced: the server derives the channel pool.
// An online customer cannot take the LIVE or HUB pool by naming it; LIVE
// needs the streamId of a stream that is live; HUB is the hub's counter's.
func TestFinding3_ChannelPoolsEnforced(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 20, 2500, "EUR")
			t0 := e.Clock.Now()
			dropID := createDrop(t, e, map[string]any{"title": "Pools", "variantIds": []string{v}, "cap": 6,
				"opensAt": t0, "closesAt": t0.Add(time.Hour), "pools": []any{
					map[string]any{"channel": "ONLINE", "units": 4}, map[string]any{"channel": "LIVE", "units": 1},
					map[string]any{"channel": "HUB", "units": 1}}})
			tok, _ := e.SignUp(t, "online@example.com")
			add := func(key string, extra map[string]any) graphtest.Response {
				in := map[string]any{"variantId": v, "quantity": 1, "idempotencyKey": key}
				for k, x := range extra {
					in[k] = x
				}
				return e.Do(t, tok, addToCartMutation, map[string]any{"i": in})
			}
			idle := newStream(t, e, false)
			live := newStream(t, e, true)
			ghost := gid.Encode(1 << 40) // no such stream

			for name, c := range map[string]struct {
				in   map[string]any
				code string
			}{
				"HUB online":            {map[string]any{"channel": "HUB"}, "BAD_USER_INPUT"},
				"LIVE without a stream": {map[string]any{"channel": "LIVE"}, "BAD_USER_INPUT"},
				"LIVE, idle stream":     {map[string]any{"channel": "LIVE", "streamId": idle}, "STREAM_NOT_LIVE"},
				"idle stream":           {map[string]any{"streamId": idle}, "STREAM_NOT_LIVE"},
				"unknown stream":        {map[string]any{"streamId": ghost}, "BAD_USER_INPUT"},
				"HUB with live stream":  {map[string]any{"channel": "HUB", "streamId": live}, "BAD_USER_INPUT"},
				"ONLINE with live":      {map[string]any{"channel": "ONLINE", "streamId": live}, "BAD_USER_INPUT"},
			} {
				if r := add("refused-"+strings.ReplaceAll(name, " ", "_"), c.in); r.Code() != c.code {
					t.Errorf("%s: want %s, got %q %+v", name, c.code, r.Code(), r.Errors)
				} else if strings.Contains(r.Errors[0].Message, "idempotencyKey") {
					t.Errorf("%s: refused for its key: %s", name, r.Errors[0].Message)
				}
			}
			if got := pools(t, e, dropID); got["ONLINE"] != 4 || got["LIVE"] != 1 || got["HUB"] != 1 {
				t.Fatalf("refusals moved pools: %v", got)
			}

			// No channel: ONLINE. A live stream: LIVE, with or without the claim.
			wantCode(t, add("plain", nil), "")
			wantCode(t, add("from-stream", map[string]any{"streamId": live, "channel": "LIVE"}), "")
			if got := pools(t, e, dropID); got["ONLINE"] != 3 || got["LIVE"] != 0 || got["HUB"] != 1 {
				t.Fatalf("after an online and a live hold: %v", got)
			}
			ctx := viewer.SystemContext(context.Background())
			lines := e.Client.CartLine.Query().Where(cartline.StatusEQ(cartline.StatusHELD)).Order(cartline.ByID()).AllX(ctx)
			if len(lines) != 2 || lines[0].Channel != checkout.ChannelOnline || lines[1].Channel != checkout.ChannelLive ||
				lines[1].StreamID == nil || gid.Encode(*lines[1].StreamID) != live {
				t.Fatalf("held lines: %+v", lines)
			}

			// The stream ends: its attribution and its pool go with it.
			setStreamState(t, e, live, stream.StateENDED)
			wantCode(t, add("after-end", map[string]any{"streamId": live}), "STREAM_NOT_LIVE")

			// The hub's counter (the till on the hub's own server) draws on HUB.
			hubLoc := hubLocation(t, e, "popup-"+d)
			vID, _ := gid.Decode(v)
			staff := viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Staff, StaffID: 1})
			_, err := e.Catalog.SetStock(staff, vID, hubLoc, 5, "hub-stock")
			graphtest.Must(t, err)
			hubCarts, err := carts.New(e.Client, e.DB.Dialect, carts.DefaultConfig(), e.Clock.Now, e.Drops, hubLoc)
			graphtest.Must(t, err)
			sales := edge.NewSales(e.Client, e.DB.Dialect, "popup-"+d, e.Clock.Now)
			if _, err := sales.ScanToTill(staff, hubCarts, variantSKU(t, e, vID), "scan-1"); err != nil {
				t.Fatalf("till scan: %v", err)
			}
			if _, err := sales.ScanToTill(staff, hubCarts, variantSKU(t, e, vID), "scan-2"); err == nil {
				t.Fatal("a second till scan took more than the HUB pool")
			}
			if got := pools(t, e, dropID); got["ONLINE"] != 3 || got["LIVE"] != 0 || got["HUB"] != 0 {
				t.Fatalf("after the till's hold: %v", got)
			}
			n := e.Client.DropPool.Query().Where(droppool.ChannelEQ(checkout.ChannelHub), droppool.Remaining(0)).CountX(ctx)
			if n != 1 {
				t.Fatalf("HUB pool not used by the till")
			}
		})
	}
}

// hubLocation makes the location of a hub (as `merchd edge` does for its
// own server) and returns its id.
func hubLocation(t testing.TB, e *graphtest.Env, code string) int {
	t.Helper()
	c, err := catalog.New(context.Background(), e.Client, catalog.Config{Currencies: []string{"EUR"}, Location: code})
	graphtest.Must(t, err)
	return c.LocationID()
}

func variantSKU(t testing.TB, e *graphtest.Env, id int) string {
	t.Helper()
	v, err := e.Client.Variant.Get(viewer.SystemContext(context.Background()), id)
	graphtest.Must(t, err)
	return v.Sku
}

// TestFinding11_SetStockCountsHolds: setStock is a shelf count that holds
// are part of. Hold 3 of 10, count 10, release the hold: 10 can be sold,
// not 13.
func TestFinding11_SetStockCountsHolds(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 10, 2500, "EUR")
			tok, _ := e.SignUp(t, "shopper@example.com")
			wantCode(t, addToCart(t, e, tok, v, 3, "hold-3"), "")
			if got := stockOf(t, e, v); got != 7 {
				t.Fatalf("after a hold of 3: %d", got)
			}
			var out struct{ SetStock struct{ Available int } }
			set := `mutation($i: SetStockInput!) { setStock(input: $i) { available } }`
			e.Staff(t, set, map[string]any{"i": map[string]any{"variantId": v, "available": 10, "idempotencyKey": "count-10"}}, &out)
			if out.SetStock.Available != 7 || stockOf(t, e, v) != 7 {
				t.Fatalf("count of 10 with 3 held: payload %d, stock %d (want 7)", out.SetStock.Available, stockOf(t, e, v))
			}
			// A count below the holds contradicts them.
			r := e.Do(t, e.StaffToken, set, map[string]any{"i": map[string]any{"variantId": v, "available": 2, "idempotencyKey": "count-2"}})
			wantCode(t, r, "BAD_USER_INPUT")
			if !strings.Contains(r.Errors[0].Message, "3 units are held") {
				t.Fatalf("refusal message: %s", r.Errors[0].Message)
			}

			var c struct {
				Cart struct{ Lines []struct{ ID string } }
			}
			e.Do(t, tok, `{ cart { lines { id } } }`, nil).Decode(t, &c)
			wantCode(t, e.Do(t, tok, `mutation($i: RemoveFromCartInput!) { removeFromCart(input: $i) { cart { id } } }`,
				map[string]any{"i": map[string]any{"lineId": c.Cart.Lines[0].ID, "idempotencyKey": "rm"}}), "")
			if got := stockOf(t, e, v); got != 10 {
				t.Fatalf("after releasing the hold: %d sellable, counted 10", got)
			}
			// The same count again, with nothing held: 10.
			e.Staff(t, set, map[string]any{"i": map[string]any{"variantId": v, "available": 10, "idempotencyKey": "count-10b"}}, &out)
			if out.SetStock.Available != 10 || stockOf(t, e, v) != 10 {
				t.Fatalf("recount: %d / %d", out.SetStock.Available, stockOf(t, e, v))
			}
		})
	}
}

// TestFinding12_Currencies: only ISO 4217 currencies in use get in (wallet
// adjustments, credit, top-ups), and amounts come out in the currency's own
// minor unit: the ¥3,500 tee is ¥3,500 with 0 digits, not ¥35.
func TestFinding12_Currencies(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			tok, cust := e.SignUp(t, "yen@example.com")
			for i, cur := range []string{"zz'", "XYZ", "eur", "DEM"} {
				key := "bad-" + strings.Repeat("x", i)
				for name, call := range map[string]graphtest.Response{
					"adjustWallet": e.Do(t, e.StaffToken, `mutation($i: AdjustWalletInput!) { adjustWallet(input: $i) { entry { id } } }`,
						map[string]any{"i": map[string]any{"customerId": cust, "amount": map[string]any{"amount": 500, "currency": cur}, "reason": "goodwill", "idempotencyKey": key}}),
					"grantCredit": e.Do(t, e.StaffToken, `mutation($i: GrantCreditInput!) { grantCredit(input: $i) { granted } }`,
						map[string]any{"i": map[string]any{"customerIds": []string{cust}, "amount": map[string]any{"amount": 500, "currency": cur}, "note": "gift", "idempotencyKey": key}}),
					"topUpWallet": e.Do(t, tok, `mutation($i: TopUpWalletInput!) { topUpWallet(input: $i) { clientSecret } }`,
						map[string]any{"i": map[string]any{"amount": map[string]any{"amount": 2000, "currency": cur}, "idempotencyKey": key}}),
				} {
					if call.Code() != "BAD_USER_INPUT" || !strings.Contains(call.Errors[0].Message, "currency") {
						t.Errorf("%s in %q: %q %+v", name, cur, call.Code(), call.Errors)
					}
				}
			}
			if n := e.Client.Wallet.Query().CountX(viewer.SystemContext(context.Background())); n != 0 {
				t.Fatalf("%d wallets made from bad currencies", n)
			}

			// A JPY shop: the tee costs 3500 yen.
			ctx := context.Background()
			staff := viewer.NewContext(ctx, viewer.Viewer{Role: viewer.Staff, StaffID: 1})
			yen, err := catalog.New(ctx, e.Client, catalog.Config{Currencies: []string{"JPY"}, Location: "central"})
			graphtest.Must(t, err)
			var p struct {
				CreateProduct struct{ Product struct{ ID string } }
			}
			e.Staff(t, `mutation { createProduct(input: {title: "Tee", slug: "yen-tee"}) { product { id } } }`, nil, &p)
			pid, _ := gid.Decode(p.CreateProduct.Product.ID)
			sku, title := "TEE-JP", "M"
			v, err := yen.CreateVariant(staff, pid, catalog.VariantInput{SKU: &sku, Title: &title, Price: &checkout.Money{Amount: 3500, Currency: "JPY"}})
			graphtest.Must(t, err)
			var out struct {
				Node struct {
					Price struct {
						Amount         int
						Currency       string
						CurrencyDigits int
						Formatted      string
					}
				}
			}
			e.Do(t, e.StaffToken, `query($id: ID!) { node(id: $id) { ... on Variant { price { amount currency currencyDigits formatted } } } }`,
				map[string]any{"id": gid.Encode(v.ID)}).Decode(t, &out)
			if pr := out.Node.Price; pr.Amount != 3500 || pr.CurrencyDigits != 0 || pr.Formatted != "¥3,500" {
				t.Fatalf("JPY price: %+v", pr)
			}
			var eur struct {
				Node struct {
					Price struct {
						CurrencyDigits int
						Formatted      string
					}
				}
			}
			e.Do(t, e.StaffToken, `query($id: ID!) { node(id: $id) { ... on Variant { price { currencyDigits formatted } } } }`,
				map[string]any{"id": newVariant(t, e, 1, 3500, "EUR")}).Decode(t, &eur)
			if eur.Node.Price.CurrencyDigits != 2 || eur.Node.Price.Formatted != "€35.00" {
				t.Fatalf("EUR price: %+v", eur.Node.Price)
			}
		})
	}
}
