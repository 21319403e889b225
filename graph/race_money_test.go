package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/membership"
	"github.com/merchd/merchd/ent/orderevent"
	"github.com/merchd/merchd/ent/refund"
	"github.com/merchd/merchd/ent/topup"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/walletentry"
	"github.com/merchd/merchd/graph/graphtest"
)

// raceCalls sends raceN requests at once, request i with vars(i), and
// returns the responses in order.
func raceCalls(t *testing.T, e *graphtest.Env, token, query string, vars func(i int) map[string]any) []graphtest.Response {
	t.Helper()
	return raceAll(raceN, func(i int) graphtest.Response {
		return graphtest.Post(t, e.URL, token, map[string]any{"query": query, "variables": vars(i)})
	})
}

func sys() context.Context { return viewer.SystemContext(context.Background()) }

func TestRace_buyMembership(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			tier := newTier(t, e, 1000)
			same, sameID := e.SignUp(t, "bm-same@example.com")
			grant(t, e, sameID, 5000, "g1")
			allSame(t, raceCalls(t, e, same, buyMembershipMutation, func(int) map[string]any {
				return buyMembershipVars(tier, 1000, "one")
			}))
			if b := balance(t, e, same); b != 4000 {
				t.Fatalf("same key: balance %d, want 4000 (one debit)", b)
			}

			diff, diffID := e.SignUp(t, "bm-diff@example.com")
			grant(t, e, diffID, 5000, "g2")
			got := codeCounts(raceCalls(t, e, diff, buyMembershipMutation, func(i int) map[string]any {
				return buyMembershipVars(tier, 1000, fmt.Sprintf("k%d", i))
			}))
			if got[""] != 1 || got["ALREADY_MEMBER"] != raceN-1 {
				t.Fatalf("different keys: %v, want 1 success and %d ALREADY_MEMBER", got, raceN-1)
			}
			if b := balance(t, e, diff); b != 4000 {
				t.Fatalf("different keys: balance %d, want 4000 (one debit)", b)
			}
			if n := e.Client.Membership.Query().Where(membership.StatusEQ(membership.StatusACTIVE)).CountX(sys()); n != 2 {
				t.Fatalf("%d active memberships, want 2 (one per customer)", n)
			}
			if n := countEntries(t, e, walletentry.KindSPEND); n != 2 {
				t.Fatalf("%d membership debits, want 2", n)
			}
		})
	}
}

const topUpMutation = `mutation($i: TopUpWalletInput!) { topUpWallet(input: $i) { topUp { id status } clientSecret paymentIntentId } }`

func TestRace_topUpWallet(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			e.Stripe.ForgetIdempotencyKeys() // racers agree on the stored intent, not on Stripe's idempotency
			tok, _ := e.SignUp(t, "topup-race@example.com")
			vars := func(key string) map[string]any {
				return map[string]any{"i": map[string]any{"amount": map[string]any{"amount": 1000, "currency": "EUR"}, "idempotencyKey": key}}
			}
			same := raceCalls(t, e, tok, topUpMutation, func(int) map[string]any { return vars("one") })
			allSame(t, same)
			if n := e.Client.TopUp.Query().CountX(sys()); n != 1 {
				t.Fatalf("same key: %d top-ups, want 1", n)
			}

			diff := raceCalls(t, e, tok, topUpMutation, func(i int) map[string]any { return vars(fmt.Sprintf("k%d", i)) })
			if got := codeCounts(diff); got[""] != raceN {
				t.Fatalf("different keys: %v", got)
			}
			pis := map[string]bool{}
			for _, r := range append(diff, same[0]) {
				var out struct {
					TopUpWallet struct{ PaymentIntentID string }
				}
				r.Decode(t, &out)
				pis[out.TopUpWallet.PaymentIntentID] = true
			}
			if len(pis) != raceN+1 {
				t.Fatalf("%d PaymentIntents for %d top-ups", len(pis), raceN+1)
			}
			// Stripe confirms each twice, all at once: each is credited once.
			var wg sync.WaitGroup
			i := 0
			for pi := range pis {
				for rep := range 2 {
					body, sig := e.Stripe.Event(t, fmt.Sprintf("evt_tu_%d", i), "payment_intent.succeeded", pi)
					wg.Go(func() {
						if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != http.StatusOK {
							t.Errorf("webhook %d (delivery %d)", code, rep)
						}
					})
				}
				i++
			}
			wg.Wait()
			if b := balance(t, e, tok); b != 1000*(raceN+1) {
				t.Fatalf("balance %d, want %d", b, 1000*(raceN+1))
			}
			if n := e.Client.TopUp.Query().Where(topup.StatusEQ(topup.StatusSUCCEEDED)).CountX(sys()); n != raceN+1 {
				t.Fatalf("%d top-ups succeeded, want %d", n, raceN+1)
			}
		})
	}
}

const grantMutation = `mutation($i: GrantCreditInput!) { grantCredit(input: $i) { granted } }`

func TestRace_grantCredit(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			tok, id := e.SignUp(t, "grant-race@example.com")
			vars := func(key string) map[string]any {
				return map[string]any{"i": map[string]any{"customerIds": []string{id},
					"amount": map[string]any{"amount": 500, "currency": "EUR"}, "note": "thanks", "idempotencyKey": key}}
			}
			allSame(t, raceCalls(t, e, e.StaffToken, grantMutation, func(int) map[string]any { return vars("one") }))
			if b := balance(t, e, tok); b != 500 {
				t.Fatalf("same key: balance %d, want 500 (one grant)", b)
			}
			if got := codeCounts(raceCalls(t, e, e.StaffToken, grantMutation, func(i int) map[string]any {
				return vars(fmt.Sprintf("k%d", i))
			})); got[""] != raceN {
				t.Fatalf("different keys: %v", got)
			}
			if b, n := balance(t, e, tok), countEntries(t, e, walletentry.KindGIFT); b != 500*(raceN+1) || n != raceN+1 {
				t.Fatalf("balance %d from %d gifts, want %d from %d", b, n, 500*(raceN+1), raceN+1)
			}
		})
	}
}

const adjustMutation = `mutation($i: AdjustWalletInput!) { adjustWallet(input: $i) { entry { id } } }`

func TestRace_adjustWallet(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			tok, id := e.SignUp(t, "adjust-race@example.com")
			grant(t, e, id, 1000, "g")
			vars := func(amount int, key string) map[string]any {
				return map[string]any{"i": map[string]any{"customerId": id,
					"amount": map[string]any{"amount": amount, "currency": "EUR"}, "reason": "till correction", "idempotencyKey": key}}
			}
			allSame(t, raceCalls(t, e, e.StaffToken, adjustMutation, func(int) map[string]any { return vars(-100, "one") }))
			if b := balance(t, e, tok); b != 900 {
				t.Fatalf("same key: balance %d, want 900 (one debit)", b)
			}
			// 16 debits of 100 from 900: exactly 9 fit, and the balance
			// never goes below zero.
			got := codeCounts(raceCalls(t, e, e.StaffToken, adjustMutation, func(i int) map[string]any {
				return vars(-100, fmt.Sprintf("k%d", i))
			}))
			if got[""] != 9 || got["INSUFFICIENT_FUNDS"] != raceN-9 {
				t.Fatalf("different keys: %v, want 9 debits and %d INSUFFICIENT_FUNDS", got, raceN-9)
			}
			if b, n := balance(t, e, tok), countEntries(t, e, walletentry.KindADJUSTMENT); b != 0 || n != 10 {
				t.Fatalf("balance %d after %d adjustments, want 0 after 10", b, n)
			}
		})
	}
}

func TestRace_refundOrder(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 10, 1000, "EUR")
			tok, id := e.SignUp(t, "refund-race@example.com")
			grant(t, e, id, 2000, "g")
			walletOrder := func(key string) string {
				var add struct {
					AddToCart struct{ Cart struct{ ID string } }
				}
				addToCart(t, e, tok, v, 1, key+"-add").Decode(t, &add)
				var out checkoutOut
				e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID,
					"payWith": map[string]any{"wallet": map[string]any{"amount": 1000, "currency": "EUR"}}, "idempotencyKey": key}}).Decode(t, &out)
				return out.Checkout.Order.ID
			}
			vars := func(orderID, key string) map[string]any {
				return map[string]any{"i": map[string]any{"orderId": orderID, "to": "WALLET", "idempotencyKey": key}}
			}
			q := `mutation($i: RefundOrderInput!) { refundOrder(input: $i) { order { status } refund { id status } } }`
			first := walletOrder("o1")
			allSame(t, raceCalls(t, e, e.StaffToken, q, func(int) map[string]any { return vars(first, "one") }))
			if b := balance(t, e, tok); b != 2000 {
				t.Fatalf("same key: balance %d, want 2000 (one refund)", b)
			}

			second := walletOrder("o2")
			got := codeCounts(raceCalls(t, e, e.StaffToken, q, func(i int) map[string]any { return vars(second, fmt.Sprintf("k%d", i)) }))
			if got[""] != 1 || got["BAD_USER_INPUT"] != raceN-1 {
				t.Fatalf("different keys: %v, want 1 refund and %d BAD_USER_INPUT", got, raceN-1)
			}
			if b := balance(t, e, tok); b != 2000 {
				t.Fatalf("balance %d, want 2000 (each order refunded once)", b)
			}
			if n := e.Client.Refund.Query().Where(refund.StatusEQ(refund.StatusSUCCEEDED)).CountX(sys()); n != 2 {
				t.Fatalf("%d refunds, want 2", n)
			}
			if n := countEntries(t, e, walletentry.KindREFUND); n != 2 {
				t.Fatalf("%d REFUND entries, want 2", n)
			}
		})
	}
}

// TestRace_stripeWebhook: 16 concurrent deliveries of one success event,
// and 16 different success events for one PaymentIntent, each pay the
// split order once: one PAID step, the wallet part charged once.
func TestRace_stripeWebhook(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 10, 3000, "EUR")
			tok, id := e.SignUp(t, "webhook-race@example.com")
			grant(t, e, id, 2000, "g")
			for _, c := range []struct {
				name     string
				eventIDs func(i int) string
			}{
				{"same-event", func(int) string { return "evt_same" }},
				{"different-events", func(i int) string { return fmt.Sprintf("evt_diff_%d", i) }},
			} {
				out := splitCheckout(t, e, tok, v, 1000, c.name)
				pi := *out.Checkout.PaymentIntentID
				before := stockOf(t, e, v)
				bodies, sigs := make([][]byte, raceN), make([]string, raceN)
				for i := range raceN {
					bodies[i], sigs[i] = e.Stripe.Event(t, c.eventIDs(i), "payment_intent.succeeded", pi)
				}
				concurrently(raceN, func(i int) {
					if code := graphtest.Deliver(t, e.WebhookURL, bodies[i], sigs[i]); code != http.StatusOK {
						t.Errorf("%s: webhook answered %d", c.name, code)
					}
				})
				st, _ := orderStatus(t, e, tok, out.Checkout.Order.ID)
				orderID := decodeID(t, out.Checkout.Order.ID)
				paid := e.Client.OrderEvent.Query().Where(orderevent.OrderID(orderID), orderevent.Status("PAID")).CountX(sys())
				if st != "PAID" || paid != 1 || stockOf(t, e, v) != before || e.Stripe.Refunds(pi) != 0 {
					t.Fatalf("%s: order %s with %d PAID steps, stock %d (was %d), refunded %d", c.name, st, paid, stockOf(t, e, v), before, e.Stripe.Refunds(pi))
				}
			}
			if b, n := balance(t, e, tok), countEntries(t, e, walletentry.KindSPEND); b != 0 || n != 2 {
				t.Fatalf("balance %d after %d wallet spends, want 0 after 2", b, n)
			}
		})
	}
}

func decodeID(t testing.TB, id string) int {
	t.Helper()
	n, err := gid.Decode(id)
	graphtest.Must(t, err)
	return n
}
