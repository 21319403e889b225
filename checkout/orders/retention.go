package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/accounttoken"
	"github.com/merchd/merchd/ent/customersession"
	"github.com/merchd/merchd/ent/hubpayment"
	"github.com/merchd/merchd/ent/idempotencykey"
	"github.com/merchd/merchd/ent/stripeevent"
)

// RetentionConfig says how long the sweeper keeps records that only guard
// against replays, and how much it deletes per sweep.
type RetentionConfig struct {
	// Idempotency is how long an idempotency key replays its first
	// result. A client may retry for as long: never under a day.
	Idempotency time.Duration
	// StripeEvents is how long a processed Stripe event id is kept: it is
	// what makes webhooks exactly-once, so it outlives Stripe's 3-day
	// retries.
	StripeEvents time.Duration
	// HubPayments is how long a hub's phone or card payment that was never
	// paid is kept before the sweeper cancels its PaymentIntent and
	// deletes it.
	HubPayments time.Duration
	// Batch bounds the rows one sweep deletes from each table.
	Batch int
}

// DefaultRetention keeps idempotency keys and abandoned hub payments a
// week and Stripe event ids 30 days.
func DefaultRetention() RetentionConfig {
	return RetentionConfig{Idempotency: 7 * 24 * time.Hour, StripeEvents: 30 * 24 * time.Hour,
		HubPayments: 7 * 24 * time.Hour, Batch: 500}
}

// Validate reports unsafe settings.
func (r RetentionConfig) Validate() error {
	switch {
	case r.Idempotency < 24*time.Hour:
		return fmt.Errorf("orders: --idempotency-retention %s is under 24h: a client's retry could run twice", r.Idempotency)
	case r.StripeEvents < 4*24*time.Hour:
		return fmt.Errorf("orders: --stripe-event-retention %s is under 4 days: Stripe retries a webhook for 3", r.StripeEvents)
	case r.HubPayments < 24*time.Hour:
		return fmt.Errorf("orders: --hub-payment-retention %s is under 24h", r.HubPayments)
	case r.Batch < 1:
		return fmt.Errorf("orders: retention batch %d is below 1", r.Batch)
	}
	return nil
}

// SetRetention replaces DefaultRetention.
func (o *Service) SetRetention(r RetentionConfig) error {
	if err := r.Validate(); err != nil {
		return err
	}
	o.retention = r
	return nil
}

// hubPaymentCancels bounds the PaymentIntents one sweep cancels at Stripe.
const hubPaymentCancels = 20

// sweepRetention deletes, at most a batch per table and sweep, expired
// customer sessions, idempotency keys and Stripe event ids past their
// retention, and hub payments that can never complete. Each delete
// re-checks its condition, so two replicas sweeping at once delete each
// row once and agree on the rest.
func (o *Service) sweepRetention(ctx context.Context) error {
	r, now := o.retention, o.now()
	ids, err := o.db.CustomerSession.Query().Where(customersession.ExpiresAtLTE(now)).Limit(r.Batch).IDs(ctx)
	if err == nil && len(ids) > 0 {
		_, err = o.db.CustomerSession.Delete().Where(customersession.IDIn(ids...), customersession.ExpiresAtLTE(now)).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("orders: delete expired sessions: %w", err)
	}
	// Password-reset and email-verification tokens, a day after they
	// expired (until then a late click is told "expired", not "unknown").
	ids, err = o.db.AccountToken.Query().Where(accounttoken.ExpiresAtLTE(now.Add(-24 * time.Hour))).Limit(r.Batch).IDs(ctx)
	if err == nil && len(ids) > 0 {
		_, err = o.db.AccountToken.Delete().Where(accounttoken.IDIn(ids...), accounttoken.ExpiresAtLTE(now.Add(-24*time.Hour))).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("orders: delete expired account tokens: %w", err)
	}
	cut := now.Add(-r.Idempotency)
	ids, err = o.db.IdempotencyKey.Query().Where(idempotencykey.CreatedAtLT(cut)).Limit(r.Batch).IDs(ctx)
	if err == nil && len(ids) > 0 {
		_, err = o.db.IdempotencyKey.Delete().Where(idempotencykey.IDIn(ids...), idempotencykey.CreatedAtLT(cut)).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("orders: delete old idempotency keys: %w", err)
	}
	cut = now.Add(-r.StripeEvents)
	ids, err = o.db.StripeEvent.Query().Where(stripeevent.CreatedAtLT(cut)).Limit(r.Batch).IDs(ctx)
	if err == nil && len(ids) > 0 {
		_, err = o.db.StripeEvent.Delete().Where(stripeevent.IDIn(ids...), stripeevent.CreatedAtLT(cut)).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("orders: delete old stripe events: %w", err)
	}
	return o.sweepHubPayments(ctx, now.Add(-r.HubPayments))
}

// sweepHubPayments deletes hub payments never paid, older than cut. One
// with no PaymentIntent can never be paid; one with a PaymentIntent is
// canceled at Stripe first (canceled is final there), and kept if Stripe
// refuses (it may have succeeded: the webhook settles it). Unpaid means
// PENDING or FAILED and unclaimed; the delete re-checks that, so a
// success recorded meanwhile is never deleted. Candidates are taken in id
// order after a cursor that wraps, so ones Stripe keeps refusing cannot
// starve the rest.
func (o *Service) sweepHubPayments(ctx context.Context, cut time.Time) error {
	stale := hubpayment.And(hubpayment.StatusIn(hubpayment.StatusPENDING, hubpayment.StatusFAILED),
		hubpayment.Claimed(false), hubpayment.CreatedAtLT(cut))
	// Never given a PaymentIntent: nothing at Stripe can pay it.
	ids, err := o.db.HubPayment.Query().Where(stale, hubpayment.StripePaymentIntentIDIsNil()).Limit(o.retention.Batch).IDs(ctx)
	if err == nil && len(ids) > 0 {
		_, err = o.db.HubPayment.Delete().Where(hubpayment.IDIn(ids...), stale, hubpayment.StripePaymentIntentIDIsNil()).Exec(ctx)
	}
	if err != nil || o.pay == nil {
		return err
	}
	o.hubCursorMu.Lock()
	after := o.hubCursor
	o.hubCursorMu.Unlock()
	ps, err := o.db.HubPayment.Query().Where(stale, hubpayment.StripePaymentIntentIDNotNil(), hubpayment.IDGT(after)).
		Order(ent.Asc(hubpayment.FieldID)).Limit(hubPaymentCancels).All(ctx)
	if err != nil {
		return err
	}
	next := 0 // wrap around once the end is reached
	if len(ps) == hubPaymentCancels {
		next = ps[len(ps)-1].ID
	}
	o.hubCursorMu.Lock()
	o.hubCursor = next
	o.hubCursorMu.Unlock()
	for _, p := range ps {
		pi := *p.StripePaymentIntentID
		if err := o.pay.CancelPaymentIntent(ctx, pi, "merchd-cancel-"+pi); err != nil {
			o.log.Warn("cancel abandoned hub payment", "sale_id", p.SaleID, "payment_intent", pi, "error", err)
			continue
		}
		if _, err := o.db.HubPayment.Delete().Where(hubpayment.ID(p.ID), stale).Exec(ctx); err != nil {
			return fmt.Errorf("orders: delete abandoned hub payment %s: %w", p.SaleID, err)
		}
		o.log.Info("abandoned hub payment deleted", "sale_id", p.SaleID, "payment_intent", pi)
	}
	return nil
}
