package graph_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
)

func balance(t testing.TB, e *graphtest.Env, token string) int {
	t.Helper()
	var out struct {
		Wallet *struct{ Balance struct{ Amount int } }
	}
	e.Do(t, token, `{ wallet { balance { amount } } }`, nil).Decode(t, &out)
	if out.Wallet == nil {
		return 0
	}
	return out.Wallet.Balance.Amount
}

func grant(t testing.TB, e *graphtest.Env, customerID string, amount int, key string) {
	t.Helper()
	var out struct{ GrantCredit struct{ Granted int } }
	e.Staff(t, `mutation($i: GrantCreditInput!) { grantCredit(input: $i) { granted } }`, map[string]any{"i": map[string]any{
		"customerIds": []string{customerID}, "amount": map[string]any{"amount": amount, "currency": "EUR"}, "note": "thanks", "idempotencyKey": key}}, &out)
	if out.GrantCredit.Granted != 1 {
		t.Fatalf("granted %d", out.GrantCredit.Granted)
	}
}

func TestTopUpWebhook(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	tok, _ := e.SignUp(t, "topup@example.com")
	top := `mutation($i: TopUpWalletInput!) { topUpWallet(input: $i) { topUp { id status } clientSecret paymentIntentId } }`
	for _, amount := range []int{0, 499, 50_001, -5} {
		wantCode(t, e.Do(t, tok, top, map[string]any{"i": map[string]any{"amount": map[string]any{"amount": amount, "currency": "EUR"}, "idempotencyKey": "bad"}}), "BAD_USER_INPUT")
	}
	var out struct {
		TopUpWallet struct {
			TopUp           struct{ ID, Status string }
			ClientSecret    string
			PaymentIntentID string
		}
	}
	e.Do(t, tok, top, map[string]any{"i": map[string]any{"amount": map[string]any{"amount": 2500, "currency": "EUR"}, "idempotencyKey": "t1"}}).Decode(t, &out)
	if out.TopUpWallet.TopUp.Status != "PENDING" || out.TopUpWallet.ClientSecret == "" || balance(t, e, tok) != 0 {
		t.Fatalf("started top-up: %+v, balance %d", out, balance(t, e, tok))
	}
	body, sig := e.Stripe.Event(t, "evt_topup", "payment_intent.succeeded", out.TopUpWallet.PaymentIntentID)
	if code := graphtest.Deliver(t, e.WebhookURL, []byte(strings.Replace(string(body), "2500", "250000", 1)), sig); code != http.StatusBadRequest {
		t.Fatalf("forged top-up webhook: %d", code)
	}
	if balance(t, e, tok) != 0 {
		t.Fatal("a forged webhook credited the wallet")
	}
	for range 2 {
		if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != http.StatusOK {
			t.Fatalf("webhook: %d", code)
		}
	}
	// The same payment announced again under another event id is still one credit.
	b2, s2 := e.Stripe.Event(t, "evt_topup_again", "payment_intent.succeeded", out.TopUpWallet.PaymentIntentID)
	graphtest.Deliver(t, e.WebhookURL, b2, s2)
	if got := balance(t, e, tok); got != 2500 {
		t.Fatalf("balance %d after the webhook twice, want 2500", got)
	}
	var st struct {
		Wallet struct {
			Entries struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						Kind         string
						Amount       struct{ Amount int }
						BalanceAfter struct{ Amount int }
					}
				}
			}
		}
	}
	e.Do(t, tok, `{ wallet { entries(first: 10) { totalCount edges { node { kind amount { amount } balanceAfter { amount } } } } } }`, nil).Decode(t, &st)
	if st.Wallet.Entries.TotalCount != 1 || st.Wallet.Entries.Edges[0].Node.Kind != "TOP_UP" || st.Wallet.Entries.Edges[0].Node.BalanceAfter.Amount != 2500 {
		t.Fatalf("statement: %+v", st)
	}
	// Nobody else sees the wallet.
	other, _ := e.SignUp(t, "other-topup@example.com")
	if balance(t, e, other) != 0 {
		t.Fatal("another customer sees a balance")
	}
}

func TestWalletCheckoutAndRefund(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 1999, "EUR")
	tok, id := e.SignUp(t, "wallet@example.com")
	grant(t, e, id, 5000, "g1")
	var add struct {
		AddToCart struct{ Cart struct{ ID string } }
	}
	addToCart(t, e, tok, v, 2, "w-add").Decode(t, &add)
	pay := func(wallet int, card bool, key string) graphtest.Response {
		pw := map[string]any{"wallet": map[string]any{"amount": wallet, "currency": "EUR"}}
		if card {
			pw["card"] = true
		}
		return e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID, "payWith": pw, "idempotencyKey": key}})
	}
	wantCode(t, pay(3000, false, "short"), "BAD_USER_INPUT") // the wallet part does not cover the total, and no card
	wantCode(t, pay(4000, false, "over"), "BAD_USER_INPUT")  // more than the total
	var out checkoutOut
	pay(3998, false, "w1").Decode(t, &out)
	if out.Checkout.Order.Status != "PAID" || out.Checkout.ClientSecret != nil {
		t.Fatalf("wallet checkout: %+v", out)
	}
	if got := balance(t, e, tok); got != 1002 {
		t.Fatalf("balance %d, want 1002", got)
	}
	// Not enough left for another.
	var add2 struct {
		AddToCart struct{ Cart struct{ ID string } }
	}
	addToCart(t, e, tok, v, 1, "w-add2").Decode(t, &add2)
	r := e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add2.AddToCart.Cart.ID,
		"payWith": map[string]any{"wallet": map[string]any{"amount": 1999, "currency": "EUR"}}, "idempotencyKey": "w2"}})
	wantCode(t, r, "INSUFFICIENT_FUNDS")
	if got := balance(t, e, tok); got != 1002 {
		t.Fatalf("a refused checkout moved the balance to %d", got)
	}
	var c struct{ Cart struct{ ID string } }
	e.Do(t, tok, `{ cart { id } }`, nil).Decode(t, &c)
	if c.Cart.ID != add2.AddToCart.Cart.ID {
		t.Fatal("a refused checkout closed the cart")
	}
	// Staff refund one unit to wallet credit: instant.
	var lines struct {
		Node struct{ Lines []struct{ ID string } }
	}
	e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Order { lines { id } } } }`, map[string]any{"id": out.Checkout.Order.ID}).Decode(t, &lines)
	refund := `mutation($i: RefundOrderInput!) { refundOrder(input: $i) { order { status } refund { status } } }`
	var rf struct {
		RefundOrder struct {
			Order  struct{ Status string }
			Refund struct{ Status string }
		}
	}
	e.Staff(t, refund, map[string]any{"i": map[string]any{"orderId": out.Checkout.Order.ID, "to": "WALLET",
		"lines": []any{map[string]any{"lineId": lines.Node.Lines[0].ID, "quantity": 1}}, "idempotencyKey": "rw1"}}, &rf)
	if rf.RefundOrder.Order.Status != "PARTIALLY_REFUNDED" || rf.RefundOrder.Refund.Status != "SUCCEEDED" || balance(t, e, tok) != 3001 {
		t.Fatalf("refund to wallet: %+v, balance %d", rf, balance(t, e, tok))
	}
	// No card was used: a card refund is refused, with a hint.
	wantCode(t, e.Do(t, e.StaffToken, refund, map[string]any{"i": map[string]any{"orderId": out.Checkout.Order.ID, "to": "CARD", "idempotencyKey": "rc"}}), "BAD_USER_INPUT")
}

// TestSplitPaymentCardFails: the wallet part is reserved when the card
// payment starts and comes back when the card fails.
func TestSplitPaymentCardFails(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 5, 3000, "EUR")
	tok, id := e.SignUp(t, "split@example.com")
	grant(t, e, id, 1000, "g")
	var add struct {
		AddToCart struct{ Cart struct{ ID string } }
	}
	addToCart(t, e, tok, v, 1, "s-add").Decode(t, &add)
	var out checkoutOut
	e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID,
		"payWith": map[string]any{"card": true, "wallet": map[string]any{"amount": 1000, "currency": "EUR"}}, "idempotencyKey": "s1"}}).Decode(t, &out)
	pi := *out.Checkout.PaymentIntentID
	if e.Stripe.Intent(pi).Amount != 2000 || balance(t, e, tok) != 0 {
		t.Fatalf("split: card %d, balance %d", e.Stripe.Intent(pi).Amount, balance(t, e, tok))
	}
	body, sig := e.Stripe.Event(t, "evt_split_fail", "payment_intent.payment_failed", pi)
	graphtest.Deliver(t, e.WebhookURL, body, sig)
	graphtest.Deliver(t, e.WebhookURL, body, sig)
	if st, _ := orderStatus(t, e, tok, out.Checkout.Order.ID); st != "PAYMENT_FAILED" {
		t.Fatalf("order %s", st)
	}
	if got := balance(t, e, tok); got != 1000 {
		t.Fatalf("balance %d after the card failed, want 1000 back", got)
	}
	if got := stockOf(t, e, v); got != 5 {
		t.Fatalf("stock %d, want 5", got)
	}

	// The same split with a card that works: the wallet part is spent.
	addToCart(t, e, tok, v, 1, "s-add2").Decode(t, &add)
	e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID,
		"payWith": map[string]any{"card": true, "wallet": map[string]any{"amount": 1000, "currency": "EUR"}}, "idempotencyKey": "s2"}}).Decode(t, &out)
	body, sig = e.Stripe.Event(t, "evt_split_ok", "payment_intent.succeeded", *out.Checkout.PaymentIntentID)
	graphtest.Deliver(t, e.WebhookURL, body, sig)
	if st, _ := orderStatus(t, e, tok, out.Checkout.Order.ID); st != "PAID" || balance(t, e, tok) != 0 {
		t.Fatalf("paid split: %s, balance %d", st, balance(t, e, tok))
	}
}

func TestMembershipPerks(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	t0 := e.Clock.Now()
	var tier struct {
		CreateMembershipTier struct{ Tier struct{ ID string } }
	}
	e.Staff(t, `mutation { createMembershipTier(input: {name: "Inner circle", price: {amount: 1000, currency: "EUR"}, period: MONTH, earlyAccessMinutes: 60, discountPercent: 10}) { tier { id } } }`, nil, &tier)
	tierID := tier.CreateMembershipTier.Tier.ID
	v := newVariant(t, e, 20, 2000, "EUR")
	e.Staff(t, `mutation($t: ID!, $v: ID!) { setMemberPrice(input: {tierId: $t, variantId: $v, amount: 1500}) { memberPrice { id } } }`,
		map[string]any{"t": tierID, "v": v}, &struct{}{})
	createDrop(t, e, map[string]any{"title": "Members first", "variantIds": []string{v}, "cap": 10,
		"earlyAccessAt": t0.Add(10 * time.Minute), "opensAt": t0.Add(time.Hour), "closesAt": t0.Add(2 * time.Hour)})

	member, memberID := e.SignUp(t, "member@example.com")
	other, _ := e.SignUp(t, "nonmember@example.com")
	grant(t, e, memberID, 1000, "gm")
	buy := `mutation($i: BuyMembershipInput!) { buyMembership(input: $i) { membership { status currentPeriodEnd tier { name } } clientSecret } }`
	var bm struct {
		BuyMembership struct {
			Membership struct {
				Status           string
				CurrentPeriodEnd time.Time
			}
		}
	}
	e.Do(t, member, buy, map[string]any{"i": map[string]any{"tierId": tierID, "payWith": map[string]any{"wallet": map[string]any{"amount": 1000, "currency": "EUR"}}, "idempotencyKey": "m1"}}).Decode(t, &bm)
	if bm.BuyMembership.Membership.Status != "ACTIVE" || !bm.BuyMembership.Membership.CurrentPeriodEnd.Equal(t0.AddDate(0, 1, 0)) || balance(t, e, member) != 0 {
		t.Fatalf("membership: %+v, balance %d", bm, balance(t, e, member))
	}

	// The early window: members in, others refused.
	e.Clock.Set(t0.Add(30 * time.Minute))
	var mp struct {
		Node struct{ MemberPrice *struct{ Amount int } }
	}
	e.Do(t, member, `query($id: ID!) { node(id: $id) { ... on Variant { memberPrice { amount } } } }`, map[string]any{"id": v}).Decode(t, &mp)
	if mp.Node.MemberPrice == nil || mp.Node.MemberPrice.Amount != 1500 {
		t.Fatalf("member price: %+v", mp)
	}
	r := addToCart(t, e, member, v, 1, "early")
	if r.Code() != "" || !strings.Contains(string(r.Data), `"total":{"amount":1500`) {
		t.Fatalf("member in the early window: %s %+v", r.Data, r.Errors)
	}
	wantCode(t, addToCart(t, e, other, v, 1, "early"), "DROP_NOT_OPEN")
	e.Do(t, other, `query($id: ID!) { node(id: $id) { ... on Variant { memberPrice { amount } } } }`, map[string]any{"id": v}).Decode(t, &mp)
	if mp.Node.MemberPrice != nil {
		t.Fatalf("a non-member sees a member price: %+v", mp)
	}

	// A month later the wallet cannot renew it: the membership lapses, and
	// with it early access and member prices.
	e.Clock.Set(t0.AddDate(0, 1, 0).Add(time.Minute))
	if _, err := e.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	var ms struct {
		Viewer struct{ Membership *struct{ Status string } }
	}
	e.Do(t, member, `{ viewer { membership { status } } }`, nil).Decode(t, &ms)
	if ms.Viewer.Membership != nil {
		t.Fatalf("lapsed membership still gives perks: %+v", ms)
	}
	t1 := e.Clock.Now()
	v2 := newVariant(t, e, 20, 2000, "EUR")
	e.Staff(t, `mutation($t: ID!, $v: ID!) { setMemberPrice(input: {tierId: $t, variantId: $v, amount: 1500}) { memberPrice { id } } }`,
		map[string]any{"t": tierID, "v": v2}, &struct{}{})
	createDrop(t, e, map[string]any{"title": "Next", "variantIds": []string{v2}, "cap": 10,
		"earlyAccessAt": t1, "opensAt": t1.Add(time.Hour), "closesAt": t1.Add(2 * time.Hour)})
	wantCode(t, addToCart(t, e, member, v2, 1, "lapsed-early"), "DROP_NOT_OPEN")
	e.Clock.Set(t1.Add(time.Hour))
	r = addToCart(t, e, member, v2, 1, "lapsed-open")
	if r.Code() != "" || !strings.Contains(string(r.Data), `"total":{"amount":2000`) {
		t.Fatalf("lapsed member pays %s %+v, want the list price 2000", r.Data, r.Errors)
	}

	// By card: active once Stripe reports the first invoice paid.
	cardFan, _ := e.SignUp(t, "cardfan@example.com")
	var cm struct {
		BuyMembership struct {
			Membership   struct{ Status string }
			ClientSecret string
		}
	}
	e.Do(t, cardFan, buy, map[string]any{"i": map[string]any{"tierId": tierID, "payWith": map[string]any{"card": true}, "idempotencyKey": "c1"}}).Decode(t, &cm)
	if cm.BuyMembership.Membership.Status != "INCOMPLETE" || !strings.HasPrefix(cm.BuyMembership.ClientSecret, "sub_fake_") {
		t.Fatalf("card membership: %+v", cm)
	}
	sub := strings.TrimSuffix(cm.BuyMembership.ClientSecret, "_secret")
	end := e.Clock.Now().AddDate(0, 1, 0).Truncate(time.Second)
	body, sig := graphtest.SignedEvent(t, "evt_inv", "invoice.paid", map[string]any{"id": "in_1", "object": "invoice", "subscription": sub,
		"lines": map[string]any{"data": []any{map[string]any{"period": map[string]any{"start": e.Clock.Now().Unix(), "end": end.Unix()}}}}})
	if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != http.StatusOK {
		t.Fatalf("invoice webhook: %d", code)
	}
	e.Do(t, cardFan, `{ viewer { membership { status } } }`, nil).Decode(t, &ms)
	if ms.Viewer.Membership == nil || ms.Viewer.Membership.Status != "ACTIVE" {
		t.Fatalf("card membership after invoice.paid: %+v", ms)
	}
}

// TestGiftToDropBuyers: a micro-gift to everyone who bought in a drop, with
// an expiry; unspent gift credit is taken back by a GIFT_EXPIRY entry.
func TestGiftToDropBuyers(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 500, "EUR")
	t0 := e.Clock.Now()
	drop := createDrop(t, e, map[string]any{"title": "Gifted", "variantIds": []string{v}, "cap": 10, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
	var toks []string
	for i, email := range []string{"g1@example.com", "g2@example.com"} {
		tok, id := e.SignUp(t, email)
		grant(t, e, id, 500, "seed"+email)
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
		toks = append(toks, tok)
	}
	e.SignUp(t, "bystander@example.com")
	g := `mutation($i: GrantCreditInput!) { grantCredit(input: $i) { granted } }`
	in := map[string]any{"dropId": drop, "amount": map[string]any{"amount": 300, "currency": "EUR"}, "note": "thanks for coming",
		"expiresAt": t0.Add(24 * time.Hour), "idempotencyKey": "drop-gift"}
	var out struct{ GrantCredit struct{ Granted int } }
	e.Staff(t, g, map[string]any{"i": in}, &out)
	e.Staff(t, g, map[string]any{"i": in}, &out) // replay: nobody gets it twice
	if out.GrantCredit.Granted != 2 || balance(t, e, toks[0]) != 300 || balance(t, e, toks[1]) != 300 {
		t.Fatalf("granted %d; balances %d %d", out.GrantCredit.Granted, balance(t, e, toks[0]), balance(t, e, toks[1]))
	}
	wantCode(t, e.Do(t, toks[0], g, map[string]any{"i": in}), "FORBIDDEN")
	e.Clock.Advance(25 * time.Hour)
	if _, err := e.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b := balance(t, e, toks[0]); b != 0 {
		t.Fatalf("after the gift expired: balance %d", b)
	}
}
