package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

const collectMutation = `mutation($i: CollectPickupInput!) { collectPickup(input: $i) { fulfillment { id status collectedAt order { id } events { from to actor } } } }`

const advanceMutation = `mutation($i: AdvanceFulfillmentInput!) { advanceFulfillment(input: $i) { fulfillment { id status } } }`

// pickup is what the buyer's order page shows about handing it over.
type pickup struct {
	Node struct {
		PickupPass  *string
		PickupCode  *string
		Fulfillment *struct {
			ID, Status, Method string
		}
	}
}

func orderPickup(t testing.TB, e *graphtest.Env, tok, orderID string) pickup {
	t.Helper()
	var out pickup
	e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Order { pickupPass pickupCode fulfillment { id status method } } } }`,
		map[string]any{"id": orderID}).Decode(t, &out)
	return out
}

// paidOrder is a card order Stripe confirmed.
func paidOrder(t testing.TB, e *graphtest.Env, tok, v, key string) string {
	t.Helper()
	co := splitCheckout(t, e, tok, v, 0, key)
	deliver(t, e, "evt_"+key, "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
	return co.Checkout.Order.ID
}

func collect(t testing.TB, e *graphtest.Env, tok, code, key string) graphtest.Response {
	t.Helper()
	return e.Do(t, tok, collectMutation, map[string]any{"i": map[string]any{"code": code, "idempotencyKey": key}})
}

// TestFulfillmentPickup: a paid order gets a fulfilment with a signed pass
// and a short code only its buyer (and staff) see; a clerk hands it over
// once, by pass or by code, and the handover is recorded with who did it.
func TestFulfillmentPickup(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "fan@pickup.example")
	other, _ := e.SignUp(t, "other@pickup.example")

	unpaid := splitCheckout(t, e, tok, v, 0, "unpaid")
	if p := orderPickup(t, e, tok, unpaid.Checkout.Order.ID); p.Node.Fulfillment != nil || p.Node.PickupPass != nil {
		t.Fatalf("an unpaid order has a fulfilment or a pass: %+v", p)
	}
	orderID := paidOrder(t, e, tok, v, "paid")
	p := orderPickup(t, e, tok, orderID)
	if p.Node.Fulfillment == nil || p.Node.Fulfillment.Status != "UNFULFILLED" || p.Node.Fulfillment.Method != "PICKUP" {
		t.Fatalf("paid order's fulfilment: %+v", p.Node.Fulfillment)
	}
	if p.Node.PickupPass == nil || !strings.HasPrefix(*p.Node.PickupPass, "M1.") || p.Node.PickupCode == nil || len(*p.Node.PickupCode) != 6 {
		t.Fatalf("pass %v, code %v", p.Node.PickupPass, p.Node.PickupCode)
	}
	wantCode(t, e.Do(t, other, `query($id: ID!) { node(id: $id) { ... on Order { pickupPass } } }`, map[string]any{"id": orderID}), "NOT_FOUND")

	// Only staff (or a hub) hand over; a forged or foreign pass is refused.
	wantCode(t, collect(t, e, tok, *p.Node.PickupPass, "self"), "FORBIDDEN")
	forged := (*p.Node.PickupPass)[:len(*p.Node.PickupPass)-4] + "AAAA"
	wantCode(t, collect(t, e, e.StaffToken, forged, "forged"), "BAD_USER_INPUT")
	wantCode(t, collect(t, e, e.StaffToken, "ZZZZZZ", "unknown"), "BAD_USER_INPUT")

	var out struct {
		CollectPickup struct {
			Fulfillment struct {
				Status      string
				CollectedAt *string
				Order       struct{ ID string }
				Events      []struct{ From, To, Actor string }
			}
		}
	}
	collect(t, e, e.StaffToken, *p.Node.PickupPass, "hand-1").Decode(t, &out)
	f := out.CollectPickup.Fulfillment
	if f.Status != "COLLECTED" || f.CollectedAt == nil || f.Order.ID != orderID {
		t.Fatalf("collected: %+v", f)
	}
	last := f.Events[len(f.Events)-1]
	if last.From != "UNFULFILLED" || last.To != "COLLECTED" || last.Actor != "STAFF" {
		t.Fatalf("handover event %+v", last)
	}
	// The same request again is the same answer; another is a refusal.
	if r := collect(t, e, e.StaffToken, *p.Node.PickupPass, "hand-1"); r.Code() != "" {
		t.Fatalf("replay: %s", r.Code())
	}
	wantCode(t, collect(t, e, e.StaffToken, *p.Node.PickupPass, "hand-2"), "ALREADY_COLLECTED")
	wantCode(t, collect(t, e, e.StaffToken, *p.Node.PickupCode, "hand-3"), "ALREADY_COLLECTED")
	if q := orderPickup(t, e, tok, orderID); q.Node.PickupPass != nil {
		t.Fatal("a collected order still shows its pickup pass")
	}

	// By the typed code, however the clerk types it.
	second := paidOrder(t, e, tok, v, "second")
	code := *orderPickup(t, e, tok, second).Node.PickupCode
	typed := strings.ToLower(code[:3]) + "-" + code[3:]
	if r := collect(t, e, e.StaffToken, typed, "typed"); r.Code() != "" {
		t.Fatalf("typed code %q: %s", typed, r.Code())
	}
}

// TestFulfillmentTransitions: each move is allowed only from the states
// before it.
func TestFulfillmentTransitions(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "fan@moves.example")
	orderID := paidOrder(t, e, tok, v, "moves")
	fid := orderPickup(t, e, tok, orderID).Node.Fulfillment.ID
	move := func(status, key string) graphtest.Response {
		return e.Do(t, e.StaffToken, advanceMutation, map[string]any{"i": map[string]any{
			"fulfillmentId": fid, "status": status, "idempotencyKey": key}})
	}
	for i, st := range []string{"PICKING", "PACKED", "READY_FOR_PICKUP"} {
		if r := move(st, fmt.Sprint("m", i)); r.Code() != "" {
			t.Fatalf("%s: %s", st, r.Code())
		}
	}
	wantCode(t, move("PICKING", "back"), "BAD_USER_INPUT")
	wantCode(t, move("DELIVERED", "skip"), "BAD_USER_INPUT")
	wantCode(t, move("UNFULFILLED", "start"), "BAD_USER_INPUT")
	wantCode(t, e.Do(t, tok, advanceMutation, map[string]any{"i": map[string]any{
		"fulfillmentId": fid, "status": "CANCELED", "idempotencyKey": "buyer"}}), "FORBIDDEN")
	if st := orderPickup(t, e, tok, orderID).Node.Fulfillment.Status; st != "READY_FOR_PICKUP" {
		t.Fatalf("status %s", st)
	}
}

// TestRace_collectPickup: clerks scanning one pass at once hand it over
// once. With one key all see the first answer; with a key each, one
// COLLECTED and the rest ALREADY_COLLECTED.
func TestRace_collectPickup(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 10, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@race-pickup.example")
			pass := func(key string) string {
				return *orderPickup(t, e, tok, paidOrder(t, e, tok, v, key)).Node.PickupPass
			}
			do := func(code, key string) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, collectMutation, map[string]any{"i": map[string]any{"code": code, "idempotencyKey": key}})
			}
			one := pass("same")
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return do(one, "scan") }))

			each := pass("each")
			rs := raceAll(raceN, func(i int) graphtest.Response { return do(each, fmt.Sprint("scan-", i)) })
			if got := codeCounts(rs); got[""] != 1 || got["ALREADY_COLLECTED"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 handover and %d ALREADY_COLLECTED", got, raceN-1)
			}
		})
	}
}

// TestRace_advanceFulfillment: concurrent moves of one fulfilment move it
// once.
func TestRace_advanceFulfillment(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 10, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@race-moves.example")
			fid := func(key string) string {
				return orderPickup(t, e, tok, paidOrder(t, e, tok, v, key)).Node.Fulfillment.ID
			}
			do := func(id, key string) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, advanceMutation, map[string]any{"i": map[string]any{
					"fulfillmentId": id, "status": "PICKING", "idempotencyKey": key}})
			}
			one := fid("same")
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return do(one, "pick") }))
			each := fid("each")
			rs := raceAll(raceN, func(i int) graphtest.Response { return do(each, fmt.Sprint("pick-", i)) })
			if got := codeCounts(rs); got[""] != 1 || got["BAD_USER_INPUT"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 move and %d BAD_USER_INPUT", got, raceN-1)
			}
		})
	}
}
