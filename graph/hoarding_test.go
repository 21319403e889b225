package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// heldBy is the units held right now, read from the database.
func heldBy(t *testing.T, e *graphtest.Env) int {
	t.Helper()
	n, err := e.Client.CartLine.Query().Where(cartline.StatusEQ(cartline.StatusHELD)).
		Aggregate(ent.Sum(cartline.FieldQuantity)).Int(viewer.SystemContext(context.Background()))
	graphtest.Must(t, err)
	return n
}

// TestHoardingIsCapped is finding 8 of the abuse issue: one fresh
// account held all 60 units of a variant in one call, and card checkouts
// kept holds for the payment window without limit. Now a customer holds
// at most 10 units of a variant and 50 in all (in one call or in 16 at
// once), and a 4th order awaiting a card payment is refused until one is
// paid or canceled.
func TestHoardingIsCapped(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			cfg := carts.DefaultConfig()
			e := graphtest.New(t, graphtest.Options{Dialect: d, Cart: &cfg})
			c := raceClient()
			tok, _ := e.SignUp(t, "hoarder@abuse.example")

			v := newVariant(t, e, 60, 1000, "EUR")
			r := addToCart(t, e, tok, v, 60, "all-60")
			if r.Code() != "LIMIT_EXCEEDED" || !strings.Contains(r.Errors[0].Message, "at most 10 units of one item") {
				t.Fatalf("60 units in one call: %+v", r.Errors)
			}
			if got := stockOf(t, e, v); got != 60 {
				t.Fatalf("stock %d after a refused hold, want 60", got)
			}

			// 16 calls of one unit with a key each: 10 held, 6 refused.
			rs := raceAll(raceN, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, tok, addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": v, "quantity": 1, "idempotencyKey": fmt.Sprintf("one-%d", i)}})
			})
			if got := codeCounts(rs); got[""] != 10 || got["LIMIT_EXCEEDED"] != raceN-10 {
				t.Fatalf("outcomes %v, want 10 holds and %d LIMIT_EXCEEDED", got, raceN-10)
			}
			if got := stockOf(t, e, v); got != 50 {
				t.Fatalf("stock %d, want 50", got)
			}

			// 16 calls of 5 units, each on its own variant: 40 more fit
			// under the overall cap of 50, so 8 hold and 8 are refused.
			vs := make([]string, raceN)
			for i := range vs {
				vs[i] = newVariant(t, e, 20, 500, "EUR")
			}
			rs = raceAll(raceN, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, tok, addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": vs[i], "quantity": 5, "idempotencyKey": fmt.Sprintf("five-%d", i)}})
			})
			if got := codeCounts(rs); got[""] != 8 || got["LIMIT_EXCEEDED"] != raceN-8 {
				t.Fatalf("outcomes %v, want 8 holds and %d LIMIT_EXCEEDED", got, raceN-8)
			}
			for _, r := range rs {
				if r.Code() != "" && !strings.Contains(r.Errors[0].Message, "at most 50 units held at once") {
					t.Fatalf("refusal does not name the cap: %q", r.Errors[0].Message)
				}
			}
			if got := heldBy(t, e); got != 50 {
				t.Fatalf("%d units held, want the cap of 50", got)
			}
			taken := 0
			for _, w := range vs {
				taken += 20 - stockOf(t, e, w)
			}
			if taken != 40 {
				t.Fatalf("%d units taken from the 16 variants, want 40", taken)
			}

			// Another customer is not affected.
			other, _ := e.SignUp(t, "fan@abuse.example")
			if r := addToCart(t, e, other, v, 10, "fan"); r.Code() != "" {
				t.Fatalf("another customer's hold: %+v", r.Errors)
			}
		})
	}
}

// TestUnpaidOrdersAreCapped: a 4th card checkout awaiting payment
// is refused; paying one or having one canceled frees a slot.
func TestUnpaidOrdersAreCapped(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			cfg := carts.DefaultConfig()
			e := graphtest.New(t, graphtest.Options{Dialect: d, Cart: &cfg})
			tok, _ := e.SignUp(t, "unpaid@abuse.example")
			v := newVariant(t, e, 50, 1000, "EUR")

			var pis []string
			for i := range 3 {
				co := buy(t, e, tok, v, 1, fmt.Sprintf("o%d", i))
				if co.Checkout.Order.Status != "PENDING_PAYMENT" {
					t.Fatalf("order %d: %+v", i, co)
				}
				pis = append(pis, *co.Checkout.PaymentIntentID)
			}
			var add struct {
				AddToCart struct{ Cart struct{ ID string } }
			}
			addToCart(t, e, tok, v, 1, "o3-add").Decode(t, &add)
			cartID := add.AddToCart.Cart.ID
			try := func(key string) graphtest.Response {
				return e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{
					"cartId": cartID, "payWith": map[string]any{"card": true}, "idempotencyKey": key}})
			}
			r := try("o3-a")
			if r.Code() != "LIMIT_EXCEEDED" || !strings.Contains(r.Errors[0].Message, "at most 3 orders awaiting payment") {
				t.Fatalf("4th unpaid checkout: %+v", r.Errors)
			}
			if n := e.Client.Order.Query().CountX(viewer.SystemContext(context.Background())); n != 3 {
				t.Fatalf("%d orders, want 3", n)
			}

			// Paying one frees a slot.
			if code := deliver(t, e, "evt_paid", "payment_intent.succeeded", pis[0]); code != 200 {
				t.Fatalf("webhook %d", code)
			}
			if r := try("o3-b"); r.Code() != "" {
				t.Fatalf("checkout after paying one: %+v", r.Errors)
			}

			// Full again; a canceled one frees a slot.
			addToCart(t, e, tok, v, 1, "o4-add").Decode(t, &add)
			cartID = add.AddToCart.Cart.ID
			if r := try("o4-a"); r.Code() != "LIMIT_EXCEEDED" {
				t.Fatalf("4th unpaid checkout again: %+v", r.Errors)
			}
			if code := deliver(t, e, "evt_canceled", "payment_intent.canceled", pis[1]); code != 200 {
				t.Fatalf("webhook %d", code)
			}
			if r := try("o4-b"); r.Code() != "" {
				t.Fatalf("checkout after a cancel: %+v", r.Errors)
			}
		})
	}
}
