package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/hubpayment"
	"github.com/merchd/merchd/ent/outbox"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// The hub's money and stock mutations under races: 16 concurrent calls
// with one input and one key (every caller gets the first result) and 16
// with different keys (the invariant holds: no unit, sale, payment or
// refund more than the rules allow), on SQLite and PostgreSQL.

func stockAt(t *testing.T, e *graphtest.Env, locationID int) int {
	t.Helper()
	n, err := e.Client.Stock.Query().Where(stock.LocationID(locationID)).Aggregate(entSum(stock.FieldAvailable)).Int(sysCtx())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// popup is central and one hub, fest, selling a leased SKU.
type popupEnv struct {
	central, hub *graphtest.Env
	sku          string
	hubVariant   string // the SKU's id on the hub
	hubTok       string // fest's token on central
}

// startPopupEnv leases units of a 25.00 SKU to fest and starts fest with
// them in its own stock and catalog.
func startPopupEnv(t *testing.T, d string, units int) popupEnv {
	t.Helper()
	c := graphtest.New(t, graphtest.Options{Dialect: d})
	c.Hubs.UseTerminal(fakeTerminal{})
	v := newVariant(t, c, 1000, 2500, "EUR")
	sku := skuOf(t, c, v)
	lease(t, c, c.StaffToken, "fest", v, units, "lease")
	tok := hubToken(t, c, "fest")
	h := graphtest.New(t, graphtest.Options{Dialect: d, Hub: "fest", HubToken: tok, Central: c.Hubs})
	err := h.Sales.Adopt(context.Background(), "fest", []hubs.AllocationLine{{SKU: sku, Available: units, Item: &hubs.CatalogItem{
		ProductSlug: "tee-" + strings.ToLower(sku), ProductTitle: "Tee", ProductStatus: "ACTIVE", VariantTitle: "M", PriceAmount: 2500, Currency: "EUR"}}})
	if err != nil {
		t.Fatal(err)
	}
	var vs struct {
		Variants struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	h.Staff(t, `query($s: String!) { variants(first: 1, where: {sku: $s}) { edges { node { id } } } }`, map[string]any{"s": sku}, &vs)
	if len(vs.Variants.Edges) != 1 {
		t.Fatalf("the hub's catalog lacks %s", sku)
	}
	return popupEnv{central: c, hub: h, sku: sku, hubVariant: vs.Variants.Edges[0].Node.ID, hubTok: tok}
}

const hubSellMutation = `mutation($i: HubSellInput!) { hubSell(input: $i) { saleId } }`

func TestRace_hubSell(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			p := startPopupEnv(t, d, 20)
			h := p.hub
			sell := func(qty int, key string) graphtest.Response {
				return h.Do(t, h.StaffToken, hubSellMutation, map[string]any{"i": map[string]any{
					"lines": []any{map[string]any{"variantId": p.hubVariant, "quantity": qty}}, "idempotencyKey": key}})
			}
			rs := make([]graphtest.Response, raceN)
			concurrently(raceN, func(i int) { rs[i] = sell(1, "same") })
			allSame(t, rs)
			if n := stockAt(t, h, h.Catalog.LocationID()); n != 19 {
				t.Fatalf("hub stock %d after one sale sent 16 times, want 19", n)
			}
			concurrently(raceN, func(i int) { rs[i] = sell(2, fmt.Sprintf("k%d", i)) })
			if c := codeCounts(rs); c[""] != 9 || c["OUT_OF_STOCK"] != 7 {
				t.Fatalf("16 sales of 2 from 19: %v, want 9 sold and 7 OUT_OF_STOCK", c)
			}
			if n := stockAt(t, h, h.Catalog.LocationID()); n != 1 {
				t.Fatalf("hub stock %d, want 1", n)
			}
			if n := h.Client.Outbox.Query().Where(outbox.Kind(hubs.OutboxHubSale)).CountX(sysCtx()); n != 10 {
				t.Fatalf("%d sales queued for central, want 10", n)
			}
		})
	}
}

func TestRace_closeHub(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			p := startPopupEnv(t, d, 20)
			h := p.hub
			const closeHub = `mutation($k: String!) { closeHub(input: {idempotencyKey: $k}) { returned { sku available } } }`
			type closed struct {
				CloseHub struct{ Returned []struct{ Available int } }
			}
			rs := make([]graphtest.Response, raceN)
			concurrently(raceN, func(i int) { rs[i] = h.Do(t, h.StaffToken, closeHub, map[string]any{"k": "same"}) })
			allSame(t, rs)
			var c closed
			rs[0].Decode(t, &c)
			if len(c.CloseHub.Returned) != 1 || c.CloseHub.Returned[0].Available != 20 {
				t.Fatalf("close: %+v", c)
			}
			// Stock again (central took the return and leases more); closes
			// with 16 keys hand it back once between them.
			h.Client.Outbox.Update().SetStatus(outbox.StatusDONE).ExecX(sysCtx())
			if err := h.Sales.Adopt(context.Background(), "fest", []hubs.AllocationLine{{SKU: p.sku, Available: 20}}); err != nil {
				t.Fatal(err)
			}
			if n := stockAt(t, h, h.Catalog.LocationID()); n != 20 {
				t.Fatalf("re-adopted %d, want 20", n)
			}
			concurrently(raceN, func(i int) { rs[i] = h.Do(t, h.StaffToken, closeHub, map[string]any{"k": fmt.Sprintf("k%d", i)}) })
			returned := 0
			for _, r := range rs {
				var c closed
				r.Decode(t, &c)
				for _, l := range c.CloseHub.Returned {
					returned += l.Available
				}
			}
			if returned != 20 || stockAt(t, h, h.Catalog.LocationID()) != 0 {
				t.Fatalf("16 closes returned %d units, want 20 once", returned)
			}
			if n := h.Client.Outbox.Query().Where(outbox.Kind(hubs.OutboxHubReturn)).CountX(sysCtx()); n != 2 {
				t.Fatalf("%d returns queued, want 2 (one per stocking)", n)
			}
		})
	}
}

func TestRace_leaseAllocation(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			rs := make([]graphtest.Response, raceN)
			concurrently(raceN, func(i int) { rs[i] = lease(t, e, e.StaffToken, "fest", v, 5, "same") })
			allSame(t, rs)
			concurrently(raceN, func(i int) { rs[i] = lease(t, e, e.StaffToken, "fest", v, 10, fmt.Sprintf("k%d", i)) })
			if c := codeCounts(rs); c[""] != 9 || c["OUT_OF_STOCK"] != 7 {
				t.Fatalf("16 leases of 10 from 95: %v, want 9 and 7 OUT_OF_STOCK", c)
			}
			if a := allocation(t, e, "fest")[sku]; a != 95 || stockAt(t, e, e.Catalog.LocationID()) != 5 {
				t.Fatalf("allocation %d, central %d; want 95 and 5", a, stockAt(t, e, e.Catalog.LocationID()))
			}
		})
	}
}

func TestRace_recordHubSales(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			lease(t, e, e.StaffToken, "fest", v, 20, "l")
			tok := hubToken(t, e, "fest")
			// The saleId is the key: one sale delivered 16 times at once.
			one := hubSale("same", "fest", sku, 1)
			res := make([]hubRecordResult, raceN)
			concurrently(raceN, func(i int) { res[i] = recordAs(t, e, tok, one)[0] })
			applied := 0
			for _, r := range res {
				if r.Error != nil || r.Conflict != nil {
					t.Fatalf("a redelivery: %+v", r)
				}
				if r.Applied {
					applied++
				}
			}
			if applied != 1 || allocation(t, e, "fest")[sku] != 19 {
				t.Fatalf("%d applications, allocation %d; want 1 and 19", applied, allocation(t, e, "fest")[sku])
			}
			// 16 different sales of 2 from 19 left: 9 apply, 7 are conflicts.
			concurrently(raceN, func(i int) { res[i] = recordAs(t, e, tok, hubSale(fmt.Sprintf("k%d", i), "fest", sku, 2))[0] })
			applied, conflicts := 0, 0
			for _, r := range res {
				if r.Error != nil {
					t.Fatalf("refused: %+v", r)
				}
				if r.Applied {
					applied++
				} else if r.Conflict != nil {
					conflicts++
				}
			}
			if applied != 9 || conflicts != 7 || allocation(t, e, "fest")[sku] != 1 || hubSalesCount(t, e, "fest") != 17 {
				t.Fatalf("applied %d, conflicts %d, allocation %d, sales %d; want 9, 7, 1, 17",
					applied, conflicts, allocation(t, e, "fest")[sku], hubSalesCount(t, e, "fest"))
			}
		})
	}
}

func TestRace_returnAllocation(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			lease(t, e, e.StaffToken, "fest", v, 20, "l")
			tok := hubToken(t, e, "fest")
			const ret = `mutation($i: ReturnAllocationInput!) { returnAllocation(input: $i) { units } }`
			back := func(id string, n int) graphtest.Response {
				return e.Do(t, tok, ret, map[string]any{"i": map[string]any{"returnId": id, "hub": "fest", "lines": []any{map[string]any{"sku": sku, "quantity": n}}}})
			}
			rs := make([]graphtest.Response, raceN)
			concurrently(raceN, func(i int) { rs[i] = back("same", 5) })
			allSame(t, rs)
			if a := allocation(t, e, "fest")[sku]; a != 15 || stockAt(t, e, e.Catalog.LocationID()) != 85 {
				t.Fatalf("after one return sent 16 times: allocation %d, central %d; want 15, 85", a, stockAt(t, e, e.Catalog.LocationID()))
			}
			concurrently(raceN, func(i int) { rs[i] = back(fmt.Sprintf("k%d", i), 2) })
			if c := codeCounts(rs); c[""] != 7 || c["BAD_USER_INPUT"] != 9 {
				t.Fatalf("16 returns of 2 from 15: %v, want 7 and 9 refused", c)
			}
			if a := allocation(t, e, "fest")[sku]; a != 1 || stockAt(t, e, e.Catalog.LocationID()) != 99 {
				t.Fatalf("allocation %d, central %d; want 1, 99", a, stockAt(t, e, e.Catalog.LocationID()))
			}
		})
	}
}

const payHubSaleMutation = `mutation($r: String!) { payHubSale(input: {request: $r}) { saleId paymentIntentId } }`

// hubRequest is fest's signed request for qty units of sku.
func hubRequest(sku, saleID, tok string, qty int) string {
	return hubs.PaymentRequest{SaleID: saleID, Hub: "fest", Amount: int64(qty) * 2500, Currency: "EUR",
		Lines: []hubs.SaleLine{{SKU: sku, Quantity: qty, UnitAmount: 2500}}}.SignWith(hubs.RequestKey(tok)).Encode()
}

func TestRace_payHubSale(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			lease(t, e, e.StaffToken, "fest", v, 20, "l")
			tok := hubToken(t, e, "fest")
			// The sale id is the key: one PaymentIntent however often it is asked.
			rs := make([]graphtest.Response, raceN)
			same := hubRequest(sku, "same", tok, 1)
			concurrently(raceN, func(i int) { rs[i] = e.Do(t, "", payHubSaleMutation, map[string]any{"r": same}) })
			allSame(t, rs)
			concurrently(raceN, func(i int) {
				rs[i] = e.Do(t, "", payHubSaleMutation, map[string]any{"r": hubRequest(sku, fmt.Sprintf("k%d", i), tok, 1)})
			})
			if c := codeCounts(rs); c[""] != raceN {
				t.Fatalf("16 sales: %v", c)
			}
			pis := map[string]bool{}
			for _, p := range e.Client.HubPayment.Query().AllX(sysCtx()) {
				if p.StripePaymentIntentID == nil || p.Amount != 2500 {
					t.Fatalf("payment %+v", p)
				}
				pis[*p.StripePaymentIntentID] = true
			}
			if len(pis) != raceN+1 {
				t.Fatalf("%d PaymentIntents for %d sales", len(pis), raceN+1)
			}
			// Paying moves no stock until the hub sells.
			if a := allocation(t, e, "fest")[sku]; a != 20 {
				t.Fatalf("allocation %d, want 20", a)
			}
		})
	}
}

func TestRace_refundHubPayment(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			lease(t, e, e.StaffToken, "fest", v, 20, "l")
			tok := hubToken(t, e, "fest")
			paid := func(saleID string) string {
				var p struct {
					PayHubSale struct{ PaymentIntentID string }
				}
				e.Do(t, "", payHubSaleMutation, map[string]any{"r": hubRequest(sku, saleID, tok, 1)}).Decode(t, &p)
				body, sig := e.Stripe.Event(t, "evt_"+saleID, "payment_intent.succeeded", p.PayHubSale.PaymentIntentID)
				if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != 200 {
					t.Fatalf("webhook %d", code)
				}
				return p.PayHubSale.PaymentIntentID
			}
			const refund = `mutation($s: String!) { refundHubPayment(input: {saleId: $s}) { status } }`
			// The sale id is the key: refunded once however often staff ask.
			pi := paid("same")
			rs := make([]graphtest.Response, raceN)
			concurrently(raceN, func(i int) { rs[i] = e.Do(t, e.StaffToken, refund, map[string]any{"s": "same"}) })
			allSame(t, rs)
			if got := e.Stripe.Intent(pi).Refunded; got != 2500 {
				t.Fatalf("refunded %d, want 2500 once", got)
			}
			// 16 sales refunded at once, each once.
			pis := make([]string, raceN)
			for i := range raceN {
				pis[i] = paid(fmt.Sprintf("k%d", i))
			}
			concurrently(raceN, func(i int) { rs[i] = e.Do(t, e.StaffToken, refund, map[string]any{"s": fmt.Sprintf("k%d", i)}) })
			for i, r := range rs {
				if len(r.Errors) > 0 || e.Stripe.Intent(pis[i]).Refunded != 2500 {
					t.Fatalf("refund %d: %+v, refunded %d", i, r.Errors, e.Stripe.Intent(pis[i]).Refunded)
				}
			}
			if n := e.Client.HubPayment.Query().Where(hubpayment.StatusEQ(hubpayment.StatusREFUNDED)).CountX(sysCtx()); n != raceN+1 {
				t.Fatalf("%d refunded payments, want %d", n, raceN+1)
			}
		})
	}
}

func TestRace_startTerminalPayment(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			e.Hubs.UseTerminal(fakeTerminal{})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			lease(t, e, e.StaffToken, "fest", v, 20, "l")
			tok := hubToken(t, e, "fest")
			e.Staff(t, `mutation { bindTerminalReader(input: {readerId: "tmr_a", hub: "fest"}) { hub } }`, nil, &struct{}{})
			const start = `mutation($q: String!) { startTerminalPayment(input: {request: $q, readerId: "tmr_a"}) { saleId paymentIntentId } }`
			// The sale id is the key: one PaymentIntent for the sale.
			rs := make([]graphtest.Response, raceN)
			same := hubRequest(sku, "same", tok, 1)
			concurrently(raceN, func(i int) { rs[i] = e.Do(t, tok, start, map[string]any{"q": same}) })
			allSame(t, rs)
			concurrently(raceN, func(i int) {
				rs[i] = e.Do(t, tok, start, map[string]any{"q": hubRequest(sku, fmt.Sprintf("k%d", i), tok, 1)})
			})
			if c := codeCounts(rs); c[""] != raceN {
				t.Fatalf("16 payments: %v", c)
			}
			if n := e.Client.HubPayment.Query().CountX(sysCtx()); n != raceN+1 {
				t.Fatalf("%d payments, want %d", n, raceN+1)
			}
			if a := allocation(t, e, "fest")[sku]; a != 20 {
				t.Fatalf("allocation %d: starting a payment moved stock", a)
			}
		})
	}
}

// TestRace_hubCardPayment: hubCardPayment takes no key — each call is a
// new sale with its own id, so 16 calls start 16 payments on central and
// move no stock and no money by construction (the hub sells only with
// the signed receipt, once per sale id). Asserted here.
func TestRace_hubCardPayment(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			p := startPopupEnv(t, d, 20)
			c, h := p.central, p.hub
			const card = `mutation($v: ID!) { hubCardPayment(input: {lines: [{variantId: $v, quantity: 1}], readerId: "tmr_a"}) { saleId } }`
			rs := make([]graphtest.Response, raceN)
			concurrently(raceN, func(i int) { rs[i] = h.Do(t, h.StaffToken, card, map[string]any{"v": p.hubVariant}) })
			ids := map[string]bool{}
			for _, r := range rs {
				var out struct{ HubCardPayment struct{ SaleID string } }
				r.Decode(t, &out)
				ids[out.HubCardPayment.SaleID] = true
			}
			if len(ids) != raceN || c.Client.HubPayment.Query().CountX(sysCtx()) != raceN {
				t.Fatalf("%d sale ids, %d payments; want %d each", len(ids), c.Client.HubPayment.Query().CountX(sysCtx()), raceN)
			}
			if n := stockAt(t, h, h.Catalog.LocationID()); n != 20 {
				t.Fatalf("hub stock %d: starting card payments sold", n)
			}
			if n := c.Client.HubPayment.Query().Where(hubpayment.StatusNEQ(hubpayment.StatusPENDING)).CountX(sysCtx()); n != 0 {
				t.Fatalf("%d payments moved money without a card", n)
			}
		})
	}
}

func sysCtx() context.Context { return viewer.SystemContext(context.Background()) }

func entSum(field string) ent.AggregateFunc { return ent.Sum(field) }
