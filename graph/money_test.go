package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/membership"
	"github.com/merchd/merchd/ent/payment"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/walletentry"
	"github.com/merchd/merchd/graph/graphtest"
)

const buyMembershipMutation = `mutation($i: BuyMembershipInput!) { buyMembership(input: $i) { membership { id status } } }`

// newTier creates a monthly tier costing amount EUR and returns its id.
func newTier(t testing.TB, e *graphtest.Env, amount int) string {
	t.Helper()
	var tier struct {
		CreateMembershipTier struct{ Tier struct{ ID string } }
	}
	e.Staff(t, `mutation($p: Int!) { createMembershipTier(input: {name: "Club", price: {amount: $p, currency: "EUR"}, period: MONTH}) { tier { id } } }`,
		map[string]any{"p": amount}, &tier)
	return tier.CreateMembershipTier.Tier.ID
}

func buyMembershipVars(tier string, amount int, key string) map[string]any {
	return map[string]any{"i": map[string]any{"tierId": tier,
		"payWith": map[string]any{"wallet": map[string]any{"amount": amount, "currency": "EUR"}}, "idempotencyKey": key}}
}

// countSpends counts the customer's SPEND entries.
func countEntries(t testing.TB, e *graphtest.Env, kind walletentry.Kind) int {
	t.Helper()
	return e.Client.WalletEntry.Query().Where(walletentry.KindEQ(kind)).CountX(viewer.SystemContext(context.Background()))
}

// TestFinding5_OneMembershipPerCustomer: 8 concurrent purchases with
// different keys make one membership and one debit; the others are told
// ALREADY_MEMBER. The same key with another wallet amount is a new request.
func TestFinding5_OneMembershipPerCustomer(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			tier := newTier(t, e, 1000)
			tok, id := e.SignUp(t, "member-race@example.com")
			grant(t, e, id, 8000, "g")
			const n = 8
			codes := raceAll(n, func(i int) string {
				return e.Do(t, tok, buyMembershipMutation, buyMembershipVars(tier, 1000, fmt.Sprintf("k%d", i))).Code()
			})
			got, winner := map[string]int{}, ""
			for i, c := range codes {
				got[c]++
				if c == "" {
					winner = fmt.Sprintf("k%d", i)
				}
			}
			if got[""] != 1 || got["ALREADY_MEMBER"] != n-1 {
				t.Fatalf("outcomes %v, want 1 success and %d ALREADY_MEMBER", got, n-1)
			}
			ctx := viewer.SystemContext(context.Background())
			if k := e.Client.Membership.Query().Where(membership.StatusEQ(membership.StatusACTIVE)).CountX(ctx); k != 1 {
				t.Fatalf("%d active memberships, want 1", k)
			}
			if b := balance(t, e, tok); b != 7000 || countEntries(t, e, walletentry.KindSPEND) != 1 {
				t.Fatalf("balance %d, %d spends; want 7000 and 1", b, countEntries(t, e, walletentry.KindSPEND))
			}
			// Same key, other wallet input: not a replay.
			wantCode(t, e.Do(t, tok, buyMembershipMutation, buyMembershipVars(tier, 999, winner)), "IDEMPOTENCY_KEY_REUSED")
			// A card purchase while a member is refused too.
			wantCode(t, e.Do(t, tok, buyMembershipMutation, map[string]any{"i": map[string]any{"tierId": tier,
				"payWith": map[string]any{"card": true}, "idempotencyKey": "card"}}), "ALREADY_MEMBER")
		})
	}
}

// splitCheckout puts one unit of v in the customer's cart and checks out
// with wallet of it from the wallet and the rest by card.
func splitCheckout(t testing.TB, e *graphtest.Env, tok, v string, wallet int, key string) checkoutOut {
	t.Helper()
	var add struct {
		AddToCart struct{ Cart struct{ ID string } }
	}
	addToCart(t, e, tok, v, 1, key+"-add").Decode(t, &add)
	pw := map[string]any{"card": true}
	if wallet > 0 {
		pw["wallet"] = map[string]any{"amount": wallet, "currency": "EUR"}
	}
	var out checkoutOut
	e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID,
		"payWith": pw, "idempotencyKey": key}}).Decode(t, &out)
	return out
}

func deliver(t testing.TB, e *graphtest.Env, eventID, typ, pi string) int {
	t.Helper()
	body, sig := e.Stripe.Event(t, eventID, typ, pi)
	return graphtest.Deliver(t, e.WebhookURL, body, sig)
}

// TestFinding7a_CardAfterWalletPartSpentIsRefunded: the card part of a
// split succeeds after its wallet part was given back and spent. The
// webhook answers 200 (not 500 forever), the order is canceled, its units
// are free, and the card is refunded in full.
func TestFinding7a_CardAfterWalletPartSpentIsRefunded(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 5, 3000, "EUR")
			tok, id := e.SignUp(t, "split7a@example.com")
			grant(t, e, id, 1000, "g")
			out := splitCheckout(t, e, tok, v, 1000, "c1")
			pi := *out.Checkout.PaymentIntentID
			if code := deliver(t, e, "evt_7a_fail", "payment_intent.payment_failed", pi); code != 200 {
				t.Fatalf("failure webhook: %d", code)
			}
			if b := balance(t, e, tok); b != 1000 {
				t.Fatalf("balance %d after the card failed, want 1000", b)
			}
			// The customer spends the wallet part elsewhere.
			var adj struct {
				AdjustWallet struct{ Entry struct{ ID string } }
			}
			e.Staff(t, `mutation($i: AdjustWalletInput!) { adjustWallet(input: $i) { entry { id } } }`, map[string]any{"i": map[string]any{
				"customerId": id, "amount": map[string]any{"amount": -1000, "currency": "EUR"}, "reason": "spent at the till", "idempotencyKey": "spend"}}, &adj)
			// Stripe's retry of the card succeeds.
			if code := deliver(t, e, "evt_7a_ok", "payment_intent.succeeded", pi); code != 200 {
				t.Fatalf("success webhook answered %d, want 200", code)
			}
			if code := deliver(t, e, "evt_7a_ok", "payment_intent.succeeded", pi); code != 200 {
				t.Fatalf("redelivery answered %d, want 200", code)
			}
			st, _ := orderStatus(t, e, tok, out.Checkout.Order.ID)
			if st != "CANCELED" || e.Stripe.Refunds(pi) != 2000 || stockOf(t, e, v) != 5 || balance(t, e, tok) != 0 {
				t.Fatalf("order %s, card refunded %d, stock %d, balance %d; want CANCELED, 2000, 5, 0",
					st, e.Stripe.Refunds(pi), stockOf(t, e, v), balance(t, e, tok))
			}
		})
	}
}

// TestFinding7b_MismatchedSuccessIsRefunded: a success webhook whose amount
// or currency is not the order's is recorded (payment MISMATCH), the order
// canceled, what Stripe captured refunded, and the webhook answers 200.
func TestFinding7b_MismatchedSuccessIsRefunded(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 5, 3000, "EUR")
			tok, _ := e.SignUp(t, "mismatch@example.com")
			for i, c := range []struct {
				amount   int64
				currency string
			}{{2999, "EUR"}, {3000, "USD"}} {
				out := splitCheckout(t, e, tok, v, 0, fmt.Sprintf("m%d", i))
				pi := *out.Checkout.PaymentIntentID
				e.Stripe.Capture(pi, c.amount, c.currency)
				if code := deliver(t, e, fmt.Sprintf("evt_mm_%d", i), "payment_intent.succeeded", pi); code != 200 {
					t.Fatalf("mismatched success answered %d, want 200", code)
				}
				st, hist := orderStatus(t, e, tok, out.Checkout.Order.ID)
				if st != "CANCELED" || e.Stripe.Refunds(pi) != c.amount || stockOf(t, e, v) != 5 {
					t.Fatalf("order %s %v, refunded %d, stock %d; want CANCELED, %d, 5", st, hist, e.Stripe.Refunds(pi), stockOf(t, e, v), c.amount)
				}
				ctx := viewer.SystemContext(context.Background())
				if n := e.Client.Payment.Query().Where(payment.StripePaymentIntentID(pi), payment.StatusEQ(payment.StatusMISMATCH)).CountX(ctx); n != 1 {
					t.Fatalf("payment of %s not marked MISMATCH", pi)
				}
				// The sweeper later finds nothing to cancel, and a late
				// failure event changes nothing.
				if code := deliver(t, e, fmt.Sprintf("evt_mm_fail_%d", i), "payment_intent.payment_failed", pi); code != 200 {
					t.Fatalf("late failure answered %d", code)
				}
			}
		})
	}
}

const refundOrderMutation = `mutation($i: RefundOrderInput!) { refundOrder(input: $i) { order { status } refund { status } } }`

// TestFinding11_CardRefundLimitUnderRace: a split order paid 1000 from the
// wallet and 2000 by card. Eight concurrent one-unit refunds to CARD (1500
// each) may return at most what the card paid: exactly one succeeds.
func TestFinding11_CardRefundLimitUnderRace(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 5, 1500, "EUR")
			tok, id := e.SignUp(t, "refund11@example.com")
			grant(t, e, id, 1000, "g")
			var add struct {
				AddToCart struct{ Cart struct{ ID string } }
			}
			addToCart(t, e, tok, v, 2, "add").Decode(t, &add)
			var out checkoutOut
			e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID,
				"payWith": map[string]any{"card": true, "wallet": map[string]any{"amount": 1000, "currency": "EUR"}}, "idempotencyKey": "c"}}).Decode(t, &out)
			pi := *out.Checkout.PaymentIntentID
			if code := deliver(t, e, "evt_11", "payment_intent.succeeded", pi); code != 200 {
				t.Fatalf("webhook %d", code)
			}
			var lines struct {
				Node struct{ Lines []struct{ ID string } }
			}
			e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Order { lines { id } } } }`, map[string]any{"id": out.Checkout.Order.ID}).Decode(t, &lines)
			const n = 8
			codes := raceAll(n, func(i int) string {
				return e.Do(t, e.StaffToken, refundOrderMutation, map[string]any{"i": map[string]any{"orderId": out.Checkout.Order.ID, "to": "CARD",
					"lines": []any{map[string]any{"lineId": lines.Node.Lines[0].ID, "quantity": 1}}, "idempotencyKey": fmt.Sprintf("r%d", i)}}).Code()
			})
			ok := 0
			for _, c := range codes {
				if c == "" {
					ok++
				} else if c != "BAD_USER_INPUT" {
					t.Fatalf("refusal code %q", c)
				}
			}
			ctx := viewer.SystemContext(context.Background())
			p := e.Client.Payment.Query().Where(payment.StripePaymentIntentID(pi)).OnlyX(ctx)
			if ok != 1 || p.RefundedAmount != 1500 || e.Stripe.Refunds(pi) != 1500 {
				t.Fatalf("%d card refunds succeeded, payment refunded %d, stripe %d; want 1, 1500, 1500", ok, p.RefundedAmount, e.Stripe.Refunds(pi))
			}
		})
	}
}

// TestFinding11_PickupCodeOnlyWhenPaid: an unpaid or canceled order shows
// no pickup code; a paid one does.
func TestFinding11_PickupCodeOnlyWhenPaid(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 5, 1500, "EUR")
	tok, _ := e.SignUp(t, "pickup@example.com")
	code := func(orderID string) *string {
		var out struct{ Node struct{ PickupCode *string } }
		e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Order { pickupCode } } }`, map[string]any{"id": orderID}).Decode(t, &out)
		return out.Node.PickupCode
	}
	unpaid := splitCheckout(t, e, tok, v, 0, "u")
	if c := code(unpaid.Checkout.Order.ID); c != nil {
		t.Fatalf("unpaid order shows pickup code %q", *c)
	}
	deliver(t, e, "evt_pc_cancel", "payment_intent.canceled", *unpaid.Checkout.PaymentIntentID)
	if c := code(unpaid.Checkout.Order.ID); c != nil {
		t.Fatalf("canceled order shows pickup code %q", *c)
	}
	paid := splitCheckout(t, e, tok, v, 0, "p")
	deliver(t, e, "evt_pc_ok", "payment_intent.succeeded", *paid.Checkout.PaymentIntentID)
	if c := code(paid.Checkout.Order.ID); c == nil || *c == "" {
		t.Fatal("paid order shows no pickup code")
	}
}

// grantExpiring gives the customer amount EUR of gift credit that expires at.
func grantExpiring(t testing.TB, e *graphtest.Env, customerID string, amount int, at time.Time, key string) {
	t.Helper()
	var out struct{ GrantCredit struct{ Granted int } }
	e.Staff(t, `mutation($i: GrantCreditInput!) { grantCredit(input: $i) { granted } }`, map[string]any{"i": map[string]any{
		"customerIds": []string{customerID}, "amount": map[string]any{"amount": amount, "currency": "EUR"}, "note": "gift",
		"expiresAt": at, "idempotencyKey": key}}, &out)
}

// TestFinding6_GiftExpirySurvivesReversalAndRefund: gift credit spent and
// then given back (a REVERSAL of a failed split, or a REFUND to the
// wallet) keeps its expiry instead of becoming permanent credit.
func TestFinding6_GiftExpirySurvivesReversalAndRefund(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			t0 := e.Clock.Now()
			v := newVariant(t, e, 5, 3000, "EUR")

			// Reversal: the split's card part fails, the gift comes back.
			tok, id := e.SignUp(t, "gift-rev@example.com")
			grantExpiring(t, e, id, 1000, t0.Add(24*time.Hour), "g1")
			out := splitCheckout(t, e, tok, v, 1000, "split")
			deliver(t, e, "evt_6_fail", "payment_intent.payment_failed", *out.Checkout.PaymentIntentID)
			if b := balance(t, e, tok); b != 1000 {
				t.Fatalf("balance %d after the reversal, want 1000", b)
			}

			// Refund: a wallet-paid order refunded to the wallet.
			tok2, id2 := e.SignUp(t, "gift-ref@example.com")
			grantExpiring(t, e, id2, 3000, t0.Add(24*time.Hour), "g2")
			var add struct {
				AddToCart struct{ Cart struct{ ID string } }
			}
			addToCart(t, e, tok2, v, 1, "add").Decode(t, &add)
			var paid checkoutOut
			e.Do(t, tok2, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID,
				"payWith": map[string]any{"wallet": map[string]any{"amount": 3000, "currency": "EUR"}}, "idempotencyKey": "w"}}).Decode(t, &paid)
			var rf struct {
				RefundOrder struct{ Refund struct{ Status string } }
			}
			e.Staff(t, refundOrderMutation, map[string]any{"i": map[string]any{"orderId": paid.Checkout.Order.ID, "to": "WALLET", "idempotencyKey": "rw"}}, &rf)
			if b := balance(t, e, tok2); b != 3000 || rf.RefundOrder.Refund.Status != "SUCCEEDED" {
				t.Fatalf("balance %d after the refund (%+v), want 3000", b, rf)
			}

			// A day later both gifts expire: nothing became permanent.
			e.Clock.Set(t0.Add(25 * time.Hour))
			if _, err := e.Sweep(t.Context()); err != nil {
				t.Fatal(err)
			}
			if b1, b2 := balance(t, e, tok), balance(t, e, tok2); b1 != 0 || b2 != 0 {
				t.Fatalf("after expiry: balances %d and %d, want 0 and 0", b1, b2)
			}
			// Expired once; a second sweep takes nothing more.
			if _, err := e.Sweep(t.Context()); err != nil {
				t.Fatal(err)
			}
			if n := countEntries(t, e, walletentry.KindGIFT_EXPIRY); n != 2 {
				t.Fatalf("%d GIFT_EXPIRY entries, want 2", n)
			}
		})
	}
}

// TestFinding13_WebhookOfOtherAPIVersionRefused: an event rendered for
// another Stripe API version than stripe-go v79's is refused with 400 and
// a message naming the fix, and changes nothing.
func TestFinding13_WebhookOfOtherAPIVersionRefused(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 5, 1500, "EUR")
	tok, _ := e.SignUp(t, "apiversion@example.com")
	out := splitCheckout(t, e, tok, v, 0, "c")
	pi := *out.Checkout.PaymentIntentID
	good, _ := e.Stripe.Event(t, "evt_v", "payment_intent.succeeded", pi)
	var ev map[string]any
	graphtest.Must(t, json.Unmarshal(good, &ev))
	ev["api_version"] = "2025-03-31.basil"
	body, _ := json.Marshal(ev)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: graphtest.WebhookSecret})
	req, _ := http.NewRequest(http.MethodPost, e.WebhookURL, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", sp.Header)
	resp, err := http.DefaultClient.Do(req)
	graphtest.Must(t, err)
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "merchd stripe setup") {
		t.Fatalf("other API version: %d %q, want 400 naming `merchd stripe setup`", resp.StatusCode, msg)
	}
	if st, _ := orderStatus(t, e, tok, out.Checkout.Order.ID); st != "PENDING_PAYMENT" {
		t.Fatalf("order %s after a refused event", st)
	}
	if !e.Logs.Contains("another API version") {
		t.Fatal("the refusal was not logged")
	}
	// The same event at the pinned version goes through.
	if code := deliver(t, e, "evt_v", "payment_intent.succeeded", pi); code != http.StatusOK {
		t.Fatalf("pinned version: %d", code)
	}
	if st, _ := orderStatus(t, e, tok, out.Checkout.Order.ID); st != "PAID" {
		t.Fatalf("order %s", st)
	}
}

// TestFinding13_OtherInstallationsEventsIgnored: a PaymentIntent event
// tagged by another installation on the same Stripe account (whose
// metadata names its own order ids) never pays an order here.
func TestFinding13_OtherInstallationsEventsIgnored(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	e.Orders.IgnoreOtherInstallations("mi_ours")
	v := newVariant(t, e, 5, 1500, "EUR")
	tok, _ := e.SignUp(t, "install@example.com")
	var add struct {
		AddToCart struct{ Cart struct{ ID string } }
	}
	addToCart(t, e, tok, v, 1, "add").Decode(t, &add)
	var out checkoutOut
	e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID,
		"payWith": map[string]any{"card": true}, "idempotencyKey": "c"}}).Decode(t, &out)
	orderID, err := gid.Decode(out.Checkout.Order.ID)
	graphtest.Must(t, err)
	event := func(evt, pi, install string) int {
		body, sig := graphtest.SignedEvent(t, evt, "payment_intent.succeeded", map[string]any{
			"id": pi, "object": "payment_intent", "amount": 1500, "currency": "eur", "status": "succeeded",
			"metadata": map[string]string{"merchd_order_id": fmt.Sprint(orderID), "merchd_install": install}})
		return graphtest.Deliver(t, e.WebhookURL, body, sig)
	}
	// As if the server stopped between committing the order and storing
	// its PaymentIntent id: only the metadata can match the payment now.
	ctx := viewer.SystemContext(context.Background())
	e.Client.Payment.Update().Where(payment.OrderID(orderID)).ClearStripePaymentIntentID().ExecX(ctx)
	if code := event("evt_other", "pi_other_install", "mi_theirs"); code != http.StatusOK {
		t.Fatalf("other installation's event: %d", code)
	}
	if st, _ := orderStatus(t, e, tok, out.Checkout.Order.ID); st != "PENDING_PAYMENT" {
		t.Fatalf("another installation's payment moved our order to %s", st)
	}
	if code := event("evt_ours", "pi_ours", "mi_ours"); code != http.StatusOK {
		t.Fatalf("our event: %d", code)
	}
	if st, _ := orderStatus(t, e, tok, out.Checkout.Order.ID); st != "PAID" {
		t.Fatalf("order %s", st)
	}
}

// TestFinding5_CardMembershipPaidWhileMember: a card membership started
// before the customer bought one from the wallet is paid later; the
// webhook answers 200 (not 500 forever on the unique index) and the
// customer keeps one active membership.
func TestFinding5_CardMembershipPaidWhileMember(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	tier := newTier(t, e, 1000)
	tok, id := e.SignUp(t, "card-then-wallet@example.com")
	grant(t, e, id, 1000, "g")
	var cm struct {
		BuyMembership struct{ ClientSecret string }
	}
	e.Do(t, tok, `mutation($i: BuyMembershipInput!) { buyMembership(input: $i) { clientSecret } }`, map[string]any{"i": map[string]any{
		"tierId": tier, "payWith": map[string]any{"card": true}, "idempotencyKey": "card"}}).Decode(t, &cm)
	if r := e.Do(t, tok, buyMembershipMutation, buyMembershipVars(tier, 1000, "wallet")); r.Code() != "" {
		t.Fatalf("wallet membership: %+v", r.Errors)
	}
	sub := strings.TrimSuffix(cm.BuyMembership.ClientSecret, "_secret")
	end := e.Clock.Now().AddDate(0, 1, 0).Truncate(time.Second)
	body, sig := graphtest.SignedEvent(t, "evt_card_late", "invoice.paid", map[string]any{"id": "in_1", "object": "invoice", "subscription": sub,
		"lines": map[string]any{"data": []any{map[string]any{"period": map[string]any{"end": end.Unix()}}}}})
	if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != http.StatusOK {
		t.Fatalf("invoice.paid answered %d, want 200", code)
	}
	if n := e.Client.Membership.Query().Where(membership.StatusEQ(membership.StatusACTIVE)).CountX(sys()); n != 1 {
		t.Fatalf("%d active memberships, want 1", n)
	}
	if !e.Logs.Contains("card membership paid while the customer has another") {
		t.Fatal("staff were not told")
	}
}
