package orders

import (
	"context"
	"time"

	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/payment"
	"github.com/merchd/merchd/ent/viewer"
)

// Sweep returns the units of every expired hold (exactly once: each goes
// through its line's HELD → EXPIRED transition), cancels orders whose
// payment window passed, retries card refunds that failed, and deletes
// what is past its retention (sweepRetention). It returns
// how many holds it expired.
func (o *Service) Sweep(ctx context.Context) (int, error) {
	ctx = viewer.SystemContext(ctx)
	total := 0
	for {
		due, err := o.db.CartLine.Query().
			Where(cartline.StatusEQ(cartline.StatusHELD), cartline.ExpiresAtLTE(o.now())).
			Limit(200).All(ctx)
		if err != nil {
			return total, err
		}
		if len(due) == 0 {
			return total, o.sweepMoney(ctx)
		}
		var cancel []string // PaymentIntents to cancel once committed
		n, err := txn.Do(ctx, o.db, "sweep holds", func(tx *ent.Tx) (int, error) {
			n := 0
			orders := map[int]bool{}
			for _, l := range due {
				ok, err := o.carts.Release(ctx, tx, l, cartline.StatusEXPIRED)
				if err != nil {
					return 0, err
				}
				if ok {
					n++
					if l.OrderID != nil {
						orders[*l.OrderID] = true
					}
				}
			}
			for id := range orders {
				pi, err := o.cancelOverdue(ctx, tx, id)
				if err != nil {
					return 0, err
				}
				if pi != "" {
					cancel = append(cancel, pi)
				}
			}
			return n, nil
		})
		if err != nil {
			return total, err
		}
		total += n
		for _, pi := range cancel {
			if o.pay == nil {
				break
			}
			if err := o.pay.CancelPaymentIntent(ctx, pi, "merchd-cancel-"+pi); err != nil {
				// A payment may have succeeded meanwhile; its webhook re-takes or refunds.
				o.log.Warn("cancel overdue payment intent", "payment_intent", pi, "error", err)
			}
		}
		if len(due) < 200 {
			return total, o.sweepMoney(ctx)
		}
	}
}

// cancelOverdue cancels a pending order whose holds expired before payment
// and returns its PaymentIntent to cancel at Stripe.
func (o *Service) cancelOverdue(ctx context.Context, tx *ent.Tx, orderID int) (string, error) {
	n, err := tx.Order.Update().Where(order.ID(orderID), order.StatusEQ(order.StatusPENDING_PAYMENT)).
		SetStatus(order.StatusCANCELED).Save(ctx)
	if err != nil || n == 0 {
		return "", err
	}
	// Any other line still held for this order goes back too, and so
	// does a reserved wallet part.
	if err := o.releaseOrder(ctx, tx, orderID); err != nil {
		return "", err
	}
	if err := o.releaseWallet(ctx, tx, orderID); err != nil {
		return "", err
	}
	o.changed(tx, orderID)
	if err := o.history(ctx, tx, orderID, order.StatusCANCELED, "payment window passed"); err != nil {
		return "", err
	}
	p, err := tx.Payment.Query().Where(payment.OrderID(orderID), payment.StatusEQ(payment.StatusPENDING)).First(ctx)
	if ent.IsNotFound(err) || (err == nil && p.StripePaymentIntentID == nil) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return *p.StripePaymentIntentID, nil
}

// sweepMoney retries card refunds and deletes what is past its retention.
// (Gift expiry and membership renewals are their own domains' jobs:
// wallets.ExpireGifts and memberships.Renew, run by the shop.)
func (o *Service) sweepMoney(ctx context.Context) error {
	if err := o.retryRefunds(ctx); err != nil {
		return err
	}
	return o.sweepRetention(ctx)
}

// RunSweeper sweeps every interval until ctx ends.
func (o *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := o.Sweep(ctx); err != nil && ctx.Err() == nil {
			o.log.Error("sweep holds", "error", err)
		} else if n > 0 {
			o.log.Info("expired holds returned", "holds", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
