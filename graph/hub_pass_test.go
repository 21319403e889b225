package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestFinding2_PassCapIsCumulative: one wallet pass pays at most the hub
// offline limit in total, over every sale made with it at every hub: four
// 20.00 sales with one pass from hubs A and B take 20.00 from an 80.00
// wallet, the rest is SHORTFALL; sixteen sales with one pass recorded at
// once take exactly the limit, the last partly.
func TestFinding2_PassCapIsCumulative(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			e.Hubs.LimitHubWalletSales(2000)
			v := newVariant(t, e, 100, 2000, "EUR")
			sku := skuOf(t, e, v)
			lease(t, e, e.StaffToken, "fest", v, 10, "l1")
			lease(t, e, e.StaffToken, "fair", v, 10, "l2")
			toks := map[string]string{"fest": hubToken(t, e, "fest"), "fair": hubToken(t, e, "fair")}
			cust, pass := walletCustomer(t, e, "cap@example.com", 8000)
			soldAt := e.Clock.Now().Add(time.Minute)

			for i, h := range []string{"fest", "fest", "fest", "fair"} {
				r := recordAs(t, e, toks[h], walletHubSale(fmt.Sprintf("cap-%d", i), h, sku, 1, 2000, pass, soldAt))[0]
				if !r.Applied || r.Error != nil {
					t.Fatalf("sale %d at %s not recorded: %+v", i, h, r)
				}
				if (i == 0) != (r.Conflict == nil) {
					t.Fatalf("sale %d at %s: %+v, want only the first paid in full", i, h, r)
				}
				if i > 0 && !strings.Contains(*r.Conflict, "20.00 EUR short") {
					t.Fatalf("sale %d at %s: conflict %q, want 20.00 short", i, h, *r.Conflict)
				}
			}
			if b := balance(t, e, cust); b != 6000 {
				t.Fatalf("balance %d after four sales with one pass, want 6000: a pass pays 20.00 in all", b)
			}
			if n, sum := shortfalls(t, e); n != 3 || sum != 6000 {
				t.Fatalf("%d shortfalls of %d, want 3 of 6000", n, sum)
			}

			// Sixteen sales of 7.00 with one fresh pass at once, from both
			// hubs: 20.00 is taken, exactly (the third sale partly).
			e.Clock.Advance(time.Second) // a pass issued later is another pass
			cust2, pass2 := walletCustomer(t, e, "race@example.com", 8000)
			v2 := newVariant(t, e, 100, 700, "EUR")
			sku2 := skuOf(t, e, v2)
			lease(t, e, e.StaffToken, "fest", v2, 8, "l3")
			lease(t, e, e.StaffToken, "fair", v2, 8, "l4")
			const n = 16
			results := raceAll(n, func(i int) hubRecordResult {
				h := []string{"fest", "fair"}[i%2]
				return recordAs(t, e, toks[h], walletHubSale(fmt.Sprintf("race-%02d", i), h, sku2, 1, 700, pass2, soldAt))[0]
			})
			paid := 0
			for _, r := range results {
				if !r.Applied || r.Error != nil {
					t.Fatalf("a wallet hub sale was not recorded: %+v", r)
				}
				if r.Conflict == nil {
					paid++
				}
			}
			if b := balance(t, e, cust2); b != 6000 || paid != 2 {
				t.Fatalf("balance %d with %d sales paid in full, want 6000 and 2: one pass pays 20.00 in all", b, paid)
			}
			if n2, sum := shortfalls(t, e); n2 != 3+n-2 || sum != 6000+n*700-2000 {
				t.Fatalf("%d shortfalls of %d, want %d of %d", n2, sum, 3+n-2, 6000+n*700-2000)
			}
		})
	}
}

// shortfalls counts the SHORTFALL hub sales and adds up what they are short.
func shortfalls(t *testing.T, e *graphtest.Env) (n, sum int) {
	t.Helper()
	var short struct {
		HubSales struct {
			TotalCount int
			Edges      []struct{ Node struct{ ShortfallAmount int } }
		}
	}
	e.Staff(t, `{ hubSales(first: 50, where: {status: SHORTFALL}) { totalCount edges { node { shortfallAmount } } } }`, nil, &short)
	for _, ed := range short.HubSales.Edges {
		sum += ed.Node.ShortfallAmount
	}
	return short.HubSales.TotalCount, sum
}

// TestFinding2_HubPassCapIsCumulative: a hub, too, lets one pass pay at
// most its offline limit in total: once central has confirmed the first
// sales (the wallet's unconfirmed spend is back to zero), the same pass
// is still refused beyond the limit; a fresh pass pays again.
func TestFinding2_HubPassCapIsCumulative(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			p := startPopupEnv(t, d, 20)
			c, h := p.central, p.hub
			key, err := hubs.ParsePublicKey(c.Hubs.SigningKey())
			if err != nil {
				t.Fatal(err)
			}
			h.Sales.TrustCentral(key, 5000)
			h.Clock.Set(c.Clock.Now())
			cust, pass := walletCustomer(t, c, "hubcap@example.com", 20000)
			wp, err := key.WalletPass(pass, c.Clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Sales.AdoptWallets(context.Background(), "EUR", []hubs.WalletBalance{{CustomerID: wp.CustomerID, Balance: 20000}}); err != nil {
				t.Fatal(err)
			}
			sell := func(pass, key string) graphtest.Response {
				return h.Do(t, h.StaffToken, hubSellMutation, map[string]any{"i": map[string]any{
					"lines":    []any{map[string]any{"variantId": p.hubVariant, "quantity": 1}},
					"paidWith": "WALLET", "walletPass": pass, "idempotencyKey": key}})
			}
			var ids []string
			for _, k := range []string{"a", "b"} {
				var out struct{ HubSell struct{ SaleID string } }
				sell(pass, k).Decode(t, &out)
				ids = append(ids, out.HubSell.SaleID)
			}
			// Central confirms both sales: unconfirmed is back to zero.
			tx, err := h.Client.Tx(sysCtx())
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Sales.Confirmed(sysCtx(), tx, ids, nil); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if r := sell(pass, "c"); r.Code() != "INSUFFICIENT_FUNDS" {
				t.Fatalf("a third 25.00 sale with a pass that paid 50.00 of a 50.00 limit: %+v", r.Errors)
			}
			c.Clock.Advance(time.Second)
			h.Clock.Set(c.Clock.Now())
			var fresh struct{ WalletPass struct{ Code string } }
			c.Do(t, cust, `{ walletPass { code } }`, nil).Decode(t, &fresh)
			if r := sell(fresh.WalletPass.Code, "d"); r.Code() != "" {
				t.Fatalf("a sale with a fresh pass: %+v", r.Errors)
			}
		})
	}
}
