package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// hubRecordResult is one result of recordHubSales with everything asked.
type hubRecordResult struct {
	SaleID        string
	Applied       bool
	Conflict      *string
	Error         *string
	Code          *string
	WalletBalance *int
}

const recordFullMutation = `mutation($i: RecordHubSalesInput!) { recordHubSales(input: $i) { results { saleId applied conflict error code walletBalance } } }`

// recordAs delivers sales with token and returns their results.
func recordAs(t *testing.T, e *graphtest.Env, tok string, sales ...map[string]any) []hubRecordResult {
	t.Helper()
	var out struct {
		RecordHubSales struct{ Results []hubRecordResult }
	}
	e.Do(t, tok, recordFullMutation, map[string]any{"i": map[string]any{"sales": sales}}).Decode(t, &out)
	return out.RecordHubSales.Results
}

// hubToken issues a token scoped to hub.
func hubToken(t *testing.T, e *graphtest.Env, hub string) string {
	t.Helper()
	tok, err := e.Accounts.CreateHubToken(context.Background(), hub+"-box@example.com", "", hub+" box", hub)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// walletCustomer signs up a customer holding amount and returns their
// token and wallet pass.
func walletCustomer(t *testing.T, e *graphtest.Env, email string, amount int) (tok, pass string) {
	t.Helper()
	tok, id := e.SignUp(t, email)
	grant(t, e, id, amount, "g-"+email)
	var p struct{ WalletPass struct{ Code string } }
	e.Do(t, tok, `{ walletPass { code } }`, nil).Decode(t, &p)
	return tok, p.WalletPass.Code
}

func walletHubSale(id, hub, sku string, qty, unit int, pass string, soldAt time.Time) map[string]any {
	return map[string]any{"saleId": id, "hub": hub, "currency": "EUR", "paidWith": "WALLET", "soldAt": soldAt.UTC().Format(time.RFC3339),
		"walletPass": pass, "lines": []map[string]any{{"sku": sku, "quantity": qty, "unitAmount": unit}}}
}

// TestFinding2_HubCannotDrainWallet: a hub's token cannot take more from a
// wallet than central's price of what was sold, nor more than the offline
// limit per sale (the rest is a SHORTFALL), nor spend a pass that had
// expired when the sale was made, nor date a sale before its lease or
// in the future.
func TestFinding2_HubCannotDrainWallet(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2400, "EUR") // a 24.00 beanie
			sku := skuOf(t, e, v)
			leasedAt := e.Clock.Now()
			lease(t, e, e.StaffToken, "fest", v, 10, "l1")
			hub := hubToken(t, e, "fest")
			cust, pass := walletCustomer(t, e, "victim@example.com", 8000)
			now := e.Clock.Now().Add(time.Minute)

			// The hub claims 80.00 for the beanie: central prices it 24.00,
			// and takes at most the offline limit (20.00) of it.
			r := recordAs(t, e, hub, walletHubSale("drain-1", "fest", sku, 1, 8000, pass, now))[0]
			if !r.Applied || r.Error != nil || r.Conflict == nil || !strings.Contains(*r.Conflict, "4.00 EUR short") {
				t.Fatalf("overpriced wallet sale: %+v", r)
			}
			if b := balance(t, e, cust); b != 6000 {
				t.Fatalf("balance %d after a 24.00 beanie capped at 20.00, want 6000", b)
			}
			// With a higher limit central still takes only its own price.
			// (A fresh pass: the first one has paid the 20.00 a pass pays
			// in all, TestFinding2_PassCapIsCumulative.)
			e.Hubs.LimitHubWalletSales(5000)
			e.Clock.Advance(time.Second)
			var fresh struct{ WalletPass struct{ Code string } }
			e.Do(t, cust, `{ walletPass { code } }`, nil).Decode(t, &fresh)
			pass = fresh.WalletPass.Code
			if r := recordAs(t, e, hub, walletHubSale("drain-2", "fest", sku, 1, 8000, pass, now))[0]; !r.Applied || r.Conflict != nil || r.Error != nil {
				t.Fatalf("overpriced wallet sale within the limit: %+v", r)
			}
			if b := balance(t, e, cust); b != 3600 {
				t.Fatalf("balance %d after two beanies, want 3600", b)
			}
			// A lower claim than central's price stands (the hub's loss).
			recordAs(t, e, hub, walletHubSale("cheap", "fest", sku, 1, 1000, pass, now))
			if b := balance(t, e, cust); b != 2600 {
				t.Fatalf("balance %d after a 10.00 claim, want 2600", b)
			}

			// Refused as conflicts, no money nor stock moved: a pass that
			// had expired at soldAt, a sale older than its lease, a sale
			// from the future.
			e.Clock.Advance(25 * time.Hour)
			late := e.Clock.Now()
			for name, s := range map[string]map[string]any{
				"expired pass":  walletHubSale("late", "fest", sku, 1, 2400, pass, late),
				"before lease":  walletHubSale("early", "fest", sku, 1, 2400, pass, leasedAt.Add(-time.Hour)),
				"in the future": walletHubSale("future", "fest", sku, 1, 2400, pass, late.Add(time.Hour)),
			} {
				r := recordAs(t, e, hub, s)[0]
				if r.Applied || r.Conflict == nil || r.Error != nil {
					t.Errorf("%s: %+v", name, r)
				}
			}
			if b := balance(t, e, cust); b != 2600 {
				t.Fatalf("balance %d after refused sales, want 2600", b)
			}
			if got := allocation(t, e, "fest")[sku]; got != 7 {
				t.Fatalf("allocation %d, want 7", got)
			}
		})
	}
}

// TestFinding8_DrainedWalletHubSaleIsShortfall: wallet hub sales that
// arrive while the wallet drains (16 at once on one wallet) are each
// recorded — paid in full or SHORTFALL — on PostgreSQL as on SQLite; none
// is refused, and the debits and shortfalls add up to what was sold.
func TestFinding8_DrainedWalletHubSaleIsShortfall(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			e.Hubs.LimitHubWalletSales(5000)
			v := newVariant(t, e, 100, 2400, "EUR")
			sku := skuOf(t, e, v)
			// Two hubs, so the sales do not queue behind one allocation's row
			// lock: the wallet drains while they are being recorded.
			hubs := []string{"fest", "fair"}
			toks := map[string]string{}
			for i, h := range hubs {
				lease(t, e, e.StaffToken, h, v, 10, fmt.Sprintf("l%d", i))
				toks[h] = hubToken(t, e, h)
			}
			cust, pass := walletCustomer(t, e, "drained@example.com", 5000)
			soldAt := e.Clock.Now().Add(time.Minute)

			const n = 16
			results := raceAll(n, func(i int) hubRecordResult {
				h := hubs[i%2]
				return recordAs(t, e, toks[h], walletHubSale(fmt.Sprintf("drain-%02d", i), h, sku, 1, 2400, pass, soldAt))[0]
			})
			for _, r := range results {
				if !r.Applied || r.Error != nil {
					t.Fatalf("a wallet hub sale was not recorded: %+v", r)
				}
			}
			if b := balance(t, e, cust); b != 0 {
				t.Fatalf("balance %d, want 0: the sales took all 50.00", b)
			}
			var short struct {
				HubSales struct {
					TotalCount int
					Edges      []struct{ Node struct{ ShortfallAmount int } }
				}
			}
			e.Staff(t, `{ hubSales(first: 20, where: {status: SHORTFALL}) { totalCount edges { node { shortfallAmount } } } }`, nil, &short)
			sum := 0
			for _, ed := range short.HubSales.Edges {
				sum += ed.Node.ShortfallAmount
			}
			if sum != n*2400-5000 || short.HubSales.TotalCount != n-2 {
				t.Fatalf("shortfalls add up to %d over %d sales, want %d over %d", sum, short.HubSales.TotalCount, n*2400-5000, n-2)
			}
			for _, h := range hubs {
				if got := allocation(t, e, h)[sku]; got != 10-n/2 {
					t.Fatalf("allocation of %s %d, want %d", h, got, 10-n/2)
				}
			}
		})
	}
}

// TestFinding9_PayHubSaleNeedsSignedRequest: payHubSale is no open
// PaymentIntent factory: central takes only requests the hub signed with
// its token's key, priced no higher than central and within the hub's
// allocation, whose sums do not overflow; refused requests create no
// payment and claim no sale id. Hub sale totals are CHECKed non-negative.
func TestFinding9_PayHubSaleNeedsSignedRequest(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			lease(t, e, e.StaffToken, "fest", v, 5, "l1")
			lease(t, e, e.StaffToken, "fair", v, 5, "l2")
			key := hubs.RequestKey(hubToken(t, e, "fest"))
			otherKey := hubs.RequestKey(hubToken(t, e, "fair"))
			const pay = `mutation($r: String!) { payHubSale(input: {request: $r}) { saleId paymentIntentId } }`
			req := func(id string, lines ...hubs.SaleLine) hubs.PaymentRequest {
				r := hubs.PaymentRequest{SaleID: id, Hub: "fest", Currency: "EUR", Lines: lines}
				for _, l := range lines {
					r.Amount += int64(l.Quantity) * l.UnitAmount // wraps on purpose for the overflow case
				}
				return r
			}
			line := func(q int, unit int64) hubs.SaleLine {
				return hubs.SaleLine{SKU: sku, Quantity: q, UnitAmount: unit}
			}

			for name, r := range map[string]string{
				"unsigned":              req("s1", line(1, 2500)).Encode(),
				"signed by another hub": req("s2", line(1, 2500)).SignWith(otherKey).Encode(),
				"signature of another one": func() string {
					r := req("s3", line(1, 2500))
					r.Sig = req("s4", line(1, 2500)).SignWith(key).Sig
					return r.Encode()
				}(),
				"4 × 2^62 + 1 wraps to 1": req("s5", line(4, 1<<62), line(1, 1)).SignWith(key).Encode(),
				"above central's price":   req("s6", line(1, 9900)).SignWith(key).Encode(),
				"beyond the allocation":   req("s7", line(6, 2500)).SignWith(key).Encode(),
			} {
				if r := e.Do(t, "", pay, map[string]any{"r": r}); r.Code() != "BAD_USER_INPUT" {
					t.Errorf("%s: %+v", name, r.Errors)
				}
			}
			sys := viewer.SystemContext(context.Background())
			if n := e.Client.HubPayment.Query().CountX(sys); n != 0 {
				t.Fatalf("refused requests left %d payments", n)
			}
			var ok struct {
				PayHubSale struct{ SaleID, PaymentIntentID string }
			}
			e.Do(t, "", pay, map[string]any{"r": req("s1", line(2, 2500)).SignWith(key).Encode()}).Decode(t, &ok)
			if ok.PayHubSale.SaleID != "s1" || e.Stripe.Intent(ok.PayHubSale.PaymentIntentID).Amount != 5000 {
				t.Fatalf("a signed request: %+v", ok)
			}

			// The database refuses a negative hub sale total whatever the code does.
			q := `INSERT INTO hub_sales (sale_id, hub, lines, total_amount, currency, paid_with, sold_at, status, shortfall_amount) VALUES ('neg', 'fest', '[]', -1, 'EUR', 'CASH', '2026-01-01 00:00:00', 'APPLIED', 0)`
			if _, err := e.DB.SQL.Exec(q); err == nil {
				t.Fatal("a hub sale with total -1 was stored")
			}
		})
	}
}

// fakeTerminal is a card reader driver that answers every reader.
type fakeTerminal struct{}

func (fakeTerminal) Process(_ context.Context, readerID, pi string) (hubs.ReaderState, error) {
	return hubs.ReaderState{ID: readerID, Status: "online", Action: "process_payment_intent", ActionStatus: "in_progress", PaymentIntentID: pi}, nil
}
func (fakeTerminal) Cancel(_ context.Context, readerID string) (hubs.ReaderState, error) {
	return hubs.ReaderState{ID: readerID, Status: "online"}, nil
}
func (fakeTerminal) Reader(_ context.Context, readerID string) (hubs.ReaderState, error) {
	return hubs.ReaderState{ID: readerID, Status: "online"}, nil
}

// TestFinding10_HubScope: anonymous callers get nothing of a hub's card
// payments or status; on central a hub's token drives only the readers
// bound to its hub; and a hub's token is not staff below the root (a
// DRAFT product stays invisible through hubAllocation's variant).
func TestFinding10_HubScope(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			e.Hubs.UseTerminal(fakeTerminal{})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			lease(t, e, e.StaffToken, "fest", v, 5, "l1")
			lease(t, e, e.StaffToken, "fair", v, 5, "l2")
			fest, fair := hubToken(t, e, "fest"), hubToken(t, e, "fair")

			// The hub-side calls refuse anonymous callers.
			for name, q := range map[string]string{
				"hubStatus":            `{ hubStatus { state } }`,
				"hubCardPaymentStatus": `{ hubCardPaymentStatus(saleId: "x") { status } }`,
				"cancelHubCardPayment": `mutation { cancelHubCardPayment(input: {readerId: "tmr_a"}) { id } }`,
			} {
				if r := e.Do(t, "", q, nil); r.Code() != "UNAUTHENTICATED" {
					t.Errorf("anonymous %s: %+v", name, r.Errors)
				}
			}

			// Readers: staff bind them; a hub token cannot.
			const bind = `mutation($r: String!, $h: String!) { bindTerminalReader(input: {readerId: $r, hub: $h}) { hub } }`
			wantCode(t, e.Do(t, fest, bind, map[string]any{"r": "tmr_b", "h": "fest"}), "FORBIDDEN")
			e.Staff(t, bind, map[string]any{"r": "tmr_a", "h": "fest"}, &struct{}{})
			e.Staff(t, bind, map[string]any{"r": "tmr_b", "h": "fair"}, &struct{}{})
			const poll = `query($r: String!) { terminalReader(id: $r) { id } }`
			const cancel = `mutation($r: String!) { cancelTerminalPayment(input: {readerId: $r}) { id } }`
			const start = `mutation($q: String!, $r: String!) { startTerminalPayment(input: {request: $q, readerId: $r}) { saleId } }`
			festReq := func(id string) string {
				return hubs.PaymentRequest{SaleID: id, Hub: "fest", Amount: 2500, Currency: "EUR",
					Lines: []hubs.SaleLine{{SKU: sku, Quantity: 1, UnitAmount: 2500}}}.SignWith(hubs.RequestKey(fest)).Encode()
			}
			fairReq := hubs.PaymentRequest{SaleID: "fair-1", Hub: "fair", Amount: 2500, Currency: "EUR",
				Lines: []hubs.SaleLine{{SKU: sku, Quantity: 1, UnitAmount: 2500}}}.SignWith(hubs.RequestKey(fair)).Encode()
			e.Do(t, fest, poll, map[string]any{"r": "tmr_a"}).Decode(t, &struct{}{})
			e.Do(t, fest, cancel, map[string]any{"r": "tmr_a"}).Decode(t, &struct{}{})
			e.Do(t, fest, start, map[string]any{"q": festReq("fest-1"), "r": "tmr_a"}).Decode(t, &struct{}{})
			for name, r := range map[string]graphtest.Response{
				"poll another hub's reader":           e.Do(t, fest, poll, map[string]any{"r": "tmr_b"}),
				"cancel on another hub's reader":      e.Do(t, fest, cancel, map[string]any{"r": "tmr_b"}),
				"start on another hub's reader":       e.Do(t, fest, start, map[string]any{"q": festReq("fest-2"), "r": "tmr_b"}),
				"poll an unbound reader":              e.Do(t, fest, poll, map[string]any{"r": "tmr_c"}),
				"start another hub's sale on its own": e.Do(t, fest, start, map[string]any{"q": fairReq, "r": "tmr_a"}),
			} {
				if r.Code() != "FORBIDDEN" {
					t.Errorf("%s: %+v", name, r.Errors)
				}
			}
			e.Do(t, e.StaffToken, poll, map[string]any{"r": "tmr_c"}).Decode(t, &struct{}{}) // staff: any reader

			// A DRAFT product: staff see it below hubAllocation, a hub does not.
			sys := viewer.SystemContext(context.Background())
			id, _ := gid.Decode(v)
			pid := e.Client.Variant.GetX(sys, id).ProductID
			e.Client.Product.UpdateOneID(pid).SetStatus(product.StatusDRAFT).ExecX(sys)
			const alloc = `{ hubAllocation(hub: "fest") { sku variant { sku product { status } } } }`
			var out struct {
				HubAllocation []struct {
					Sku     string
					Variant *struct{ Product *struct{ Status string } }
				}
			}
			e.Staff(t, alloc, nil, &out)
			if len(out.HubAllocation) != 1 || out.HubAllocation[0].Variant == nil {
				t.Fatalf("staff: %+v", out)
			}
			r := e.Do(t, fest, alloc, nil)
			out.HubAllocation = nil
			_ = json.Unmarshal(r.Data, &out)
			if len(out.HubAllocation) != 1 || (out.HubAllocation[0].Variant != nil && out.HubAllocation[0].Variant.Product != nil) {
				t.Fatalf("a hub token read a DRAFT product: %s", r.Data)
			}
		})
	}
}

// TestFinding11_HubSaleIDReusedWithOtherContent: a saleId delivered again
// with the same content changes nothing; with other content it is
// reported as HUB_SALE_MISMATCH, not silently taken for the first.
func TestFinding11_HubSaleIDReusedWithOtherContent(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 100, 2500, "EUR")
			sku := skuOf(t, e, v)
			lease(t, e, e.StaffToken, "fest", v, 10, "l1")
			hub := hubToken(t, e, "fest")
			first := hubSale("dup", "fest", sku, 1)
			if r := recordAs(t, e, hub, first)[0]; !r.Applied || r.Error != nil {
				t.Fatalf("first delivery: %+v", r)
			}
			if r := recordAs(t, e, hub, first)[0]; r.Applied || r.Error != nil || r.Code != nil {
				t.Fatalf("same content again: %+v", r)
			}
			other := hubSale("dup", "fest", sku, 3)
			other["soldAt"] = first["soldAt"]
			r := recordAs(t, e, hub, other)[0]
			if r.Applied || r.Error == nil || r.Code == nil || *r.Code != "HUB_SALE_MISMATCH" {
				t.Fatalf("other content under the same saleId: %+v", r)
			}
			if got := allocation(t, e, "fest")[sku]; got != 9 {
				t.Fatalf("allocation %d, want 9", got)
			}
		})
	}
}
