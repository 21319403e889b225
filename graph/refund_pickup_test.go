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
