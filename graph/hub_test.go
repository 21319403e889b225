package graph_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/graph/graphtest"
)

const leaseMutation = `mutation($i: LeaseAllocationInput!) { leaseAllocation(input: $i) { available } }`

const recordMutation = `mutation($i: RecordHubSalesInput!) { recordHubSales(input: $i) { results { saleId applied conflict error } } }`

type saleResult struct {
	SaleID   string
	Applied  bool
	Conflict *string
	Error    *string
}

func lease(t *testing.T, e *graphtest.Env, tok, hub, variant string, units int, key string) graphtest.Response {
	t.Helper()
	return e.Do(t, tok, leaseMutation, map[string]any{"i": map[string]any{"hub": hub, "variantId": variant, "units": units, "idempotencyKey": key}})
}

func hubSale(id, hub, sku string, qty int) map[string]any {
	return map[string]any{"saleId": id, "hub": hub, "currency": "EUR", "paidWith": "CASH", "soldAt": time.Now().UTC().Format(time.RFC3339),
		"lines": []map[string]any{{"sku": sku, "quantity": qty, "unitAmount": 2500}}}
}

func record(t *testing.T, e *graphtest.Env, sales ...map[string]any) []saleResult {
	t.Helper()
	var out struct {
		RecordHubSales struct{ Results []saleResult }
	}
	e.Staff(t, recordMutation, map[string]any{"i": map[string]any{"sales": sales}}, &out)
	return out.RecordHubSales.Results
}

func allocation(t *testing.T, e *graphtest.Env, hub string) map[string]int {
	t.Helper()
	var out struct {
		HubAllocation []struct {
			Sku       string
			Available int
		}
	}
	e.Staff(t, `query($h: String!) { hubAllocation(hub: $h) { sku available } }`, map[string]any{"h": hub}, &out)
	m := map[string]int{}
	for _, l := range out.HubAllocation {
		m[l.Sku] = l.Available
	}
	return m
}

func hubSalesCount(t *testing.T, e *graphtest.Env, hub string) int {
	t.Helper()
	var out struct{ HubSales struct{ TotalCount int } }
	e.Staff(t, `query($h: String!) { hubSales(first: 0, where: {hub: $h}) { totalCount } }`, map[string]any{"h": hub}, &out)
	return out.HubSales.TotalCount
}

func skuOf(t *testing.T, e *graphtest.Env, variant string) string {
	t.Helper()
	var out struct{ Node struct{ Sku string } }
	e.Staff(t, `query($id: ID!) { node(id: $id) { ... on Variant { sku } } }`, map[string]any{"id": variant}, &out)
	return out.Node.Sku
}

// TestHubLeaseAndRecord: central leases stock to a hub atomically and
// applies each delivered hub sale exactly once, however often and however
// concurrently it arrives; refusals change nothing and say why.
func TestHubLeaseAndRecord(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			buyer, _ := e.SignUp(t, "fan@example.com")

			// Only staff lease; bad input and over-leasing are refused.
			wantCode(t, lease(t, e, buyer, "fest", v, 10, "l0"), "FORBIDDEN")
			wantCode(t, lease(t, e, "", "fest", v, 10, "l0"), "UNAUTHENTICATED")
			wantCode(t, lease(t, e, e.StaffToken, "bad code!", v, 10, "l0"), "BAD_USER_INPUT")
			wantCode(t, lease(t, e, e.StaffToken, "fest", v, 0, "l0"), "BAD_USER_INPUT")
			wantCode(t, lease(t, e, e.StaffToken, "fest", v, 101, "l0"), "OUT_OF_STOCK")
			var l struct{ LeaseAllocation struct{ Available int } }
			lease(t, e, e.StaffToken, "fest", v, 60, "l1").Decode(t, &l)
			if l.LeaseAllocation.Available != 60 {
				t.Fatalf("leased %d, want 60", l.LeaseAllocation.Available)
			}
			lease(t, e, e.StaffToken, "fest", v, 60, "l1").Decode(t, &l) // replay
			if got := allocation(t, e, "fest")[sku]; got != 60 {
				t.Fatalf("replayed lease: hub has %d, want 60", got)
			}
			wantCode(t, lease(t, e, e.StaffToken, "fest", v, 61, "l1"), "IDEMPOTENCY_KEY_REUSED")

			// 10 sales delivered by 4 racing deliveries each: applied once.
			sales := make([]map[string]any, 10)
			for i := range sales {
				sales[i] = hubSale(fmt.Sprintf("sale-%02d", i), "fest", sku, 2)
			}
			var wg sync.WaitGroup
			applied := make([]int, 4)
			for w := range applied {
				wg.Go(func() {
					for _, r := range record(t, e, sales...) {
						if r.Error != nil {
							t.Errorf("sale %s refused: %s", r.SaleID, *r.Error)
						}
						if r.Applied {
							applied[w]++
						}
					}
				})
			}
			wg.Wait()
			if total := applied[0] + applied[1] + applied[2] + applied[3]; total != 10 {
				t.Fatalf("%d applications of 10 sales", total)
			}
			if got := allocation(t, e, "fest")[sku]; got != 40 {
				t.Fatalf("hub allocation after 20 units sold: %d, want 40", got)
			}
			if n := hubSalesCount(t, e, "fest"); n != 10 {
				t.Fatalf("central holds %d hub sales, want 10", n)
			}

			// A sale beyond the allocation, or of an unknown SKU, becomes a
			// CONFLICT record for staff without touching stock; the rest of the
			// batch applies; an unknown hub is refused and stays with the hub.
			tooBig := hubSale("too-big", "fest", sku, 41) // redelivered below as is
			res := record(t, e, tooBig, hubSale("ghost", "fest", "NO-SUCH-SKU", 1),
				hubSale("ok", "fest", sku, 1), hubSale("lost", "nowhere", sku, 1))
			if res[0].Applied || res[0].Conflict == nil || !strings.Contains(*res[0].Conflict, "allocation") || res[0].Error != nil {
				t.Fatalf("over-allocation sale: %+v", res[0])
			}
			if res[1].Applied || res[1].Conflict == nil || !strings.Contains(*res[1].Conflict, "NO-SUCH-SKU") {
				t.Fatalf("unknown SKU: %+v", res[1])
			}
			if !res[2].Applied || res[2].Error != nil || res[2].Conflict != nil {
				t.Fatalf("good sale in a mixed batch: %+v", res[2])
			}
			if res[3].Applied || res[3].Error == nil || res[3].Conflict != nil {
				t.Fatalf("sale from an unknown hub: %+v", res[3])
			}
			if again := record(t, e, tooBig); again[0].Applied || again[0].Conflict != nil || again[0].Error != nil {
				t.Fatalf("redelivered conflict: %+v", again[0])
			}
			if got := allocation(t, e, "fest")[sku]; got != 39 {
				t.Fatalf("allocation after conflicts: %d, want 39", got)
			}
			if n := hubSalesCount(t, e, "fest"); n != 13 {
				t.Fatalf("central holds %d hub sales, want 13", n)
			}
			var conflicts struct {
				HubSales struct {
					Edges []struct {
						Node struct{ SaleID, Conflict string }
					}
				}
			}
			e.Staff(t, `{ hubSales(first: 10, where: {status: CONFLICT}) { edges { node { saleID conflict } } } }`, nil, &conflicts)
			if len(conflicts.HubSales.Edges) != 2 {
				t.Fatalf("staff see %d conflicts, want 2: %+v", len(conflicts.HubSales.Edges), conflicts)
			}

			// Malformed deliveries are refused whole.
			bad := hubSale("neg", "fest", sku, 1)
			bad["lines"] = []map[string]any{{"sku": sku, "quantity": 0, "unitAmount": 100}}
			if res := record(t, e, bad); res[0].Applied || res[0].Error == nil || !strings.Contains(*res[0].Error, "quantity") {
				t.Fatalf("zero-quantity line: %+v", res[0])
			}
			many := make([]map[string]any, 101)
			for i := range many {
				many[i] = hubSale(fmt.Sprintf("m%d", i), "fest", sku, 1)
			}
			wantCode(t, e.Do(t, e.StaffToken, recordMutation, map[string]any{"i": map[string]any{"sales": many}}), "BAD_USER_INPUT")
			wantCode(t, e.Do(t, buyer, recordMutation, map[string]any{"i": map[string]any{"sales": []any{hubSale("x", "fest", sku, 1)}}}), "FORBIDDEN")
			wantCode(t, e.Do(t, buyer, `{ hubAllocation(hub: "fest") { sku } }`, nil), "FORBIDDEN")
			if n := hubSalesCount(t, e, "fest"); n != 13 {
				t.Fatalf("refused deliveries were stored: %d", n)
			}

			// A hub hands back its 39 unsold units: once, however often sent;
			// more than it holds is refused and moves nothing.
			const ret = `mutation($i: ReturnAllocationInput!) { returnAllocation(input: $i) { units } }`
			back := func(id string, n int) graphtest.Response {
				return e.Do(t, e.StaffToken, ret, map[string]any{"i": map[string]any{"returnId": id, "hub": "fest", "lines": []any{map[string]any{"sku": sku, "quantity": n}}}})
			}
			wantCode(t, back("r0", 40), "BAD_USER_INPUT")
			wantCode(t, back("r0", 0), "BAD_USER_INPUT")
			for range 2 {
				var out struct{ ReturnAllocation struct{ Units int } }
				back("r1", 39).Decode(t, &out)
				if out.ReturnAllocation.Units != 39 {
					t.Fatalf("returned %d, want 39", out.ReturnAllocation.Units)
				}
			}
			if got := allocation(t, e, "fest")[sku]; got != 0 {
				t.Fatalf("hub allocation after the return: %d", got)
			}
			var vn struct{ Node struct{ Available int } }
			e.Staff(t, `query($id: ID!) { node(id: $id) { ... on Variant { available } } }`, map[string]any{"id": v}, &vn)
			if vn.Node.Available != 100-60+39 {
				t.Fatalf("central stock after the return: %d, want %d", vn.Node.Available, 100-60+39)
			}

			// Central is not a hub: it has no link status and sells no hub sales.
			var st struct{ HubStatus *struct{ State string } }
			e.Staff(t, `{ hubStatus { state } }`, nil, &st)
			if st.HubStatus != nil {
				t.Fatalf("central reports a hub link: %+v", st.HubStatus)
			}
			wantCode(t, e.Do(t, e.StaffToken, `mutation($v: ID!) { hubSell(input: {lines: [{variantId: $v, quantity: 1}], idempotencyKey: "c"}) { saleId } }`,
				map[string]any{"v": v}), "BAD_USER_INPUT")
		})
	}
}

// TestHubWalletSales: a hub's wallet sale carries the customer's pass,
// signed by central; central debits the wallet once per sale, tells the
// hub the balance, and a sale the wallet can no longer cover is applied
// as SHORTFALL with its shortfall for staff. A forged pass is a conflict.
func TestHubWalletSales(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			e.Hubs.LimitHubWalletSales(5000) // the hubs' offline limit
			tok, id := e.SignUp(t, "wallet@example.com")
			grant(t, e, id, 3000, "g1")
			lease(t, e, e.StaffToken, "fest", v, 10, "l1")

			wantCode(t, e.Do(t, "", `{ walletPass { code } }`, nil), "UNAUTHENTICATED")
			var p struct{ WalletPass struct{ Code string } }
			e.Do(t, tok, `{ walletPass { code expiresAt } }`, nil).Decode(t, &p)
			var k struct{ SigningKey string }
			e.Do(t, "", `{ signingKey }`, nil).Decode(t, &k)
			key, err := hubs.ParsePublicKey(k.SigningKey)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := key.WalletPass(p.WalletPass.Code, time.Now()); err != nil {
				t.Fatalf("central's pass does not verify with central's published key: %v", err)
			}

			var ws struct {
				HubWallets []struct {
					Customer string
					Balance  int
				}
			}
			e.Staff(t, `{ hubWallets(currency: "EUR") { customer balance } }`, nil, &ws)
			if len(ws.HubWallets) != 1 || ws.HubWallets[0].Customer != id || ws.HubWallets[0].Balance != 3000 {
				t.Fatalf("hubWallets: %+v", ws)
			}
			wantCode(t, e.Do(t, tok, `{ hubWallets(currency: "EUR") { balance } }`, nil), "FORBIDDEN")

			walletSale := func(saleID, pass string) map[string]any {
				s := hubSale(saleID, "fest", sku, 1)
				s["paidWith"], s["walletPass"] = "WALLET", pass
				return s
			}
			const rec = `mutation($i: RecordHubSalesInput!) { recordHubSales(input: $i) { results { saleId applied conflict error walletBalance } } }`
			type result struct {
				Applied       bool
				Conflict      *string
				Error         *string
				WalletBalance *int
			}
			send := func(s map[string]any) result {
				var out struct{ RecordHubSales struct{ Results []result } }
				e.Staff(t, rec, map[string]any{"i": map[string]any{"sales": []any{s}}}, &out)
				return out.RecordHubSales.Results[0]
			}
			w1 := walletSale("w1", p.WalletPass.Code) // one sale, one soldAt
			for i := range 2 {                        // delivered twice: debited once
				r := send(w1)
				if r.Applied != (i == 0) || r.Conflict != nil || r.Error != nil || r.WalletBalance == nil || *r.WalletBalance != 500 {
					t.Fatalf("delivery %d of a covered wallet sale: %+v", i, r)
				}
			}
			if b := balance(t, e, tok); b != 500 {
				t.Fatalf("balance after a 25.00 hub sale: %d, want 500", b)
			}

			// Spent elsewhere meanwhile: the hub handed the goods over, so
			// central applies the sale, takes what is there, and records the
			// shortfall for staff; the balance never goes negative.
			r := send(walletSale("w2", p.WalletPass.Code))
			if !r.Applied || r.Conflict == nil || !strings.Contains(*r.Conflict, "20.00 EUR short") || r.WalletBalance == nil || *r.WalletBalance != 0 {
				t.Fatalf("overdrawing wallet sale: %+v", r)
			}
			if b := balance(t, e, tok); b != 0 {
				t.Fatalf("balance after overdraw: %d, want 0", b)
			}
			var od struct {
				HubSales struct {
					Edges []struct {
						Node struct {
							SaleID          string
							ShortfallAmount int
						}
					}
				}
			}
			e.Staff(t, `{ hubSales(first: 5, where: {status: SHORTFALL}) { edges { node { saleID shortfallAmount } } } }`, nil, &od)
			if len(od.HubSales.Edges) != 1 || od.HubSales.Edges[0].Node.SaleID != "w2" || od.HubSales.Edges[0].Node.ShortfallAmount != 2000 {
				t.Fatalf("staff see overdrawn sales: %+v", od)
			}

			// A pass central did not sign: a conflict, stock untouched.
			forged := p.WalletPass.Code[:len(p.WalletPass.Code)-4] + "AAAA"
			if r := send(walletSale("w3", forged)); r.Applied || r.Conflict == nil || !strings.Contains(*r.Conflict, "not signed") {
				t.Fatalf("forged pass: %+v", r)
			}
			if got := allocation(t, e, "fest")[sku]; got != 8 {
				t.Fatalf("allocation after 2 applied sales: %d, want 8", got)
			}
		})
	}
}

// TestHubPhonePayment: a hub's QR request is paid on central by card; once
// Stripe confirms (webhook), central signs a receipt for exactly that sale
// and amount, and records the hub's QR sale against the payment. A sale
// without a confirmed payment is a conflict; damaged requests are refused.
func TestHubPhonePayment(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			lease(t, e, e.StaffToken, "fest", v, 10, "l1")
			reqKey := hubs.RequestKey(hubToken(t, e, "fest")) // the hub signs its requests

			req := hubs.PaymentRequest{SaleID: "phone-1", Hub: "fest", Amount: 5000, Currency: "EUR",
				Lines: []hubs.SaleLine{{SKU: sku, Quantity: 2, UnitAmount: 2500}}}
			const pay = `mutation($r: String!) { payHubSale(input: {request: $r}) { saleId hub amount { amount } lines { sku quantity } clientSecret paymentIntentId } }`
			var p struct {
				PayHubSale struct {
					SaleID, Hub, ClientSecret, PaymentIntentID string
					Amount                                     struct{ Amount int }
				}
			}
			e.Do(t, "", pay, map[string]any{"r": req.SignWith(reqKey).Encode()}).Decode(t, &p) // the buyer needs no account
			if p.PayHubSale.SaleID != "phone-1" || p.PayHubSale.Amount.Amount != 5000 || p.PayHubSale.ClientSecret == "" {
				t.Fatalf("payHubSale: %+v", p)
			}
			if got := e.Stripe.Intent(p.PayHubSale.PaymentIntentID); got.Amount != 5000 || got.Currency != "EUR" {
				t.Fatalf("payment intent: %+v", got)
			}
			var again struct {
				PayHubSale struct{ PaymentIntentID string }
			}
			e.Do(t, "", pay, map[string]any{"r": req.SignWith(reqKey).Encode()}).Decode(t, &again)
			if again.PayHubSale.PaymentIntentID != p.PayHubSale.PaymentIntentID {
				t.Fatal("reopening the pay page made a second PaymentIntent")
			}
			cheaper := req
			cheaper.Amount, cheaper.Lines = 2500, []hubs.SaleLine{{SKU: sku, Quantity: 1, UnitAmount: 2500}}
			wantCode(t, e.Do(t, "", pay, map[string]any{"r": cheaper.SignWith(reqKey).Encode()}), "BAD_USER_INPUT") // same sale, other amount
			lying := req
			lying.Amount = 1
			wantCode(t, e.Do(t, "", pay, map[string]any{"r": lying.SignWith(reqKey).Encode()}), "BAD_USER_INPUT") // lines do not add up
			wantCode(t, e.Do(t, "", pay, map[string]any{"r": "not-base64!"}), "BAD_USER_INPUT")
			nowhere := req
			nowhere.SaleID, nowhere.Hub = "phone-2", "nowhere"
			wantCode(t, e.Do(t, "", pay, map[string]any{"r": nowhere.SignWith(hubs.RequestKey(e.StaffToken)).Encode()}), "NOT_FOUND")

			const state = `query($s: String!) { hubPhonePayment(saleId: $s) { status receipt receiptQrPng } }`
			var st struct {
				HubPhonePayment *struct {
					Status       string
					Receipt      *string
					ReceiptQrPng *string
				}
			}
			e.Do(t, "", state, map[string]any{"s": "phone-1"}).Decode(t, &st)
			if st.HubPhonePayment == nil || st.HubPhonePayment.Status != "PENDING" || st.HubPhonePayment.Receipt != nil {
				t.Fatalf("unpaid: %+v", st.HubPhonePayment)
			}
			body, sig := e.Stripe.Event(t, "evt_phone_1", "payment_intent.succeeded", p.PayHubSale.PaymentIntentID)
			if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != 200 {
				t.Fatalf("webhook: %d", code)
			}
			e.Do(t, "", state, map[string]any{"s": "phone-1"}).Decode(t, &st)
			if st.HubPhonePayment.Status != "SUCCEEDED" || st.HubPhonePayment.Receipt == nil ||
				!strings.HasPrefix(*st.HubPhonePayment.ReceiptQrPng, "data:image/png;base64,") {
				t.Fatalf("paid: %+v", st.HubPhonePayment)
			}
			var k struct{ SigningKey string }
			e.Do(t, "", `{ signingKey }`, nil).Decode(t, &k)
			key, _ := hubs.ParsePublicKey(k.SigningKey)
			var rc hubs.HubReceipt
			if err := key.Verify(*st.HubPhonePayment.Receipt, "receipt", &rc); err != nil || rc.SaleID != "phone-1" || rc.Amount != 5000 || rc.Hub != "fest" {
				t.Fatalf("receipt %+v: %v", rc, err)
			}
			if err := key.Verify(*st.HubPhonePayment.Receipt, "wallet", &rc); err == nil {
				t.Fatal("a receipt passed as a wallet pass")
			}
			wantCode(t, e.Do(t, "", pay, map[string]any{"r": req.SignWith(reqKey).Encode()}), "BAD_USER_INPUT") // paid already

			qrSale := func(id string, qty int) map[string]any {
				s := hubSale(id, "fest", sku, qty)
				s["paidWith"] = "QR"
				return s
			}
			res := record(t, e, qrSale("phone-1", 2), qrSale("phone-unpaid", 1))
			if !res[0].Applied || res[0].Conflict != nil || res[0].Error != nil {
				t.Fatalf("paid QR sale: %+v", res[0])
			}
			if res[1].Applied || res[1].Conflict == nil || !strings.Contains(*res[1].Conflict, "no phone or card payment") {
				t.Fatalf("unpaid QR sale: %+v", res[1])
			}
			if got := allocation(t, e, "fest")[sku]; got != 8 {
				t.Fatalf("allocation %d, want 8", got)
			}

			// Refunds: staff give a phone payment back — before its sale
			// reaches central (the sale then arrives SHORTFALL) or after
			// (the recorded sale becomes SHORTFALL). The card is refunded
			// once however often staff ask.
			const refund = `mutation($s: String!) { refundHubPayment(input: {saleId: $s}) { status receipt } }`
			wantCode(t, e.Do(t, "", refund, map[string]any{"s": "phone-1"}), "UNAUTHENTICATED")
			r3 := hubs.PaymentRequest{SaleID: "phone-3", Hub: "fest", Amount: 2500, Currency: "EUR", Lines: []hubs.SaleLine{{SKU: sku, Quantity: 1, UnitAmount: 2500}}}
			var p3 struct {
				PayHubSale struct{ PaymentIntentID string }
			}
			e.Do(t, "", pay, map[string]any{"r": r3.SignWith(reqKey).Encode()}).Decode(t, &p3)
			wantCode(t, e.Do(t, e.StaffToken, refund, map[string]any{"s": "phone-3"}), "BAD_USER_INPUT") // not paid yet
			body, sig = e.Stripe.Event(t, "evt_phone_3", "payment_intent.succeeded", p3.PayHubSale.PaymentIntentID)
			graphtest.Deliver(t, e.WebhookURL, body, sig)
			for range 2 {
				var rf struct {
					RefundHubPayment struct {
						Status  string
						Receipt *string
					}
				}
				e.Staff(t, refund, map[string]any{"s": "phone-3"}, &rf)
				if rf.RefundHubPayment.Status != "REFUNDED" || rf.RefundHubPayment.Receipt != nil {
					t.Fatalf("refunded payment: %+v", rf)
				}
			}
			if got := e.Stripe.Intent(p3.PayHubSale.PaymentIntentID); got.Refunded != 2500 {
				t.Fatalf("card refunded %d, want 2500 once", got.Refunded)
			}
			// A late redelivery of the success does not undo the refund.
			body, sig = e.Stripe.Event(t, "evt_phone_3_again", "payment_intent.succeeded", p3.PayHubSale.PaymentIntentID)
			graphtest.Deliver(t, e.WebhookURL, body, sig)
			if r := record(t, e, qrSale("phone-3", 1)); !r[0].Applied || r[0].Conflict == nil || !strings.Contains(*r[0].Conflict, "refunded") {
				t.Fatalf("sale of a refunded payment: %+v", r[0])
			}
			e.Staff(t, refund, map[string]any{"s": "phone-1"}, &struct{}{}) // after its sale was recorded
			var short struct {
				HubSales struct {
					Edges []struct {
						Node struct {
							SaleID          string
							ShortfallAmount int
						}
					}
				}
			}
			e.Staff(t, `{ hubSales(first: 5, where: {status: SHORTFALL}) { edges { node { saleID shortfallAmount } } } }`, nil, &short)
			got := map[string]int{}
			for _, ed := range short.HubSales.Edges {
				got[ed.Node.SaleID] = ed.Node.ShortfallAmount
			}
			if len(got) != 2 || got["phone-3"] != 2500 || got["phone-1"] != 5000 {
				t.Fatalf("sales short of payment: %v", got)
			}
			if a := allocation(t, e, "fest")[sku]; a != 7 {
				t.Fatalf("allocation %d, want 7: the refunded sale's goods left the hub", a)
			}
		})
	}
}

// TestHubScopedToken: a token issued for one hub does that hub's business
// on central and nothing else — not another hub's, not staff work.
func TestHubScopedToken(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 100, 2500, "EUR")
	sku := skuOf(t, e, v)
	lease(t, e, e.StaffToken, "fest", v, 10, "l1")
	lease(t, e, e.StaffToken, "other", v, 10, "l2")
	hubTok, err := e.Accounts.CreateHubToken(context.Background(), "fest-box@example.com", "", "fest box", "fest")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Accounts.CreateHubToken(context.Background(), "x@example.com", "", "", "bad code!"); err == nil {
		t.Fatal("a token for an invalid hub code")
	}

	var a struct{ HubAllocation []struct{ Available int } }
	e.Do(t, hubTok, `{ hubAllocation(hub: "fest") { available } }`, nil).Decode(t, &a)
	if len(a.HubAllocation) != 1 || a.HubAllocation[0].Available != 10 {
		t.Fatalf("own allocation: %+v", a)
	}
	var out struct {
		RecordHubSales struct{ Results []saleResult }
	}
	e.Do(t, hubTok, recordMutation, map[string]any{"i": map[string]any{"sales": []any{hubSale("own-1", "fest", sku, 1)}}}).Decode(t, &out)
	if r := out.RecordHubSales.Results; len(r) != 1 || !r[0].Applied {
		t.Fatalf("own sale: %+v", r)
	}
	e.Do(t, hubTok, `{ signingKey hubWallets(currency: "EUR") { balance } }`, nil).Decode(t, &struct{}{})

	for name, q := range map[string]string{
		"another hub's allocation": `{ hubAllocation(hub: "other") { available } }`,
		"another hub's sale":       `mutation { recordHubSales(input: {sales: [{saleId: "x", hub: "other", currency: "EUR", paidWith: CASH, soldAt: "2026-11-21T10:00:00Z", lines: [{sku: "` + sku + `", quantity: 1, unitAmount: 2500}]}]}) { results { applied } } }`,
		"leasing":                  `mutation { leaseAllocation(input: {hub: "fest", variantId: "` + v + `", units: 1, idempotencyKey: "l3"}) { available } }`,
		"catalog writes":           `mutation { createProduct(input: {title: "Nope", slug: "nope"}) { product { id } } }`,
		"orders":                   `{ orders(first: 1) { totalCount } }`,
		"the sales list":           `{ hubSales(first: 1) { totalCount } }`,
	} {
		if r := e.Do(t, hubTok, q, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("%s with a hub token: %+v", name, r.Errors)
		}
	}
	if got := allocation(t, e, "other")[sku]; got != 10 {
		t.Fatalf("the other hub's allocation moved: %d", got)
	}
}
