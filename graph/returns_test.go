package graph_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/walletentry"
	"github.com/merchd/merchd/graph/graphtest"
)

const (
	requestReturnMutation = `mutation($i: RequestReturnInput!) { requestReturn(input: $i) { return {
		id status code qr units amount { amount currency } refundMode lines { id } } } }`
	cancelReturnMutation  = `mutation($i: CancelReturnInput!) { cancelReturn(input: $i) { return { id status canceledAt } } }`
	receiveReturnMutation = `mutation($i: ReceiveReturnInput!) { receiveReturn(input: $i) { return {
		id status receivedAt refunded { amount } } } }`
	gradeMutation = `mutation($i: GradeReturnLineInput!) { gradeReturnLine(input: $i) { line { id grade gradedAt
		orderReturn { id status gradedUnits refunded { amount } } } } }`
)

// returnView is what the API answers about a return.
type returnView struct {
	ID, Status, Code, RefundMode string
	QR                           *string
	Units                        int
	Amount                       struct {
		Amount   int
		Currency string
	}
	Lines []struct{ ID string }
}

// collected is a card order of quantity units of v, paid and handed over
// at the counter; it returns the order and its one line.
func collected(t testing.TB, e *graphtest.Env, tok, v string, quantity int, key string) (orderID, lineID string) {
	t.Helper()
	co := buy(t, e, tok, v, quantity, key)
	deliver(t, e, "evt_"+key, "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
	p := orderPickup(t, e, tok, co.Checkout.Order.ID)
	if r := collect(t, e, e.StaffToken, *p.Node.PickupPass, key+"-collect"); r.Code() != "" {
		t.Fatalf("collect: %+v", r.Errors)
	}
	return co.Checkout.Order.ID, orderLines(t, e, tok, co.Checkout.Order.ID)[0].ID
}

type lineView struct {
	ID                                           string
	Quantity, RefundedQuantity, ReturnedQuantity int
}

func orderLines(t testing.TB, e *graphtest.Env, tok, orderID string) []lineView {
	t.Helper()
	var out struct{ Node struct{ Lines []lineView } }
	e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Order { lines { id quantity refundedQuantity returnedQuantity } } } }`,
		map[string]any{"id": orderID}).Decode(t, &out)
	return out.Node.Lines
}

func requestReturn(t testing.TB, e *graphtest.Env, tok, orderID, lineID string, quantity int, key string) graphtest.Response {
	t.Helper()
	return e.Do(t, tok, requestReturnMutation, requestVars(orderID, lineID, quantity, key))
}

func requestVars(orderID, lineID string, quantity int, key string) map[string]any {
	return map[string]any{"i": map[string]any{"orderId": orderID, "reason": "DOES_NOT_FIT", "reasonText": "too small",
		"lines": []map[string]any{{"orderLineId": lineID, "quantity": quantity}}, "idempotencyKey": key}}
}

func requested(t testing.TB, e *graphtest.Env, tok, orderID, lineID string, quantity int, key string) returnView {
	t.Helper()
	var out struct{ RequestReturn struct{ Return returnView } }
	requestReturn(t, e, tok, orderID, lineID, quantity, key).Decode(t, &out)
	return out.RequestReturn.Return
}

func centralID(e *graphtest.Env) string { return gid.Encode(e.Catalog.LocationID()) }

func receiveVars(code, locationID, key string) map[string]any {
	return map[string]any{"i": map[string]any{"code": code, "locationId": locationID, "idempotencyKey": key}}
}

func receive(t testing.TB, e *graphtest.Env, tok, code, key string) graphtest.Response {
	t.Helper()
	return e.Do(t, tok, receiveReturnMutation, receiveVars(code, centralID(e), key))
}

func gradeVars(lineID, grade, locationID, key string) map[string]any {
	return map[string]any{"i": map[string]any{"lineId": lineID, "grade": grade, "locationId": locationID, "idempotencyKey": key}}
}

type gradedView struct {
	GradeReturnLine struct {
		Line struct {
			ID, Grade   string
			OrderReturn struct {
				Status      string
				GradedUnits int
				Refunded    struct{ Amount int }
			}
		}
	}
}

func grade(t testing.TB, e *graphtest.Env, lineID, g, key string) graphtest.Response {
	t.Helper()
	return e.Do(t, e.StaffToken, gradeMutation, gradeVars(lineID, g, centralID(e), key))
}

func returnStatus(t testing.TB, e *graphtest.Env, tok, id string) (status string, refunded int) {
	t.Helper()
	var out struct {
		Node struct {
			Status   string
			Refunded struct{ Amount int }
		}
	}
	e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Return { status refunded { amount } } } }`,
		map[string]any{"id": id}).Decode(t, &out)
	return out.Node.Status, out.Node.Refunded.Amount
}

func setPolicy(t testing.TB, e *graphtest.Env, days int, refund string) {
	t.Helper()
	e.Staff(t, `mutation($i: SetReturnPolicyInput!) { setReturnPolicy(input: $i) { policy { windowDays refund } } }`,
		map[string]any{"i": map[string]any{"windowDays": days, "refund": refund}}, &struct{}{})
}

func refundEntries(t testing.TB, e *graphtest.Env) int {
	t.Helper()
	return e.Client.WalletEntry.Query().Where(walletentry.KindEQ(walletentry.KindREFUND)).CountX(viewer.SystemContext(context.Background()))
}

// recorder is an Outbox that keeps the events of committed transactions,
// in the order they were recorded.
type recorder struct {
	mu      sync.Mutex
	pending map[*ent.Tx][]checkout.Event
	events  []checkout.Event
}

func (r *recorder) Record(_ context.Context, tx *ent.Tx, ev checkout.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[*ent.Tx][]checkout.Event{}
	}
	if _, hooked := r.pending[tx]; !hooked {
		tx.OnCommit(func(next ent.Committer) ent.Committer {
			return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
				err := next.Commit(ctx, tx)
				r.mu.Lock()
				defer r.mu.Unlock()
				if err == nil {
					r.events = append(r.events, r.pending[tx]...)
				}
				delete(r.pending, tx)
				return err
			})
		})
		tx.OnRollback(func(next ent.Rollbacker) ent.Rollbacker {
			return ent.RollbackFunc(func(ctx context.Context, tx *ent.Tx) error {
				r.mu.Lock()
				delete(r.pending, tx)
				r.mu.Unlock()
				return next.Rollback(ctx, tx)
			})
		})
	}
	r.pending[tx] = append(r.pending[tx], ev)
	return nil
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		out = append(out, ev.Type)
	}
	return out
}

// TestReturnWalletOnDropoff is the whole way of a return refunded as
// wallet credit: the buyer asks for 2 of 3 units back and gets a QR and a
// code; a clerk scans it in and the wallet is credited at once, once; the
// inspection lane grades each unit, the resellable one back into stock,
// and the return ends REFUNDED. Each step records its event.
func TestReturnWalletOnDropoff(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			rec := &recorder{}
			e.Returns.SetOutbox(rec)
			v := newVariant(t, e, 10, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@returns.example")
			other, _ := e.SignUp(t, "other@returns.example")
			orderID, lineID := collected(t, e, tok, v, 3, "o1")
			if got := stockOf(t, e, v); got != 7 {
				t.Fatalf("stock %d after selling 3 of 10", got)
			}

			// Another buyer can neither return nor see this order.
			wantCode(t, requestReturn(t, e, other, orderID, lineID, 1, "steal"), "NOT_FOUND")
			wantCode(t, requestReturn(t, e, tok, orderID, lineID, 4, "too-many"), "BAD_USER_INPUT")
			wantCode(t, requestReturn(t, e, tok, orderID, lineID, 0, "zero"), "BAD_USER_INPUT")

			r := requested(t, e, tok, orderID, lineID, 2, "ret-1")
			if r.Status != "REQUESTED" || r.Units != 2 || len(r.Lines) != 2 || r.Amount.Amount != 3000 || r.RefundMode != "WALLET_ON_DROPOFF" {
				t.Fatalf("return %+v", r)
			}
			if r.QR == nil || !strings.HasPrefix(*r.QR, "M1.") || len(r.Code) != 6 {
				t.Fatalf("qr %v, code %q", r.QR, r.Code)
			}
			if l := orderLines(t, e, tok, orderID)[0]; l.ReturnedQuantity != 2 || l.RefundedQuantity != 0 {
				t.Fatalf("line after the request: %+v", l)
			}
			// The same key is the same return; one unit is left to return.
			if again := requested(t, e, tok, orderID, lineID, 2, "ret-1"); again.ID != r.ID {
				t.Fatalf("replay made return %s, first %s", again.ID, r.ID)
			}
			wantCode(t, requestReturn(t, e, tok, orderID, lineID, 2, "ret-2"), "BAD_USER_INPUT")
			wantCode(t, e.Do(t, other, `query($id: ID!) { node(id: $id) { ... on Return { code qr } } }`, map[string]any{"id": r.ID}), "NOT_FOUND")
			var mine struct {
				Node struct{ Returns []struct{ ID, Code string } }
			}
			e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Order { returns { id code } } } }`, map[string]any{"id": orderID}).Decode(t, &mine)
			if len(mine.Node.Returns) != 1 || mine.Node.Returns[0].ID != r.ID || mine.Node.Returns[0].Code != r.Code {
				t.Fatalf("Order.returns %+v", mine.Node.Returns)
			}

			// Only staff or a hub scan returns in; a forged QR is refused;
			// a hub's token receives at its own hub only.
			wantCode(t, receive(t, e, tok, *r.QR, "self"), "FORBIDDEN")
			wantCode(t, receive(t, e, e.StaffToken, (*r.QR)[:len(*r.QR)-4]+"AAAA", "forged"), "BAD_USER_INPUT")
			wantCode(t, receive(t, e, e.StaffToken, "ZZZZZZ", "unknown"), "BAD_USER_INPUT")
			wantCode(t, receive(t, e, hubToken(t, e, "fest"), *r.QR, "hub-at-central"), "FORBIDDEN")
			if b := balance(t, e, tok); b != 0 {
				t.Fatalf("balance %d before drop-off", b)
			}

			var got struct {
				ReceiveReturn struct {
					Return struct {
						Status     string
						ReceivedAt *time.Time
						Refunded   struct{ Amount int }
					}
				}
			}
			receive(t, e, e.StaffToken, *r.QR, "scan-1").Decode(t, &got)
			if got.ReceiveReturn.Return.Status != "RECEIVED" || got.ReceiveReturn.Return.ReceivedAt == nil || got.ReceiveReturn.Return.Refunded.Amount != 3000 {
				t.Fatalf("received: %+v", got.ReceiveReturn.Return)
			}
			if b := balance(t, e, tok); b != 3000 {
				t.Fatalf("balance %d after drop-off, want 3000 (instant credit)", b)
			}
			if r := receive(t, e, e.StaffToken, *r.QR, "scan-1"); r.Code() != "" {
				t.Fatalf("replay: %+v", r.Errors)
			}
			wantCode(t, receive(t, e, e.StaffToken, *r.QR, "scan-2"), "ALREADY_RECEIVED")
			wantCode(t, receive(t, e, e.StaffToken, strings.ToLower(r.Code[:3])+"-"+r.Code[3:], "scan-3"), "ALREADY_RECEIVED")
			if b, n := balance(t, e, tok), refundEntries(t, e); b != 3000 || n != 1 {
				t.Fatalf("balance %d with %d refund entries after 4 scans, want 3000 and 1", b, n)
			}
			wantCode(t, e.Do(t, tok, cancelReturnMutation, map[string]any{"i": map[string]any{"returnId": r.ID, "idempotencyKey": "late"}}), "BAD_USER_INPUT")
			if st, _ := orderStatus(t, e, tok, orderID); st != "PARTIALLY_REFUNDED" {
				t.Fatalf("order %s after refunding 2 of 3 units", st)
			}

			// The inspection lane.
			lane := func() []string {
				var out struct {
					Returns struct {
						Edges []struct{ Node struct{ ID string } }
					}
				}
				e.Staff(t, `{ returns(status: RECEIVED, first: 10) { edges { node { id } } } }`, nil, &out)
				var ids []string
				for _, ed := range out.Returns.Edges {
					ids = append(ids, ed.Node.ID)
				}
				return ids
			}
			if ids := lane(); len(ids) != 1 || ids[0] != r.ID {
				t.Fatalf("lane %v, want [%s]", ids, r.ID)
			}
			wantCode(t, e.Do(t, tok, `{ returns(status: RECEIVED, first: 10) { edges { node { id } } } }`, nil), "FORBIDDEN")
			wantCode(t, e.Do(t, tok, gradeMutation, gradeVars(r.Lines[0].ID, "RESELLABLE", centralID(e), "g-self")), "FORBIDDEN")

			var g gradedView
			grade(t, e, r.Lines[0].ID, "RESELLABLE", "g1").Decode(t, &g)
			if l := g.GradeReturnLine.Line; l.Grade != "RESELLABLE" || l.OrderReturn.Status != "RECEIVED" || l.OrderReturn.GradedUnits != 1 {
				t.Fatalf("graded: %+v", l)
			}
			if got := stockOf(t, e, v); got != 8 {
				t.Fatalf("stock %d after one resellable unit, want 8", got)
			}
			// Grading a unit twice: the replay is the first answer, another
			// verdict is refused; the stock moved once.
			if r := grade(t, e, r.Lines[0].ID, "RESELLABLE", "g1"); r.Code() != "" {
				t.Fatalf("replay: %+v", r.Errors)
			}
			wantCode(t, grade(t, e, r.Lines[0].ID, "DISPOSE", "g1-again"), "BAD_USER_INPUT")
			if got := stockOf(t, e, v); got != 8 {
				t.Fatalf("stock %d after grading one unit twice, want 8", got)
			}
			grade(t, e, r.Lines[1].ID, "DISPOSE", "g2").Decode(t, &g)
			if l := g.GradeReturnLine.Line; l.OrderReturn.Status != "REFUNDED" || l.OrderReturn.GradedUnits != 2 || l.OrderReturn.Refunded.Amount != 3000 {
				t.Fatalf("last grade: %+v", l)
			}
			if got := stockOf(t, e, v); got != 8 {
				t.Fatalf("stock %d: a disposed unit went back into stock", got)
			}
			if ids := lane(); len(ids) != 0 {
				t.Fatalf("lane %v after inspection, want empty", ids)
			}
			if got, want := strings.Join(rec.types(), ","), "return.requested,return.received,refund.issued"; got != want {
				t.Fatalf("events %s, want %s", got, want)
			}
		})
	}
}

// TestReturnCardAfterInspection: with CARD_AFTER_INSPECTION nothing moves
// at drop-off; the last grade refunds the card (sent after commit). If
// Stripe refuses, the return waits INSPECTED, and the sweeper's retry
// settles it REFUNDED.
func TestReturnCardAfterInspection(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	setPolicy(t, e, 30, "CARD_AFTER_INSPECTION")
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "card@returns.example")

	co := buy(t, e, tok, v, 2, "c1")
	pi := *co.Checkout.PaymentIntentID
	deliver(t, e, "evt_c1", "payment_intent.succeeded", pi)
	p := orderPickup(t, e, tok, co.Checkout.Order.ID)
	collect(t, e, e.StaffToken, *p.Node.PickupPass, "c1-collect")
	orderID, lineID := co.Checkout.Order.ID, orderLines(t, e, tok, co.Checkout.Order.ID)[0].ID

	r := requested(t, e, tok, orderID, lineID, 1, "r1")
	if r.RefundMode != "CARD_AFTER_INSPECTION" {
		t.Fatalf("mode %s", r.RefundMode)
	}
	receive(t, e, e.StaffToken, r.Code, "s1").Decode(t, &struct{}{})
	if b := balance(t, e, tok); b != 0 || e.Stripe.Refunds(pi) != 0 {
		t.Fatalf("money moved at drop-off: wallet %d, card %d", b, e.Stripe.Refunds(pi))
	}
	var g gradedView
	grade(t, e, r.Lines[0].ID, "NEEDS_REPACK", "g1").Decode(t, &g)
	if st := g.GradeReturnLine.Line.OrderReturn.Status; st != "REFUNDED" || e.Stripe.Refunds(pi) != 1500 {
		t.Fatalf("status %s, card refunded %d; want REFUNDED and 1500", st, e.Stripe.Refunds(pi))
	}
	if got := stockOf(t, e, v); got != 8 {
		t.Fatalf("stock %d: a unit needing repack went back into stock", got)
	}

	// Stripe refuses the second one for now.
	e.Stripe.RefundFn = func(string, int64) error { return fmt.Errorf("stripe is down") }
	r2 := requested(t, e, tok, orderID, lineID, 1, "r2")
	receive(t, e, e.StaffToken, r2.Code, "s2").Decode(t, &struct{}{})
	grade(t, e, r2.Lines[0].ID, "RESELLABLE", "g2").Decode(t, &g)
	if st := g.GradeReturnLine.Line.OrderReturn.Status; st != "INSPECTED" || e.Stripe.Refunds(pi) != 1500 {
		t.Fatalf("status %s, card refunded %d while Stripe is down; want INSPECTED and 1500", st, e.Stripe.Refunds(pi))
	}
	e.Stripe.RefundFn = nil
	e.Clock.Advance(5 * time.Minute)
	graphtest.Must(t, func() error { _, err := e.Sweep(context.Background()); return err }())
	if st, refunded := returnStatus(t, e, tok, r2.ID); st != "REFUNDED" || refunded != 1500 || e.Stripe.Refunds(pi) != 3000 {
		t.Fatalf("after the retry: %s, return refunded %d, card %d; want REFUNDED, 1500, 3000", st, refunded, e.Stripe.Refunds(pi))
	}
	if st, _ := orderStatus(t, e, tok, orderID); st != "REFUNDED" {
		t.Fatalf("order %s after both units came back", st)
	}
}

// TestReturnWindow: a return is asked for after the order reached the
// buyer and within the window.
func TestReturnWindow(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "late@returns.example")

	// Paid, not yet handed over.
	co := buy(t, e, tok, v, 1, "w0")
	deliver(t, e, "evt_w0", "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
	wantCode(t, requestReturn(t, e, tok, co.Checkout.Order.ID, orderLines(t, e, tok, co.Checkout.Order.ID)[0].ID, 1, "early"), "BAD_USER_INPUT")

	var pol struct{ ReturnPolicy struct{ WindowDays int } }
	e.Do(t, tok, `{ returnPolicy { windowDays refund } }`, nil).Decode(t, &pol)
	if pol.ReturnPolicy.WindowDays != 30 {
		t.Fatalf("default window %d days", pol.ReturnPolicy.WindowDays)
	}
	wantCode(t, e.Do(t, tok, `mutation { setReturnPolicy(input: {windowDays: 1, refund: WALLET_ON_DROPOFF}) { policy { windowDays } } }`, nil), "FORBIDDEN")
	wantCode(t, e.Do(t, e.StaffToken, `mutation { setReturnPolicy(input: {windowDays: 0, refund: WALLET_ON_DROPOFF}) { policy { windowDays } } }`, nil), "BAD_USER_INPUT")
	setPolicy(t, e, 2, "WALLET_ON_DROPOFF")

	orderID, lineID := collected(t, e, tok, v, 2, "w1")
	e.Clock.Advance(47 * time.Hour)
	requested(t, e, tok, orderID, lineID, 1, "in-time")
	e.Clock.Advance(2 * time.Hour)
	r := requestReturn(t, e, tok, orderID, lineID, 1, "too-late")
	wantCode(t, r, "BAD_USER_INPUT")
	if !strings.Contains(r.Errors[0].Message, "return window") {
		t.Fatalf("refusal %q does not name the window", r.Errors[0].Message)
	}
}

// TestReturnCancel: a return withdrawn before drop-off gives its units
// back to the order (they can be asked back again), once; a canceled
// return cannot be dropped off.
func TestReturnCancel(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "undecided@returns.example")
	other, _ := e.SignUp(t, "nosy@returns.example")
	orderID, lineID := collected(t, e, tok, v, 2, "k1")
	r := requested(t, e, tok, orderID, lineID, 2, "r1")
	cancel := func(tok, key string) graphtest.Response {
		return e.Do(t, tok, cancelReturnMutation, map[string]any{"i": map[string]any{"returnId": r.ID, "idempotencyKey": key}})
	}
	wantCode(t, cancel(other, "x"), "NOT_FOUND")
	var out struct {
		CancelReturn struct{ Return struct{ Status string } }
	}
	cancel(tok, "c1").Decode(t, &out)
	if out.CancelReturn.Return.Status != "CANCELED" {
		t.Fatalf("status %s", out.CancelReturn.Return.Status)
	}
	wantCode(t, cancel(tok, "c2"), "BAD_USER_INPUT")
	if l := orderLines(t, e, tok, orderID)[0]; l.ReturnedQuantity != 0 {
		t.Fatalf("returned %d after the cancel", l.ReturnedQuantity)
	}
	wantCode(t, receive(t, e, e.StaffToken, r.Code, "s1"), "BAD_USER_INPUT")
	if again := requested(t, e, tok, orderID, lineID, 2, "r2"); again.Status != "REQUESTED" {
		t.Fatalf("asking back the units of a canceled return: %+v", again)
	}
}

// TestReturnRates: returns per packaging variant over the fulfilments
// that reached their buyers.
func TestReturnRates(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 20, 1500, "EUR")
	tok, _ := e.SignUp(t, "rates@returns.example")
	ctx := viewer.SystemContext(context.Background())
	pack := func(orderID, variant string) {
		id, err := gid.Decode(orderID)
		graphtest.Must(t, err)
		// The label work records the packaging; here the test does.
		graphtest.Must(t, e.Client.Fulfillment.Update().Where(fulfillment.OrderID(id)).SetPackagingVariant(variant).Exec(ctx))
	}
	var orders [4]string
	var lines [4]string
	for i, p := range []string{"mailer-a", "mailer-a", "box-b", ""} {
		co := buy(t, e, tok, v, 2, fmt.Sprint("p", i))
		deliver(t, e, fmt.Sprint("evt_p", i), "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
		if p != "" {
			pack(co.Checkout.Order.ID, p)
		}
		collect(t, e, e.StaffToken, *orderPickup(t, e, tok, co.Checkout.Order.ID).Node.PickupPass, fmt.Sprint("p", i, "-collect"))
		orders[i], lines[i] = co.Checkout.Order.ID, orderLines(t, e, tok, co.Checkout.Order.ID)[0].ID
	}
	// A paid order not yet handed over counts for nothing.
	buy(t, e, tok, v, 1, "not-yet")
	requested(t, e, tok, orders[0], lines[0], 1, "ra1")
	requested(t, e, tok, orders[0], lines[0], 1, "ra2")
	requested(t, e, tok, orders[3], lines[3], 2, "rn")
	c := requested(t, e, tok, orders[2], lines[2], 1, "rb")
	e.Do(t, tok, cancelReturnMutation, map[string]any{"i": map[string]any{"returnId": c.ID, "idempotencyKey": "cb"}}).Decode(t, &struct{}{})

	type rate struct {
		PackagingVariant                             *string
		Fulfillments, Returns, ReturnedOrders, Units int
		Rate                                         float64
	}
	var out struct{ ReturnRates []rate }
	q := `{ returnRates { packagingVariant fulfillments returns returnedOrders units rate } }`
	wantCode(t, e.Do(t, tok, q, nil), "FORBIDDEN")
	e.Staff(t, q, nil, &out)
	got := map[string]rate{}
	for _, r := range out.ReturnRates {
		k := "-"
		if r.PackagingVariant != nil {
			k = *r.PackagingVariant
		}
		got[k] = r
	}
	want := map[string]rate{
		"mailer-a": {Fulfillments: 2, Returns: 2, ReturnedOrders: 1, Units: 2, Rate: 0.5},
		"box-b":    {Fulfillments: 1, Rate: 0},
		"-":        {Fulfillments: 1, Returns: 1, ReturnedOrders: 1, Units: 2, Rate: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("rates %+v", out.ReturnRates)
	}
	for k, w := range want {
		g := got[k]
		g.PackagingVariant = nil
		if g != w {
			t.Errorf("%s: %+v, want %+v", k, g, w)
		}
	}
	if v := out.ReturnRates[len(out.ReturnRates)-1].PackagingVariant; v != nil {
		t.Errorf("the unnamed variant is not last: %v", *v)
	}
}

// TestReturnAtHub: a hub's token receives a return at its own hub, with
// the time it scanned it (a replay from its outbox), exactly once.
func TestReturnAtHub(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "hubreturn@returns.example")
	orderID, lineID := collected(t, e, tok, v, 1, "h1")
	r := requested(t, e, tok, orderID, lineID, 1, "r1")
	ctx := viewer.SystemContext(context.Background())
	hub := e.Client.Location.Create().SetCode("fest").SetName("Fest").SetKind(location.KindHUB).SaveX(ctx)
	hubTok := hubToken(t, e, "fest")
	scanned := e.Clock.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	vars := receiveVars(*r.QR, gid.Encode(hub.ID), "hub-outbox-17")
	vars["i"].(map[string]any)["scannedAt"] = scanned
	for range 2 { // the outbox delivers twice
		var out struct {
			ReceiveReturn struct{ Return struct{ Status string } }
		}
		e.Do(t, hubTok, `mutation($i: ReceiveReturnInput!) { receiveReturn(input: $i) { return { status } } }`, vars).Decode(t, &out)
		if out.ReceiveReturn.Return.Status != "RECEIVED" {
			t.Fatalf("status %s", out.ReceiveReturn.Return.Status)
		}
	}
	id, _ := gid.Decode(r.ID)
	got := e.Client.OrderReturn.GetX(ctx, id)
	if got.ReceivedAt == nil || !got.ReceivedAt.Equal(scanned) || got.ReceivedLocationID == nil || *got.ReceivedLocationID != hub.ID || got.ReceivedBy != "hub:fest" {
		t.Fatalf("received at %v, location %v, by %q", got.ReceivedAt, got.ReceivedLocationID, got.ReceivedBy)
	}
	if b, n := balance(t, e, tok), refundEntries(t, e); b != 1500 || n != 1 {
		t.Fatalf("balance %d, %d refund entries; want 1500 and 1", b, n)
	}
	future := receiveVars(r.Code, gid.Encode(hub.ID), "hub-outbox-18")
	future["i"].(map[string]any)["scannedAt"] = e.Clock.Now().Add(time.Hour)
	wantCode(t, e.Do(t, hubTok, receiveReturnMutation, future), "BAD_USER_INPUT")
}
