package graph_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
)

type checkoutOut struct {
	Checkout struct {
		Order struct {
			ID, Number, Status string
			Total              struct{ Amount int }
		}
		ClientSecret    *string
		PaymentIntentID *string
	}
}

const checkoutMutation = `mutation($i: CheckoutInput!) { checkout(input: $i) { order { id number status total { amount } } clientSecret paymentIntentId } }`

// buy adds quantity units to the customer's cart and checks out by card.
func buy(t testing.TB, e *graphtest.Env, token, variant string, quantity int, key string) checkoutOut {
	co, _ := buyFromCart(t, e, token, variant, quantity, key)
	return co
}

// buyFromCart is buy that also returns the cart it checked out.
func buyFromCart(t testing.TB, e *graphtest.Env, token, variant string, quantity int, key string) (checkoutOut, string) {
	t.Helper()
	var add struct {
		AddToCart struct{ Cart struct{ ID string } }
	}
	addToCart(t, e, token, variant, quantity, key+"-add").Decode(t, &add)
	var out checkoutOut
	e.Do(t, token, checkoutMutation, map[string]any{"i": map[string]any{
		"cartId": add.AddToCart.Cart.ID, "payWith": map[string]any{"card": true}, "idempotencyKey": key + "-checkout"}}).Decode(t, &out)
	return out, add.AddToCart.Cart.ID
}

func orderStatus(t testing.TB, e *graphtest.Env, token, id string) (status string, history []string) {
	t.Helper()
	var out struct {
		Node struct {
			Status  string
			History []struct{ Status string }
		}
	}
	e.Do(t, token, `query($id: ID!) { node(id: $id) { ... on Order { status history { status } } } }`, map[string]any{"id": id}).Decode(t, &out)
	for _, h := range out.Node.History {
		history = append(history, h.Status)
	}
	return out.Node.Status, history
}

func TestCheckoutAndWebhooks(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 5, 1999, "EUR")
			alice, _ := e.SignUp(t, "alice@pay.example")

			// Checkout creates an order awaiting payment and a PaymentIntent.
			co, aliceCart := buyFromCart(t, e, alice, v, 2, "alice-1")
			o := co.Checkout.Order
			if o.Status != "PENDING_PAYMENT" || o.Total.Amount != 3998 || co.Checkout.ClientSecret == nil || len(o.Number) != 8 {
				t.Fatalf("checkout: %+v", co)
			}
			pi := *co.Checkout.PaymentIntentID
			if got := e.Stripe.Intent(pi); got.Amount != 3998 || got.Currency != "EUR" {
				t.Fatalf("payment intent: %+v", got)
			}
			// Replaying checkout returns the same order and PaymentIntent.
			var again checkoutOut
			e.Do(t, alice, checkoutMutation, map[string]any{"i": map[string]any{"cartId": aliceCart, "payWith": map[string]any{"card": true}, "idempotencyKey": "alice-1-checkout"}}).Decode(t, &again)
			if again.Checkout.Order.ID != o.ID || *again.Checkout.PaymentIntentID != pi {
				t.Fatalf("replayed checkout: %+v", again)
			}

			// A forged webhook changes nothing.
			body, sig := e.Stripe.Event(t, "evt_1", "payment_intent.succeeded", pi)
			if code := graphtest.Deliver(t, e.WebhookURL, body, "t=1,v1=deadbeef"); code != http.StatusBadRequest {
				t.Fatalf("forged webhook: %d", code)
			}
			if code := graphtest.Deliver(t, e.WebhookURL, []byte(strings.Replace(string(body), "3998", "1", 1)), sig); code != http.StatusBadRequest {
				t.Fatalf("tampered webhook: %d", code)
			}
			if st, _ := orderStatus(t, e, alice, o.ID); st != "PENDING_PAYMENT" {
				t.Fatalf("after forged webhooks: %s", st)
			}
			// The real one pays the order; its redelivery is a no-op.
			for range 2 {
				if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != http.StatusOK {
					t.Fatalf("webhook: %d", code)
				}
			}
			st, hist := orderStatus(t, e, alice, o.ID)
			if st != "PAID" || strings.Join(hist, ",") != "PENDING_PAYMENT,PAID" {
				t.Fatalf("paid: %s %v", st, hist)
			}
			// A failure arriving after the success changes nothing.
			fb, fs := e.Stripe.Event(t, "evt_2", "payment_intent.payment_failed", pi)
			if code := graphtest.Deliver(t, e.WebhookURL, fb, fs); code != http.StatusOK {
				t.Fatalf("late failure webhook: %d", code)
			}
			if st, _ := orderStatus(t, e, alice, o.ID); st != "PAID" {
				t.Fatalf("failure after success changed the order to %s", st)
			}
			if got := stockOf(t, e, v); got != 3 {
				t.Fatalf("stock %d after selling 2 of 5", got)
			}

			// Another customer cannot see Alice's order.
			bob, _ := e.SignUp(t, "bob@pay.example")
			if r := e.Do(t, bob, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": o.ID}); r.Code() != "NOT_FOUND" {
				t.Fatalf("bob reads alice's order: %+v", r)
			}

			// A failed payment returns the units.
			cb := buy(t, e, bob, v, 1, "bob-1")
			fb, fs = e.Stripe.Event(t, "evt_3", "payment_intent.payment_failed", *cb.Checkout.PaymentIntentID)
			graphtest.Deliver(t, e.WebhookURL, fb, fs)
			if st, _ := orderStatus(t, e, bob, cb.Checkout.Order.ID); st != "PAYMENT_FAILED" {
				t.Fatalf("failed payment: %s", st)
			}
			if got := stockOf(t, e, v); got != 3 {
				t.Fatalf("stock %d after a failed payment, want 3", got)
			}

			// Staff refund to the card.
			refund := `mutation($i: RefundOrderInput!) { refundOrder(input: $i) { order { status refunded { amount } } refund { status amount { amount } } } }`
			if r := e.Do(t, alice, refund, map[string]any{"i": map[string]any{"orderId": o.ID, "to": "CARD", "idempotencyKey": "r1"}}); r.Code() != "FORBIDDEN" {
				t.Fatalf("customer refund: %+v", r.Errors)
			}
			var rf struct {
				RefundOrder struct {
					Order struct {
						Status   string
						Refunded struct{ Amount int }
					}
					Refund struct{ Status string }
				}
			}
			if r := e.Do(t, e.StaffToken, refund, map[string]any{"i": map[string]any{"orderId": o.ID, "to": "CARD", "idempotencyKey": "r1"}}); r.Code() != "" {
				t.Fatalf("refund: %+v\n%s", r.Errors, e.Logs)
			} else {
				r.Decode(t, &rf)
			}
			if rf.RefundOrder.Order.Status != "REFUNDED" || rf.RefundOrder.Order.Refunded.Amount != 3998 || rf.RefundOrder.Refund.Status != "SUCCEEDED" {
				t.Fatalf("refund: %+v", rf)
			}
			if got := e.Stripe.Intent(pi); got.Refunded != 3998 {
				t.Fatalf("stripe refunded %d", got.Refunded)
			}
			// Nothing is left to refund, whatever the key.
			wantCode(t, e.Do(t, e.StaffToken, refund, map[string]any{"i": map[string]any{"orderId": o.ID, "to": "CARD", "idempotencyKey": "r2"}}), "BAD_USER_INPUT")
		})
	}
}

// TestLatePayments: a payment that succeeds after its hold expired is
// re-held if the units are still there, and refunded in full if not.
func TestLatePayments(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 1, 1500, "EUR")
	alice, _ := e.SignUp(t, "alice@late.example")
	bob, _ := e.SignUp(t, "bob@late.example")
	ctx := context.Background()

	// Alice checks out, then the payment window passes.
	a := buy(t, e, alice, v, 1, "a")
	e.Clock.Advance(16 * time.Minute)
	if n, err := e.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if st, _ := orderStatus(t, e, alice, a.Checkout.Order.ID); st != "CANCELED" || stockOf(t, e, v) != 1 {
		t.Fatalf("overdue order: %s, stock %d", st, stockOf(t, e, v))
	}
	if got := e.Stripe.Intent(*a.Checkout.PaymentIntentID); got.Status != "canceled" {
		t.Fatalf("overdue payment intent is %s, want canceled", got.Status)
	}
	// …but her bank confirms anyway: the unit is still there, so she gets it.
	body, sig := e.Stripe.Event(t, "evt_a", "payment_intent.succeeded", *a.Checkout.PaymentIntentID)
	if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != http.StatusOK {
		t.Fatalf("late success: %d", code)
	}
	if st, _ := orderStatus(t, e, alice, a.Checkout.Order.ID); st != "PAID" || stockOf(t, e, v) != 0 {
		t.Fatalf("late success with stock: %s, stock %d", st, stockOf(t, e, v))
	}

	// Restock one unit; Bob checks out, his window passes, and someone else
	// buys the unit before his payment lands: Bob is refunded in full.
	e.Staff(t, `mutation($i: SetStockInput!) { setStock(input: $i) { available } }`,
		map[string]any{"i": map[string]any{"variantId": v, "available": 1, "idempotencyKey": "restock"}}, &struct{}{})
	b := buy(t, e, bob, v, 1, "b")
	e.Clock.Advance(16 * time.Minute)
	e.Sweep(ctx)
	carol, _ := e.SignUp(t, "carol@late.example")
	c := buy(t, e, carol, v, 1, "c")
	cb, cs := e.Stripe.Event(t, "evt_c", "payment_intent.succeeded", *c.Checkout.PaymentIntentID)
	graphtest.Deliver(t, e.WebhookURL, cb, cs)
	body, sig = e.Stripe.Event(t, "evt_b", "payment_intent.succeeded", *b.Checkout.PaymentIntentID)
	if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != http.StatusOK {
		t.Fatalf("late success without stock: %d", code)
	}
	st, hist := orderStatus(t, e, bob, b.Checkout.Order.ID)
	if st != "REFUNDED" || strings.Join(hist, ",") != "PENDING_PAYMENT,CANCELED,CANCELED,REFUNDED" {
		t.Fatalf("bob's order: %s %v", st, hist)
	}
	if got := e.Stripe.Intent(*b.Checkout.PaymentIntentID); got.Refunded != 1500 {
		t.Fatalf("bob refunded %d, want 1500", got.Refunded)
	}
	if st, _ := orderStatus(t, e, carol, c.Checkout.Order.ID); st != "PAID" || stockOf(t, e, v) != 0 {
		t.Fatalf("carol: %s, stock %d", st, stockOf(t, e, v))
	}
}
