package graph_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

// TestRefundInFullCancelsThePickup: an order refunded in full before its
// handover is not handed over too (refund and goods): its fulfilment is
// CANCELED in the refund's transaction, and the pass is refused at the
// counter. A partial refund leaves the pickup open.
func TestRefundInFullCancelsThePickup(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 10, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@refund-pickup.example")
			id := paidOrder(t, e, tok, v, "r1")
			before := orderPickup(t, e, tok, id)
			e.Staff(t, refundOrderMutation, map[string]any{"i": map[string]any{"orderId": id, "to": "WALLET", "idempotencyKey": "rf"}}, &struct{}{})
			after := orderPickup(t, e, tok, id)
			if after.Node.Fulfillment.Status != "CANCELED" {
				t.Fatalf("fulfilment after a full refund: %s, want CANCELED", after.Node.Fulfillment.Status)
			}
			if r := collect(t, e, e.StaffToken, *before.Node.PickupPass, "late"); r.Code() != "BAD_USER_INPUT" {
				t.Fatalf("handing over a refunded order: %+v, want BAD_USER_INPUT", r.Errors)
			}
		})
	}
}

// TestRace_refundVersusHandover: a full refund and the counter's handover
// of the same order, at once, 8 rounds: either the handover comes first
// (it answers OK and the part stays COLLECTED; the refund stands, as one
// after a handover does) or the refund does (the part is CANCELED and the
// handover is refused) — never a handover that answered OK on a part that
// ends CANCELED, nor a refused one on a part that ends COLLECTED.
func TestRace_refundVersusHandover(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 20, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@refund-race.example")
			seen := map[string]int{}
			for round := range 8 {
				id := paidOrder(t, e, tok, v, fmt.Sprint("race-", round))
				pass := *orderPickup(t, e, tok, id).Node.PickupPass
				var wg sync.WaitGroup
				var handover, refund graphtest.Response
				wg.Go(func() {
					handover = postWith(t, c, e.URL, e.StaffToken, collectMutation, map[string]any{"i": map[string]any{"code": pass, "idempotencyKey": fmt.Sprint("h-", round)}})
				})
				wg.Go(func() {
					refund = postWith(t, c, e.URL, e.StaffToken, refundOrderMutation, map[string]any{"i": map[string]any{"orderId": id, "to": "WALLET", "idempotencyKey": fmt.Sprint("r-", round)}})
				})
				wg.Wait()
				if refund.Code() != "" {
					t.Fatalf("round %d: the refund was refused: %+v", round, refund.Errors)
				}
				st := orderPickup(t, e, tok, id).Node.Fulfillment.Status
				switch {
				case handover.Code() == "" && st == "COLLECTED":
					seen["handover first"]++
				case handover.Code() == "BAD_USER_INPUT" && st == "CANCELED":
					seen["refund first"]++
				default:
					t.Fatalf("round %d: handover %q, fulfilment %s", round, handover.Code(), st)
				}
			}
			t.Logf("%v", seen)
		})
	}
}

// paidPair is a paid card order of two units of v; it returns the order,
// its line and its pickup pass.
func paidPair(t *testing.T, e *graphtest.Env, tok, v, key string) (orderID, lineID, pass string) {
	t.Helper()
	co := buy(t, e, tok, v, 2, key)
	deliver(t, e, "evt_"+key, "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
	id := co.Checkout.Order.ID
	return id, orderLines(t, e, tok, id)[0].ID, *orderPickup(t, e, tok, id).Node.PickupPass
}

// handedOver is how many units of the order reached the buyer.
func handedOver(t *testing.T, e *graphtest.Env, orderID string) (collected, open int) {
	t.Helper()
	var o struct {
		Node struct {
			Fulfillments []struct {
				Status string
				Lines  []struct{ Quantity int }
			}
		}
	}
	e.Staff(t, `query($id: ID!) { node(id: $id) { ... on Order { fulfillments { status lines { quantity } } } } }`, map[string]any{"id": orderID}, &o)
	for _, f := range o.Node.Fulfillments {
		for _, l := range f.Lines {
			switch f.Status {
			case "COLLECTED":
				collected += l.Quantity
			case "CANCELED":
			default:
				open += l.Quantity
			}
		}
	}
	return collected, open
}

// TestLineRefundLeavesThePickup: refunding one of two units before the
// handover takes it out of the pickup: the counter hands over one.
// Refunding both by their line cancels the pickup.
func TestLineRefundLeavesThePickup(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 10, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@line-refund.example")
			id, line, pass := paidPair(t, e, tok, v, "p1")
			e.Staff(t, refundOrderMutation, map[string]any{"i": map[string]any{"orderId": id, "to": "WALLET",
				"lines": []any{map[string]any{"lineId": line, "quantity": 1}}, "idempotencyKey": "rf1"}}, &struct{}{})
			if c, o := handedOver(t, e, id); c != 0 || o != 1 {
				t.Fatalf("after refunding 1 of 2: collected %d, open %d; want 0 and 1", c, o)
			}
			collect(t, e, e.StaffToken, pass, "hand").Decode(t, &struct{}{})
			if c, o := handedOver(t, e, id); c != 1 || o != 0 {
				t.Fatalf("after the handover: collected %d, open %d; want 1 and 0", c, o)
			}

			id2, line2, pass2 := paidPair(t, e, tok, v, "p2")
			e.Staff(t, refundOrderMutation, map[string]any{"i": map[string]any{"orderId": id2, "to": "WALLET",
				"lines": []any{map[string]any{"lineId": line2, "quantity": 2}}, "idempotencyKey": "rf2"}}, &struct{}{})
			if c, o := handedOver(t, e, id2); c != 0 || o != 0 {
				t.Fatalf("after refunding both by line: collected %d, open %d", c, o)
			}
			if r := collect(t, e, e.StaffToken, pass2, "hand2"); r.Code() != "BAD_USER_INPUT" {
				t.Fatalf("handing over a pickup refunded by its lines: %+v", r.Errors)
			}
		})
	}
}

// TestRace_lineRefundVersusHandover: refunding one of two units while the
// counter hands the pickup over, 8 rounds: the handover always succeeds,
// and hands over 2 (it came first; the refund is then one after the
// handover) or 1 (the refund came first) — never a unit both refunded
// before and handed over after.
func TestRace_lineRefundVersusHandover(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 40, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@line-race.example")
			seen := map[int]int{}
			for round := range 8 {
				id, line, pass := paidPair(t, e, tok, v, fmt.Sprint("lr-", round))
				var wg sync.WaitGroup
				var handover, refund graphtest.Response
				wg.Go(func() {
					handover = postWith(t, c, e.URL, e.StaffToken, collectMutation, map[string]any{"i": map[string]any{"code": pass, "idempotencyKey": fmt.Sprint("h-", round)}})
				})
				wg.Go(func() {
					refund = postWith(t, c, e.URL, e.StaffToken, refundOrderMutation, map[string]any{"i": map[string]any{"orderId": id, "to": "WALLET",
						"lines": []any{map[string]any{"lineId": line, "quantity": 1}}, "idempotencyKey": fmt.Sprint("r-", round)}})
				})
				wg.Wait()
				if handover.Code() != "" || refund.Code() != "" {
					t.Fatalf("round %d: handover %+v, refund %+v", round, handover.Errors, refund.Errors)
				}
				collected, open := handedOver(t, e, id)
				if open != 0 || (collected != 1 && collected != 2) {
					t.Fatalf("round %d: collected %d, open %d", round, collected, open)
				}
				seen[collected]++
			}
			t.Logf("units handed over per round: %v", seen)
		})
	}
}
