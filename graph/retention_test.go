package graph_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/orders"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/accounttoken"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/hubpayment"
	"github.com/merchd/merchd/ent/idempotencykey"
	"github.com/merchd/merchd/ent/refund"
	"github.com/merchd/merchd/ent/schema/types"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestRetentionJobs is finding 13 of the abuse issue (its
// clean-up part): nothing was ever deleted. Now each sweep deletes, a
// bounded batch at a time, expired sessions, idempotency keys past 7 days,
// Stripe event ids past 30 days, hub payments that can never complete and
// password-reset/verification tokens a day past their expiry,
// exactly those, even with two replicas sweeping at once.
func TestRetentionJobs(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			ctx := viewer.SystemContext(context.Background())
			tok, _ := e.SignUp(t, "kept@retention.example")
			cust := e.Client.Customer.Query().Where(customer.Email("kept@retention.example")).OnlyX(ctx)
			t0 := e.Clock.Now()
			T := t0.Add(15 * time.Minute) // when the sweeps run
			graphtest.Must(t, e.Orders.SetRetention(orders.RetentionConfig{Idempotency: 7 * 24 * time.Hour,
				StripeEvents: 30 * 24 * time.Hour, HubPayments: 7 * 24 * time.Hour, Batch: 2}))

			session := func(name string, expires time.Time) int {
				h := sha256.Sum256([]byte(name))
				return e.Client.CustomerSession.Create().SetTokenHash(h[:]).SetCustomerID(cust.ID).SetExpiresAt(expires).SaveX(ctx).ID
			}
			key := func(name string, created time.Time) int {
				return e.Client.IdempotencyKey.Create().SetScope("customer:0").SetKey(name).SetOperation("test").
					SetRequestHash([]byte{1}).SetResponse([]byte("1")).SetCreatedAt(created).SaveX(ctx).ID
			}
			event := func(name string, created time.Time) int {
				return e.Client.StripeEvent.Create().SetEventID(name).SetType("test").SetCreatedAt(created).SaveX(ctx).ID
			}
			intent := func(name string) string {
				pi, err := e.Stripe.CreatePaymentIntent(ctx, checkout.PaymentIntentParams{Amount: 500, Currency: "EUR", IdempotencyKey: name})
				graphtest.Must(t, err)
				return pi.ID
			}
			hubPay := func(name string, st hubpayment.Status, pi *string, claimed bool, created time.Time) int {
				return e.Client.HubPayment.Create().SetSaleID(name).SetHub("popup").SetLines([]types.SaleLine{{SKU: "X", Quantity: 1, UnitAmount: 500}}).
					SetAmount(500).SetCurrency("EUR").SetStatus(st).SetNillableStripePaymentIntentID(pi).SetClaimed(claimed).
					SetCreatedAt(created).SaveX(ctx).ID
			}
			week, month := 7*24*time.Hour, 30*24*time.Hour

			accountToken := func(name string, expires time.Time) int {
				h := sha256.Sum256([]byte(name))
				return e.Client.AccountToken.Create().SetTokenHash(h[:]).SetCustomerID(cust.ID).SetPurpose(accounttoken.PurposePASSWORD_RESET).
					SetEmail(cust.Email).SetExpiresAt(expires).SaveX(ctx).ID
			}
			goneToken := accountToken("reset-old", T.Add(-25*time.Hour))
			keptToken := accountToken("reset-late-click", T.Add(-23*time.Hour))
			goneSession := session("expired", t0.Add(10*time.Minute))
			keptSession := session("live", t0.Add(20*time.Minute))
			goneKeys := []int{key("old-1", T.Add(-week-time.Second)), key("old-2", T.Add(-week-time.Hour)), key("old-3", T.Add(-2*week))}
			keptKey := key("recent", T.Add(-week+time.Second))
			goneEvent := event("evt_old", T.Add(-month-time.Second))
			keptEvent := event("evt_recent", T.Add(-month+time.Second))
			canceledPI, paidPI := intent("abandoned"), intent("paid-late")
			e.Stripe.Event(t, "evt_x", "payment_intent.succeeded", paidPI) // succeeded at Stripe: cannot be canceled
			goneHub := []int{
				hubPay("never-started", hubpayment.StatusPENDING, nil, false, T.Add(-week-time.Hour)),
				hubPay("abandoned", hubpayment.StatusFAILED, &canceledPI, false, T.Add(-8*24*time.Hour)),
			}
			keptHub := []int{
				hubPay("paid", hubpayment.StatusSUCCEEDED, nil, false, T.Add(-8*24*time.Hour)),
				hubPay("recent", hubpayment.StatusPENDING, nil, false, T.Add(-week+time.Hour)),
				hubPay("claimed", hubpayment.StatusFAILED, nil, true, T.Add(-8*24*time.Hour)),
				hubPay("paid-late", hubpayment.StatusPENDING, &paidPI, false, T.Add(-8*24*time.Hour)),
			}
			before := e.Client.IdempotencyKey.Query().CountX(ctx)

			e.Clock.Set(T)
			_, err := e.Sweep(context.Background())
			graphtest.Must(t, err)
			if n := e.Client.IdempotencyKey.Query().Where(idempotencykey.IDIn(goneKeys...)).CountX(ctx); n != 1 {
				t.Fatalf("%d of 3 old keys left after one sweep of batch 2, want 1", n)
			}
			// Two replicas sweep at once: each row goes once, no error.
			errs := raceAll(2, func(int) error { _, err := e.Sweep(context.Background()); return err })
			graphtest.Must(t, errors.Join(errs...))

			ids := func(q interface {
				IDs(context.Context) ([]int, error)
			}) []int {
				out, err := q.IDs(ctx)
				graphtest.Must(t, err)
				sort.Ints(out)
				return out
			}
			same := func(what string, got, want []int) {
				t.Helper()
				sort.Ints(want)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s left: %v, want %v", what, got, want)
				}
			}
			sessions := ids(e.Client.CustomerSession.Query())
			for _, id := range sessions {
				if id == goneSession {
					t.Fatalf("expired session %d kept", id)
				}
			}
			if len(sessions) != 2 || (sessions[0] != keptSession && sessions[1] != keptSession) {
				t.Fatalf("sessions left %v, want the sign-up's and %d", sessions, keptSession)
			}
			if r := e.Do(t, tok, `{ cart { id } }`, nil); r.Code() != "" {
				t.Fatalf("the live session stopped working: %+v", r.Errors)
			}
			if n := e.Client.IdempotencyKey.Query().CountX(ctx); n != before-3 {
				t.Fatalf("%d idempotency keys, want %d", n, before-3)
			}
			if !e.Client.IdempotencyKey.Query().Where(idempotencykey.ID(keptKey)).ExistX(ctx) {
				t.Fatal("a key inside its retention was deleted")
			}
			events := ids(e.Client.StripeEvent.Query())
			if fmt.Sprint(events) != fmt.Sprint([]int{keptEvent}) && !contains(events, keptEvent) || contains(events, goneEvent) {
				t.Fatalf("stripe events left %v: want %d kept, %d gone", events, keptEvent, goneEvent)
			}
			same("hub payments", ids(e.Client.HubPayment.Query()), keptHub)
			same("account tokens", ids(e.Client.AccountToken.Query()), []int{keptToken})
			if keptToken == goneToken {
				t.Fatal("unreachable")
			}
			for _, id := range goneHub {
				if contains(keptHub, id) {
					t.Fatal("unreachable")
				}
			}
			if st := e.Stripe.Intent(canceledPI).Status; st != "canceled" {
				t.Fatalf("abandoned PaymentIntent is %s, want canceled before its record goes", st)
			}
		})
	}
}

// TestRefundRetryIsFair: retryRefunds took 20 pending refunds in
// no order, so 50 old ones Stripe keeps refusing starved a new one for
// good. Now the least recently tried go first and each backs off, so the
// new one is retried as soon as it is due.
func TestRefundRetryIsFair(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			ctx := viewer.SystemContext(context.Background())
			tok, _ := e.SignUp(t, "refunds@retention.example")
			v := newVariant(t, e, 100, 1000, "EUR")
			var (
				mu     sync.Mutex
				bad    = map[string]bool{}
				newPI  string
				newOK  bool
				calls  atomic.Int64
				failed = errors.New("card network unreachable")
			)
			e.Stripe.RefundFn = func(pi string, _ int64) error {
				calls.Add(1)
				mu.Lock()
				defer mu.Unlock()
				if bad[pi] || (pi == newPI && !newOK) {
					return failed
				}
				return nil
			}
			paidRefund := func(i int) {
				t.Helper()
				co := buy(t, e, tok, v, 1, fmt.Sprintf("r%d", i))
				pi := *co.Checkout.PaymentIntentID
				mu.Lock()
				bad[pi] = true
				mu.Unlock()
				if code := deliver(t, e, "evt_pay_"+pi, "payment_intent.succeeded", pi); code != 200 {
					t.Fatalf("webhook %d", code)
				}
				// Stripe refuses: the refund stays PENDING for the sweeper.
				e.Do(t, e.StaffToken, refundOrderMutation, map[string]any{"i": map[string]any{
					"orderId": co.Checkout.Order.ID, "to": "CARD", "idempotencyKey": "refund-" + pi}})
			}
			for i := range 50 {
				paidRefund(i)
			}
			sweep := func() int64 {
				t.Helper()
				before := calls.Load()
				_, err := e.Sweep(context.Background())
				graphtest.Must(t, err)
				n := calls.Load() - before
				if n > 20 {
					t.Fatalf("one sweep sent %d refunds, want at most 20", n)
				}
				return n
			}
			e.Clock.Advance(2 * time.Minute)
			for range 3 {
				sweep()
			}

			// A new refund fails once, then Stripe would take it.
			co := buy(t, e, tok, v, 1, "new")
			pi := *co.Checkout.PaymentIntentID
			mu.Lock()
			newPI = pi
			mu.Unlock()
			if code := deliver(t, e, "evt_pay_new", "payment_intent.succeeded", pi); code != 200 {
				t.Fatalf("webhook %d", code)
			}
			e.Do(t, e.StaffToken, refundOrderMutation, map[string]any{"i": map[string]any{
				"orderId": co.Checkout.Order.ID, "to": "CARD", "idempotencyKey": "refund-new"}})
			mu.Lock()
			newOK = true
			mu.Unlock()

			st := func() refund.Status {
				r, err := e.Client.Refund.Query().Order(ent.Desc(refund.FieldID)).First(ctx)
				graphtest.Must(t, err)
				return r.Status
			}
			if n := e.Client.Refund.Query().Where(refund.StatusEQ(refund.StatusPENDING)).CountX(ctx); n != 51 {
				t.Fatalf("%d refunds pending, want 51", n)
			}
			for i := 0; st() != refund.StatusSUCCEEDED; i++ {
				if i == 3 {
					t.Fatalf("the new refund is still %s after 3 sweeps a minute apart, behind 50 failing ones", st())
				}
				e.Clock.Advance(time.Minute)
				sweep()
			}
			if n := e.Client.Refund.Query().Where(refund.StatusEQ(refund.StatusPENDING)).CountX(ctx); n != 50 {
				t.Fatalf("%d refunds pending, want the 50 Stripe refuses", n)
			}
			// The failing ones back off: none was tried more than 3 times.
			for _, r := range e.Client.Refund.Query().Where(refund.StatusEQ(refund.StatusPENDING)).AllX(ctx) {
				if r.Attempts < 1 || r.Attempts > 3 {
					t.Fatalf("refund %d tried %d times", r.ID, r.Attempts)
				}
			}
		})
	}
}

func contains(ids []int, id int) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
