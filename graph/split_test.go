package graph_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/fulfillmentline"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

const splitMutation = `mutation($i: SplitFulfillmentInput!) { splitFulfillment(input: $i) {
	fulfillment { id status lines { quantity orderLine { id } } }
	split { id status pickupCode pickupPass splitFrom { id } lines { quantity orderLine { id } } events { from to note } } } }`

type splitView struct {
	SplitFulfillment struct {
		Fulfillment struct {
			ID, Status string
			Lines      []struct{ Quantity int }
		}
		Split struct {
			ID, Status, PickupCode string
			PickupPass             *string
			SplitFrom              struct{ ID string }
			Lines                  []struct{ Quantity int }
			Events                 []struct{ From, To, Note string }
		}
	}
}

func splitVars(fid, lineID string, quantity int, key string) map[string]any {
	return map[string]any{"i": map[string]any{"fulfillmentId": fid, "idempotencyKey": key,
		"lines": []any{map[string]any{"orderLineId": lineID, "quantity": quantity}}}}
}

// unitsIn is how many units of order line lineID all fulfilments carry.
func unitsIn(t testing.TB, e *graphtest.Env, lineID string) int {
	t.Helper()
	n, err := e.Client.FulfillmentLine.Query().Where(fulfillmentline.OrderLineID(decodeID(t, lineID))).
		Aggregate(ent.Sum(fulfillmentline.FieldQuantity)).Int(viewer.SystemContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSplitFulfillment: staff split units of an order off to a part that
// moves on its own, with its own pass; a unit is never in two parts, a
// part keeps at least one, a part handed over cannot be split, and the
// buyer can return only what reached them.
func TestSplitFulfillment(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 20, 1500, "EUR")
	tok, _ := e.SignUp(t, "fan@split.example")
	co := buy(t, e, tok, v, 3, "split")
	deliver(t, e, "evt_split", "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
	orderID := co.Checkout.Order.ID
	lineID := orderLines(t, e, tok, orderID)[0].ID
	first := orderPickup(t, e, tok, orderID).Node.Fulfillment.ID

	if r := e.Do(t, tok, splitMutation, splitVars(first, lineID, 1, "buyer")); r.Code() != "FORBIDDEN" {
		t.Fatalf("a buyer split their order: %+v", r)
	}
	var out splitView
	e.Do(t, e.StaffToken, splitMutation, splitVars(first, lineID, 1, "s1")).Decode(t, &out)
	s := out.SplitFulfillment
	if s.Fulfillment.ID != first || len(s.Fulfillment.Lines) != 1 || s.Fulfillment.Lines[0].Quantity != 2 {
		t.Fatalf("the split fulfilment kept %+v, want 2 units", s.Fulfillment)
	}
	if s.Split.Status != "UNFULFILLED" || s.Split.SplitFrom.ID != first || len(s.Split.Lines) != 1 || s.Split.Lines[0].Quantity != 1 {
		t.Fatalf("the new part is %+v, want 1 unit UNFULFILLED split from %s", s.Split, first)
	}
	if s.Split.PickupPass == nil || s.Split.PickupCode == "" || s.Split.PickupCode == *orderPickup(t, e, tok, orderID).Node.PickupCode {
		t.Fatalf("the new part has no pickup pass or code of its own: %+v", s.Split)
	}
	if len(s.Split.Events) != 1 || s.Split.Events[0].To != "UNFULFILLED" || s.Split.Events[0].Note == "" {
		t.Fatalf("the new part's history is %+v", s.Split.Events)
	}
	var replay splitView
	e.Do(t, e.StaffToken, splitMutation, splitVars(first, lineID, 1, "s1")).Decode(t, &replay)
	if replay.SplitFulfillment.Split.ID != s.Split.ID {
		t.Fatalf("a replay split again: %s then %s", s.Split.ID, replay.SplitFulfillment.Split.ID)
	}
	for _, c := range []struct {
		q    int
		why  string
		code string
	}{{2, "all that is left", "BAD_USER_INPUT"}, {5, "more than it has", "BAD_USER_INPUT"}, {0, "nothing", "BAD_USER_INPUT"}} {
		if r := e.Do(t, e.StaffToken, splitMutation, splitVars(first, lineID, c.q, "bad-"+c.why)); r.Code() != c.code {
			t.Fatalf("splitting off %s: %+v, want %s", c.why, r, c.code)
		}
	}
	if n := unitsIn(t, e, lineID); n != 3 {
		t.Fatalf("the parts carry %d units of 3 bought", n)
	}
	var fs struct {
		Node struct{ Fulfillments []struct{ ID, Status string } }
	}
	e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Order { fulfillments { id status } } } }`,
		map[string]any{"id": orderID}).Decode(t, &fs)
	if len(fs.Node.Fulfillments) != 2 || fs.Node.Fulfillments[0].ID != first || fs.Node.Fulfillments[1].ID != s.Split.ID {
		t.Fatalf("the buyer sees fulfilments %+v", fs.Node.Fulfillments)
	}

	// The part is handed over on its own pass; the rest waits.
	if r := collect(t, e, e.StaffToken, *s.Split.PickupPass, "c1"); r.Code() != "" {
		t.Fatalf("collecting the part: %+v", r.Errors)
	}
	if st := orderPickup(t, e, tok, orderID).Node.Fulfillment.Status; st != "UNFULFILLED" {
		t.Fatalf("the rest became %s when the part was collected", st)
	}
	if r := e.Do(t, e.StaffToken, splitMutation, splitVars(s.Split.ID, lineID, 1, "collected")); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("a collected part was split: %+v", r)
	}
	// Only what reached the buyer can come back.
	if r := requestReturn(t, e, tok, orderID, lineID, 2, "ret2"); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("returned 2 units when 1 was handed over: %+v", r)
	}
	if r := requestReturn(t, e, tok, orderID, lineID, 1, "ret1"); r.Code() != "" {
		t.Fatalf("returning the unit handed over: %+v", r.Errors)
	}
}

// TestRace_splitFulfillment: one key → one split everyone sees; a key
// each → the fulfilment keeps at least one unit and the units in all parts
// stay those bought; a split racing a handover either splits before it or
// is refused after it.
func TestRace_splitFulfillment(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			ctx := viewer.SystemContext(context.Background())
			v := newVariant(t, e, 40, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@race-split.example")
			order := func(key string) (fid, lineID, pass string) {
				co := buy(t, e, tok, v, 3, key)
				deliver(t, e, "evt_"+key, "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
				p := orderPickup(t, e, tok, co.Checkout.Order.ID)
				return p.Node.Fulfillment.ID, orderLines(t, e, tok, co.Checkout.Order.ID)[0].ID, *p.Node.PickupPass
			}

			fid, lineID, _ := order("same")
			allSame(t, raceAll(raceN, func(int) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, splitMutation, splitVars(fid, lineID, 1, "one"))
			}))
			if n := e.Client.Fulfillment.Query().Where(fulfillment.SplitFrom(decodeID(t, fid))).CountX(ctx); n != 1 {
				t.Fatalf("%d parts after %d calls with one key, want 1", n, raceN)
			}

			fid, lineID, _ = order("each")
			rs := raceAll(raceN, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, splitMutation, splitVars(fid, lineID, 1, fmt.Sprint("each-", i)))
			})
			if got := codeCounts(rs); got[""] != 2 || got["BAD_USER_INPUT"] != raceN-2 {
				t.Fatalf("outcomes %v, want 2 splits (3 units, one kept) and %d BAD_USER_INPUT", got, raceN-2)
			}
			if n := unitsIn(t, e, lineID); n != 3 {
				t.Fatalf("the parts carry %d units of 3 bought", n)
			}

			for i := range 4 {
				fid, lineID, pass := order(fmt.Sprint("vs-", i))
				rs := raceAll(2, func(j int) graphtest.Response {
					if j == 0 {
						return postWith(t, c, e.URL, e.StaffToken, collectMutation,
							map[string]any{"i": map[string]any{"code": pass, "idempotencyKey": fmt.Sprint("vs-collect-", i)}})
					}
					return postWith(t, c, e.URL, e.StaffToken, splitMutation, splitVars(fid, lineID, 1, fmt.Sprint("vs-split-", i)))
				})
				if rs[0].Code() != "" {
					t.Fatalf("the handover failed: %+v", rs[0].Errors)
				}
				kept := e.Client.FulfillmentLine.Query().Where(fulfillmentline.FulfillmentID(decodeID(t, fid))).
					Aggregate(ent.Sum(fulfillmentline.FieldQuantity)).IntX(ctx)
				switch rs[1].Code() {
				case "": // split first: the handover took the 2 units left
					if kept != 2 {
						t.Fatalf("split before the handover, and the collected part holds %d units, want 2", kept)
					}
				case "BAD_USER_INPUT": // handed over first: nothing split
					if kept != 3 {
						t.Fatalf("split refused, and the collected part holds %d units, want 3", kept)
					}
				default:
					t.Fatalf("split racing a handover: %+v", rs[1])
				}
				if n := unitsIn(t, e, lineID); n != 3 {
					t.Fatalf("the parts carry %d units of 3 bought", n)
				}
			}
		})
	}
}

const splitLabelMutation = `mutation($i: PrintFulfillmentLabelInput!) { printFulfillmentLabel(input: $i) { returnQr } }`

func returnQROfLabel(t *testing.T, e *graphtest.Env, fid, key string) string {
	t.Helper()
	var out struct{ PrintFulfillmentLabel struct{ ReturnQR *string } }
	e.Do(t, e.StaffToken, splitLabelMutation, map[string]any{"i": map[string]any{"fulfillmentId": fid, "packagingVariant": "mailer-M",
		"format": "ZPL", "idempotencyKey": key}}).Decode(t, &out)
	if out.PrintFulfillmentLabel.ReturnQR == nil {
		t.Fatal("the label has no return QR")
	}
	return *out.PrintFulfillmentLabel.ReturnQR
}

// TestSplitPartLabelReturnsItsOwnUnits: each part of a split order has its
// own label, and its return QR brings back that parcel's units once — not
// the other parcel's (an independent attack found a 1-unit part's label
// taken in three times, bringing back the whole line).
func TestSplitPartLabelReturnsItsOwnUnits(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 20, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@split-label.example")
			co := buy(t, e, tok, v, 3, "sl")
			deliver(t, e, "evt_sl", "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
			orderID := co.Checkout.Order.ID
			lineID := orderLines(t, e, tok, orderID)[0].ID
			p := orderPickup(t, e, tok, orderID)
			var out splitView
			e.Do(t, e.StaffToken, splitMutation, splitVars(p.Node.Fulfillment.ID, lineID, 1, "s1")).Decode(t, &out)
			child := out.SplitFulfillment.Split
			childQR := returnQROfLabel(t, e, child.ID, "label-child")
			parentQR := returnQROfLabel(t, e, p.Node.Fulfillment.ID, "label-parent")
			for _, pass := range []string{*p.Node.PickupPass, *child.PickupPass} {
				if r := collect(t, e, e.StaffToken, pass, "c-"+pass[len(pass)-6:]); r.Code() != "" {
					t.Fatal(r.Errors)
				}
			}
			if r := receive(t, e, e.StaffToken, childQR, "r1"); r.Code() != "" {
				t.Fatalf("the part's label at drop-off: %+v", r.Errors)
			}
			for _, key := range []string{"r2", "r3"} {
				if r := receive(t, e, e.StaffToken, childQR, key); r.Code() != "ALREADY_RECEIVED" {
					t.Fatalf("the 1-unit part's label scanned again: %q, want ALREADY_RECEIVED", r.Code())
				}
			}
			if l := orderLines(t, e, tok, orderID)[0]; l.ReturnedQuantity != 1 {
				t.Fatalf("a 1-unit parcel's label brought back %d units", l.ReturnedQuantity)
			}
			if r := receive(t, e, e.StaffToken, parentQR, "r4"); r.Code() != "" {
				t.Fatalf("the other parcel's label at drop-off: %+v", r.Errors)
			}
			if l := orderLines(t, e, tok, orderID)[0]; l.ReturnedQuantity != 3 {
				t.Fatalf("both parcels back, and %d units returned, want 3", l.ReturnedQuantity)
			}
		})
	}
}
