package graph_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/merchd/merchd/ent/orderreturn"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestRace_requestReturn: one key → one return everyone sees; a key each,
// one unit each, on a line of 3 → 3 returns, the rest refused, and never
// more units in returns than were bought.
func TestRace_requestReturn(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 20, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@race-returns.example")
			ctx := viewer.SystemContext(context.Background())

			orderID, lineID := collected(t, e, tok, v, 3, "same")
			allSame(t, raceAll(raceN, func(int) graphtest.Response {
				return postWith(t, c, e.URL, tok, requestReturnMutation, requestVars(orderID, lineID, 2, "ask"))
			}))
			if n := e.Client.OrderReturn.Query().CountX(ctx); n != 1 {
				t.Fatalf("%d returns after %d calls with one key, want 1", n, raceN)
			}
			if l := orderLines(t, e, tok, orderID)[0]; l.ReturnedQuantity != 2 {
				t.Fatalf("returned %d, want 2", l.ReturnedQuantity)
			}

			orderID, lineID = collected(t, e, tok, v, 3, "each")
			rs := raceAll(raceN, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, tok, requestReturnMutation, requestVars(orderID, lineID, 1, fmt.Sprint("ask-", i)))
			})
			if got := codeCounts(rs); got[""] != 3 || got["BAD_USER_INPUT"] != raceN-3 {
				t.Fatalf("outcomes %v, want 3 returns and %d BAD_USER_INPUT", got, raceN-3)
			}
			if l := orderLines(t, e, tok, orderID)[0]; l.ReturnedQuantity != 3 {
				t.Fatalf("returned %d of 3 bought, want 3", l.ReturnedQuantity)
			}
		})
	}
}

// TestRace_cancelReturn: a return canceled by many calls at once gives its
// units back once.
func TestRace_cancelReturn(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 20, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@race-cancel.example")
			orderID, lineID := collected(t, e, tok, v, 3, "o")
			do := func(id, key string) graphtest.Response {
				return postWith(t, c, e.URL, tok, cancelReturnMutation, map[string]any{"i": map[string]any{"returnId": id, "idempotencyKey": key}})
			}

			one := requested(t, e, tok, orderID, lineID, 2, "r1")
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return do(one.ID, "cancel") }))
			if l := orderLines(t, e, tok, orderID)[0]; l.ReturnedQuantity != 0 {
				t.Fatalf("returned %d after one cancel, want 0", l.ReturnedQuantity)
			}

			each := requested(t, e, tok, orderID, lineID, 2, "r2")
			requested(t, e, tok, orderID, lineID, 1, "r3") // stays
			rs := raceAll(raceN, func(i int) graphtest.Response { return do(each.ID, fmt.Sprint("cancel-", i)) })
			if got := codeCounts(rs); got[""] != 1 || got["BAD_USER_INPUT"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 cancel and %d BAD_USER_INPUT", got, raceN-1)
			}
			if l := orderLines(t, e, tok, orderID)[0]; l.ReturnedQuantity != 1 {
				t.Fatalf("returned %d, want 1 (the other return's unit; the canceled one's given back once)", l.ReturnedQuantity)
			}
		})
	}
}

// TestRace_receiveReturn: concurrent drop-off scans of one return. One
// clerk's retries with one key all see the first answer; 8 clerks, each
// with their own token and key, make one RECEIVED and 7 ALREADY_RECEIVED,
// and the wallet is credited once.
func TestRace_receiveReturn(t *testing.T) {
	const clerks = 8
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 20, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@race-dropoff.example")
			orderID, lineID := collected(t, e, tok, v, 2, "o")
			do := func(staff, code, key string) graphtest.Response {
				return postWith(t, c, e.URL, staff, receiveReturnMutation, receiveVars(code, centralID(e), key))
			}

			one := requested(t, e, tok, orderID, lineID, 1, "r1")
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return do(e.StaffToken, *one.QR, "scan") }))
			if b, n := balance(t, e, tok), refundEntries(t, e); b != 1500 || n != 1 {
				t.Fatalf("balance %d, %d refund entries after one key; want 1500 and 1", b, n)
			}

			toks := make([]string, clerks)
			for i := range toks {
				var err error
				toks[i], err = e.Accounts.CreateStaffToken(context.Background(), fmt.Sprintf("clerk%d@example.com", i), "Clerk", "counter")
				graphtest.Must(t, err)
			}
			each := requested(t, e, tok, orderID, lineID, 1, "r2")
			rs := raceAll(clerks, func(i int) graphtest.Response {
				code := *each.QR
				if i%2 == 1 {
					code = each.Code // half scan, half type
				}
				return do(toks[i], code, "scan") // one key string, but each clerk's own
			})
			if got := codeCounts(rs); got[""] != 1 || got["ALREADY_RECEIVED"] != clerks-1 {
				t.Fatalf("outcomes %v, want 1 RECEIVED and %d ALREADY_RECEIVED", got, clerks-1)
			}
			if b, n := balance(t, e, tok), refundEntries(t, e); b != 3000 || n != 2 {
				t.Fatalf("balance %d, %d refund entries after %d clerks; want 3000 and 2 (one credit per return)", b, n, clerks)
			}
		})
	}
}

// TestRace_gradeReturnLine: a unit graded by many calls at once goes back
// into stock once; the last grades of one return, made at once, inspect
// and refund it once.
func TestRace_gradeReturnLine(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			setPolicy(t, e, 30, "CARD_AFTER_INSPECTION")
			c := raceClient()
			v := newVariant(t, e, 40, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@race-grade.example")
			ctx := viewer.SystemContext(context.Background())
			do := func(lineID, key string) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, gradeMutation, gradeVars(lineID, "RESELLABLE", centralID(e), key))
			}
			received := func(units int, key string) returnView {
				orderID, lineID := collected(t, e, tok, v, units, key)
				r := requested(t, e, tok, orderID, lineID, units, key+"-ask")
				receive(t, e, e.StaffToken, r.Code, key+"-scan").Decode(t, &struct{}{})
				return r
			}

			// A third unit stays ungraded, so the return stays RECEIVED and
			// only the unit's own guard stops a second grade.
			r := received(3, "a")
			before := stockOf(t, e, v)
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return do(r.Lines[0].ID, "grade") }))
			rs := raceAll(raceN, func(i int) graphtest.Response { return do(r.Lines[1].ID, fmt.Sprint("grade-", i)) })
			if got := codeCounts(rs); got[""] != 1 || got["BAD_USER_INPUT"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 grade and %d BAD_USER_INPUT", got, raceN-1)
			}
			if got := stockOf(t, e, v); got != before+2 {
				t.Fatalf("stock %d after grading 2 units resellable, want %d", got, before+2)
			}
			if st, _ := returnStatus(t, e, tok, r.ID); st != "RECEIVED" {
				t.Fatalf("return %s with a unit left to grade", st)
			}

			// Every unit of one return graded at once: one of them is the
			// last, and the card is refunded once.
			big := received(raceN, "b")
			before = stockOf(t, e, v)
			rs = raceAll(raceN, func(i int) graphtest.Response { return do(big.Lines[i].ID, fmt.Sprint("all-", i)) })
			if got := codeCounts(rs); got[""] != raceN {
				t.Fatalf("outcomes %v, want %d grades", got, raceN)
			}
			if got := stockOf(t, e, v); got != before+raceN {
				t.Fatalf("stock %d, want %d", got, before+raceN)
			}
			st, refunded := returnStatus(t, e, tok, big.ID)
			if st != string(orderreturn.StatusREFUNDED) || refunded != raceN*1500 {
				t.Fatalf("return %s refunded %d, want REFUNDED and %d", st, refunded, raceN*1500)
			}
			// The first return has a unit left to grade: the one refund is the big one's.
			if n := e.Client.Refund.Query().CountX(ctx); n != 1 {
				t.Fatalf("%d refunds, want 1", n)
			}
		})
	}
}
