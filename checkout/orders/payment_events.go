package orders

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/payment"
	"github.com/merchd/merchd/ent/refund"
	"github.com/merchd/merchd/ent/topup"
	"github.com/merchd/merchd/ent/viewer"
)

// HandlePaymentEvent applies one Stripe event exactly once. Success after
// failure or cancellation (or after the payment window) re-takes the units
// if stock remains, and otherwise cancels the order and refunds the card.
// Failure or cancellation after success changes nothing.
func (o *Service) HandlePaymentEvent(ctx context.Context, ev checkout.PaymentEvent) error {
	if ev.Install != "" && o.install != "" && ev.Install != o.install {
		// Another installation on the same Stripe account: its metadata
		// (order and top-up ids) names rows of its own database, not ours.
		o.log.Info("stripe event of another installation ignored", "event_id", ev.EventID, "install", ev.Install)
		return nil
	}
	sys := viewer.SystemContext(ctx)
	var refundID, topUpMismatch int
	_, err := txn.Do(sys, o.db, "payment event", func(tx *ent.Tx) (struct{}, error) {
		refundID, topUpMismatch = 0, 0
		first, err := txn.ClaimEvent(sys, tx, o.dialect, ev.EventID, ev.Type, o.now())
		if err != nil {
			return struct{}{}, err
		}
		if !first {
			return struct{}{}, checkout.ErrDuplicateEvent
		}
		if done, err := o.applyOther(sys, tx, ev); err != nil || done {
			return struct{}{}, err
		}
		if t, err := o.topUpFor(sys, tx, ev); err != nil || t != nil {
			if err != nil {
				return struct{}{}, err
			}
			back, err := o.wallets.ApplyTopUpEvent(sys, tx, t, ev)
			if back {
				topUpMismatch = t.ID
			}
			return struct{}{}, err
		}
		p, err := o.paymentFor(sys, tx, ev)
		if err != nil || p == nil {
			return struct{}{}, err
		}
		refundID, err = o.applyPaymentEvent(sys, tx, p, ev)
		return struct{}{}, err
	})
	var late errLateNoStock
	if errors.As(err, &late) {
		refundID, err = txn.Do(sys, o.db, "late payment", func(tx *ent.Tx) (int, error) {
			return o.refundLatePayment(sys, tx, ev, late)
		})
	}
	if errors.Is(err, checkout.ErrDuplicateEvent) {
		return nil
	}
	if err != nil {
		return err
	}
	if topUpMismatch != 0 {
		o.refundTopUpMismatch(sys, topUpMismatch, ev)
	}
	if refundID != 0 {
		_ = o.sendRefund(sys, refundID) // logged inside; the sweeper retries
	}
	return nil
}

// refundTopUpMismatch gives back a top-up Stripe captured with another
// amount or currency; the key is derived from the top-up, so a retry by
// staff cannot refund twice.
func (o *Service) refundTopUpMismatch(ctx context.Context, topUpID int, ev checkout.PaymentEvent) {
	o.log.Error("stripe top-up amount does not match; refunding", "top_up_id", topUpID, "event_id", ev.EventID,
		"amount", ev.Amount, "currency", ev.Currency)
	if o.pay == nil {
		return
	}
	if _, err := o.pay.Refund(ctx, ev.PaymentIntentID, ev.Amount, "merchd-topup-"+strconv.Itoa(topUpID)+"-mismatch"); err != nil {
		o.log.Error("refund of a mismatched top-up failed; staff must refund it", "top_up_id", topUpID, "error", err)
	}
}

// refundLatePayment records a card payment that cannot complete its order
// (the units are gone, or the wallet part is): the order is canceled and
// the whole card payment goes back to the card.
func (o *Service) refundLatePayment(ctx context.Context, tx *ent.Tx, ev checkout.PaymentEvent, late errLateNoStock) (int, error) {
	first, err := txn.ClaimEvent(ctx, tx, o.dialect, ev.EventID, ev.Type, o.now())
	if err != nil {
		return 0, err
	}
	if !first {
		return 0, checkout.ErrDuplicateEvent
	}
	k, err := tx.Payment.Update().Where(payment.ID(late.paymentID),
		payment.StatusIn(payment.StatusPENDING, payment.StatusFAILED, payment.StatusCANCELED)).
		SetStatus(payment.StatusSUCCEEDED).Save(ctx)
	if err != nil || k == 0 {
		return 0, err // another event for this PaymentIntent settled it first
	}
	p, err := tx.Payment.Get(ctx, late.paymentID)
	if err != nil {
		return 0, err
	}
	if err := o.reserveCardRefund(ctx, tx, p.ID, p.Amount); err != nil {
		return 0, err
	}
	if err := o.releaseOrder(ctx, tx, late.orderID); err != nil {
		return 0, err
	}
	if err := o.releaseWallet(ctx, tx, late.orderID); err != nil {
		return 0, err
	}
	if err := tx.Order.UpdateOneID(late.orderID).SetStatus(order.StatusCANCELED).AddRefundedAmount(p.Amount).Exec(ctx); err != nil {
		return 0, err
	}
	r, err := tx.Refund.Create().SetOrderID(late.orderID).SetPaymentID(p.ID).SetAmount(p.Amount).SetCurrency(p.Currency).
		SetTo(refund.ToCARD).SetReason(late.reason).Save(ctx)
	if err != nil {
		return 0, err
	}
	o.changed(tx, late.orderID)
	return r.ID, o.history(ctx, tx, late.orderID, order.StatusCANCELED, late.reason+"; refunding to card")
}

func (o *Service) topUpFor(ctx context.Context, tx *ent.Tx, ev checkout.PaymentEvent) (*ent.TopUp, error) {
	if o.wallets == nil {
		return nil, nil
	}
	t, err := tx.TopUp.Query().Where(topup.StripePaymentIntentID(ev.PaymentIntentID)).Only(ctx)
	if ent.IsNotFound(err) && ev.TopUpID != 0 {
		t, err = tx.TopUp.Query().Where(topup.ID(ev.TopUpID), topup.StripePaymentIntentIDIsNil()).Only(ctx)
		if err == nil {
			err = tx.TopUp.UpdateOneID(t.ID).SetStripePaymentIntentID(ev.PaymentIntentID).Exec(ctx)
		}
	}
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return t, err
}

func (o *Service) paymentFor(ctx context.Context, tx *ent.Tx, ev checkout.PaymentEvent) (*ent.Payment, error) {
	p, err := tx.Payment.Query().Where(payment.StripePaymentIntentID(ev.PaymentIntentID)).Only(ctx)
	if ent.IsNotFound(err) && ev.OrderID != 0 {
		// The webhook beat our own write of the PaymentIntent id.
		p, err = tx.Payment.Query().Where(payment.OrderID(ev.OrderID), payment.MethodEQ(payment.MethodCARD),
			payment.StripePaymentIntentIDIsNil()).Only(ctx)
		if err == nil {
			err = tx.Payment.UpdateOneID(p.ID).SetStripePaymentIntentID(ev.PaymentIntentID).Exec(ctx)
		}
	}
	if ent.IsNotFound(err) {
		o.log.Warn("stripe event for an unknown payment intent", "event_id", ev.EventID, "payment_intent", ev.PaymentIntentID)
		return nil, nil
	}
	return p, err
}

// applyPaymentEvent returns the id of a refund to send after commit, if any.
// Every transition is one conditional update: a concurrent delivery of
// another event for the same PaymentIntent finds zero rows and changes
// nothing. Business refusals (another amount, a wallet part that is gone)
// are recorded and refunded, never returned as errors: an error asks
// Stripe to deliver again, forever.
func (o *Service) applyPaymentEvent(ctx context.Context, tx *ent.Tx, p *ent.Payment, ev checkout.PaymentEvent) (int, error) {
	ord, err := tx.Order.Get(ctx, p.OrderID)
	if err != nil {
		return 0, err
	}
	switch ev.Type {
	case "payment_intent.payment_failed", "payment_intent.canceled":
		st, ost := payment.StatusFAILED, order.StatusPAYMENT_FAILED
		if ev.Type == "payment_intent.canceled" {
			st, ost = payment.StatusCANCELED, order.StatusCANCELED
		}
		n, err := tx.Payment.Update().Where(payment.ID(p.ID), payment.StatusEQ(payment.StatusPENDING)).SetStatus(st).Save(ctx)
		if err != nil || n == 0 {
			return 0, err // failure after success (or twice): nothing changes
		}
		n, err = tx.Order.Update().Where(order.ID(ord.ID), order.StatusEQ(order.StatusPENDING_PAYMENT)).SetStatus(ost).Save(ctx)
		if err != nil || n == 0 {
			return 0, err
		}
		if err := o.releaseOrder(ctx, tx, ord.ID); err != nil {
			return 0, err
		}
		if err := o.releaseWallet(ctx, tx, ord.ID); err != nil {
			return 0, err
		}
		o.changed(tx, ord.ID)
		return 0, o.history(ctx, tx, ord.ID, ost, ev.Type)

	case "payment_intent.succeeded":
		unsettled := payment.StatusIn(payment.StatusPENDING, payment.StatusFAILED, payment.StatusCANCELED)
		if ev.Amount != p.Amount || !checkout.EqualFoldCurrency(ev.Currency, p.Currency) {
			return o.mismatchedPayment(ctx, tx, p, ord, ev)
		}
		n, err := tx.Payment.Update().Where(payment.ID(p.ID), unsettled).SetStatus(payment.StatusSUCCEEDED).Save(ctx)
		if err != nil || n == 0 {
			return 0, err // already settled by an earlier event
		}
		switch ord.Status {
		case order.StatusPENDING_PAYMENT, order.StatusPAYMENT_FAILED, order.StatusCANCELED:
		default:
			return 0, nil
		}
		// Sell the units; a savepoint would be neater, but a failed sell
		// must leave no partial re-takes, so it runs in a nested check.
		if err := o.sell(ctx, tx, ord.ID); err != nil {
			if errors.Is(err, checkout.ErrWindowFull) {
				return 0, errLateNoStock{orderID: ord.ID, paymentID: p.ID, reason: "paid after the hold expired; the pickup window filled up"}
			}
			if !errors.Is(err, checkout.ErrOutOfStock) && !errors.Is(err, checkout.ErrLimitExceeded) {
				return 0, err
			}
			return 0, errLateNoStock{orderID: ord.ID, paymentID: p.ID, reason: "paid after the hold expired; units gone"}
		}
		if err := o.chargeWallet(ctx, tx, ord); err != nil {
			if !errors.Is(err, checkout.ErrInsufficientFunds) {
				return 0, err
			}
			// The wallet part was given back when the card first failed,
			// and spent since: the order cannot be completed.
			return 0, errLateNoStock{orderID: ord.ID, paymentID: p.ID, reason: "card paid after the wallet part was given back and spent"}
		}
		n, err = tx.Order.Update().Where(order.ID(ord.ID), order.StatusEQ(ord.Status)).
			SetStatus(order.StatusPAID).SetPaidAt(o.now()).Save(ctx)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, fmt.Errorf("order %d changed under payment event %s", ord.ID, ev.EventID)
		}
		if err := o.paid(ctx, tx, ord); err != nil {
			return 0, err
		}
		return 0, o.history(ctx, tx, ord.ID, order.StatusPAID, "payment succeeded")
	}
	return 0, nil
}

// mismatchedPayment records a success whose amount or currency is not the
// payment's: the payment becomes MISMATCH for staff, a still-pending order
// is canceled (its units and wallet part go back), and what Stripe
// captured is refunded to the card after commit.
func (o *Service) mismatchedPayment(ctx context.Context, tx *ent.Tx, p *ent.Payment, ord *ent.Order, ev checkout.PaymentEvent) (int, error) {
	o.log.Error("stripe amount does not match the order; refunding", "order_id", ord.ID, "event_id", ev.EventID,
		"amount", ev.Amount, "currency", ev.Currency, "want_amount", p.Amount, "want_currency", p.Currency)
	n, err := tx.Payment.Update().Where(payment.ID(p.ID),
		payment.StatusIn(payment.StatusPENDING, payment.StatusFAILED, payment.StatusCANCELED)).
		SetStatus(payment.StatusMISMATCH).Save(ctx)
	if err != nil || n == 0 {
		return 0, err // settled (or already flagged) by an earlier event
	}
	note := fmt.Sprintf("stripe captured %d %s, the order asked %d %s: refunding to card", ev.Amount, checkout.ToUpper(ev.Currency), p.Amount, p.Currency)
	st := ord.Status
	k, err := tx.Order.Update().Where(order.ID(ord.ID), order.StatusEQ(order.StatusPENDING_PAYMENT)).SetStatus(order.StatusCANCELED).Save(ctx)
	if err != nil {
		return 0, err
	}
	if k == 1 {
		st = order.StatusCANCELED
		if err := o.releaseOrder(ctx, tx, ord.ID); err != nil {
			return 0, err
		}
		if err := o.releaseWallet(ctx, tx, ord.ID); err != nil {
			return 0, err
		}
		o.changed(tx, ord.ID)
	}
	if err := o.history(ctx, tx, ord.ID, st, note); err != nil {
		return 0, err
	}
	if ev.Amount <= 0 || !checkout.IsCurrencyCode(checkout.ToUpper(ev.Currency)) {
		return 0, nil // nothing (or nothing we can name) to give back: staff see MISMATCH
	}
	r, err := tx.Refund.Create().SetOrderID(ord.ID).SetPaymentID(p.ID).SetAmount(ev.Amount).SetCurrency(checkout.ToUpper(ev.Currency)).
		SetTo(refund.ToCARD).SetReason("stripe captured another amount or currency than the order").Save(ctx)
	if err != nil {
		return 0, err
	}
	return r.ID, nil
}

// errLateNoStock: a card payment succeeded for an order that cannot be
// completed any more (units gone, or the wallet part spent elsewhere).
type errLateNoStock struct {
	orderID, paymentID int
	reason             string
}

func (e errLateNoStock) Error() string {
	return fmt.Sprintf("order %d cannot be completed: %s", e.orderID, e.reason)
}

// IgnoreOtherInstallations makes the webhook skip PaymentIntent events
// tagged with another installation's id (NamespaceKeys): two databases
// sharing a Stripe account must not apply each other's payments.
func (o *Service) IgnoreOtherInstallations(installID string) { o.install = installID }
