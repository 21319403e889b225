package orders

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/orderline"
	"github.com/merchd/merchd/ent/payment"
	"github.com/merchd/merchd/ent/refund"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/walletentry"
)

// RefundLine refunds some units of one order line.
type RefundLine struct {
	LineID   int
	Quantity int
}

// RefundTo says where refunded money goes.
type RefundTo = refund.To

// Refund destinations.
const (
	RefundToCard   = refund.ToCARD
	RefundToWallet = refund.ToWALLET
)

// RefundOrder refunds a paid order, whole (no lines) or by lines. The
// amount is reserved on the order first, so concurrent refunds can never
// exceed what was paid; then the card refund is sent with a key derived
// from the refund's id. If Stripe does not take it now, the refund stays
// PENDING and the sweeper retries it with the same key: the id is returned
// together with that error.
func (o *Service) RefundOrder(ctx context.Context, orderID int, lines []RefundLine, to RefundTo, key string) (int, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return 0, err
	}
	switch to {
	case RefundToCard:
		if o.pay == nil {
			return 0, &checkout.InputError{Field: "to", Msg: checkout.ErrPaymentsNotConfigured.Error()}
		}
	case RefundToWallet:
		if o.wallets == nil {
			return 0, checkout.BadInput("to", "wallet refunds are not available")
		}
	default:
		return 0, checkout.BadInput("to", "unknown destination %q", to)
	}
	req := struct {
		Order int
		Lines []RefundLine
		To    RefundTo
	}{orderID, lines, to}
	refundID, err := txn.Idempotent(ctx, o.db, "refundOrder", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		ord, err := tx.Order.Get(sys, orderID)
		if err != nil {
			return 0, checkout.NotFoundAs(err, "order")
		}
		if ord.Status != order.StatusPAID && ord.Status != order.StatusPARTIALLY_REFUNDED {
			return 0, checkout.BadInput("orderId", "only paid orders can be refunded (this one is %s)", ord.Status)
		}
		amount := ord.TotalAmount - ord.RefundedAmount
		if len(lines) > 0 {
			amount = 0
			for _, rl := range lines {
				if rl.Quantity <= 0 {
					return 0, checkout.BadInput("lines", "quantities must be positive")
				}
				l, err := tx.OrderLine.Query().Where(orderline.ID(rl.LineID), orderline.OrderID(orderID)).Only(sys)
				if err != nil {
					return 0, checkout.NotFoundAs(err, "order line")
				}
				// Units in a return are refunded with it: a line refund
				// takes only units neither refunded nor returned.
				n, err := tx.OrderLine.Update().Where(orderline.ID(l.ID), unitsLeft(rl.Quantity)).
					AddRefundedQuantity(rl.Quantity).Save(sys)
				if err != nil {
					return 0, err
				}
				if n == 0 {
					return 0, checkout.BadInput("lines", "line %d has fewer than %d units neither refunded nor returned", rl.LineID, rl.Quantity)
				}
				// Refunded units not yet handed over leave the pickup.
				if o.fulfil != nil {
					if _, err := o.fulfil.Withdraw(sys, tx, orderID, l.ID, rl.Quantity, "refunded"); err != nil {
						return 0, err
					}
				}
				amount += int64(rl.Quantity) * l.UnitAmount
			}
		}
		if amount <= 0 {
			return 0, checkout.BadInput("orderId", "nothing left to refund")
		}
		return o.refund(sys, tx, ord, amount, to, "staff refund")
	})
	if err != nil {
		return 0, err
	}
	if to == RefundToWallet {
		return refundID, nil
	}
	if err := o.sendRefund(viewer.SystemContext(ctx), refundID); err != nil {
		return refundID, err
	}
	return refundID, nil
}

// refund reserves amount of ord for a refund to `to` inside tx and
// records it: to the wallet it lands now; to the card it is PENDING, to
// be sent after commit (sendRefund). The order's refunded total moves
// with one conditional update, so refunds never exceed what was paid.
func (o *Service) refund(sys context.Context, tx *ent.Tx, ord *ent.Order, amount int64, to RefundTo, reason string) (int, error) {
	var paymentID *int
	if to == RefundToCard {
		p, err := tx.Payment.Query().Where(payment.OrderID(ord.ID), payment.MethodEQ(payment.MethodCARD),
			payment.StatusEQ(payment.StatusSUCCEEDED)).Only(sys)
		if err != nil {
			return 0, checkout.BadInput("to", "the order has no card payment to refund; refund to WALLET")
		}
		if err := o.reserveCardRefund(sys, tx, p.ID, amount); err != nil {
			return 0, err
		}
		paymentID = &p.ID
	}
	n, err := tx.Order.Update().Where(order.ID(ord.ID), order.StatusIn(order.StatusPAID, order.StatusPARTIALLY_REFUNDED),
		order.RefundedAmountLTE(ord.TotalAmount-amount)).AddRefundedAmount(amount).Save(sys)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, checkout.BadInput("orderId", "the refund would exceed what was paid")
	}
	// Refunded in full (now, or once Stripe confirms the card refund):
	// what has not been handed over is not handed over any more.
	// (Read after our own update: it counts a concurrent refund too.)
	if o.fulfil != nil {
		cur, err := tx.Order.Get(sys, ord.ID)
		if err != nil {
			return 0, err
		}
		if cur.RefundedAmount >= cur.TotalAmount {
			if err := o.fulfil.CancelOpen(sys, tx, ord.ID, "order refunded in full"); err != nil {
				return 0, err
			}
		}
	}
	r, err := tx.Refund.Create().SetOrderID(ord.ID).SetNillablePaymentID(paymentID).SetAmount(amount).
		SetCurrency(ord.Currency).SetTo(to).SetReason(reason).Save(sys)
	if err != nil {
		return 0, err
	}
	if to == RefundToWallet {
		// Credit lands now, in this transaction. Gift credit the order
		// spent goes back to its lots, expiry and all.
		spends, err := tx.WalletEntry.Query().Where(walletentry.OrderID(ord.ID), walletentry.KindEQ(walletentry.KindSPEND)).IDs(sys)
		if err != nil {
			return 0, err
		}
		if _, err := o.wallets.Post(sys, tx, wallets.Posting{CustomerID: ord.CustomerID, Currency: ord.Currency, Amount: amount,
			Kind: walletentry.KindREFUND, Note: "refund of order " + ord.Number, OrderID: &ord.ID, RestoreFrom: spends}); err != nil {
			return 0, err
		}
		if err := tx.Refund.UpdateOneID(r.ID).SetStatus(refund.StatusSUCCEEDED).Exec(sys); err != nil {
			return 0, err
		}
		// Read after our own update: the row is ours until commit.
		now, err := tx.Order.Get(sys, ord.ID)
		if err != nil {
			return 0, err
		}
		st := order.StatusPARTIALLY_REFUNDED
		if now.RefundedAmount >= now.TotalAmount {
			st = order.StatusREFUNDED
		}
		if err := tx.Order.UpdateOneID(ord.ID).SetStatus(st).Exec(sys); err != nil {
			return 0, err
		}
		o.changed(tx, ord.ID)
		if err := o.history(sys, tx, ord.ID, st, fmt.Sprintf("refunded %d %s to wallet", amount, ord.Currency)); err != nil {
			return 0, err
		}
		if err := o.refunded(sys, tx, ord, r.ID, amount, RefundToWallet); err != nil {
			return 0, err
		}
	}
	return r.ID, nil
}

// unitsLeft is an order line with n units neither refunded nor in a
// return: refunded_quantity + returned_quantity + n <= quantity.
func unitsLeft(n int) func(*sql.Selector) {
	return func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString(s.C(orderline.FieldRefundedQuantity)).WriteString(" + ").WriteString(s.C(orderline.FieldReturnedQuantity)).
				WriteString(" + ").Arg(n).WriteString(" <= ").WriteString(s.C(orderline.FieldQuantity))
		}))
	}
}

// reserveCardRefund moves amount onto a card payment's refunded total with
// one conditional update, so concurrent refunds can never return more than
// the card paid (a read of earlier refunds, then a write, could).
func (o *Service) reserveCardRefund(ctx context.Context, tx *ent.Tx, paymentID int, amount int64) error {
	n, err := tx.Payment.Update().Where(payment.ID(paymentID), func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString(s.C(payment.FieldRefundedAmount)).WriteString(" + ").Arg(amount).
				WriteString(" <= ").WriteString(s.C(payment.FieldAmount))
		}))
	}).AddRefundedAmount(amount).Save(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return checkout.BadInput("to", "the card payment has less than %d left to refund; refund the rest to WALLET", amount)
	}
	return nil
}

// sendRefund sends a PENDING card refund to Stripe and records the outcome.
// A failure leaves it PENDING; the sweeper retries it with the same key.
func (o *Service) sendRefund(ctx context.Context, refundID int) error {
	r, err := o.db.Refund.Get(ctx, refundID)
	if err != nil {
		return err
	}
	if r.Status != refund.StatusPENDING || r.PaymentID == nil {
		return nil
	}
	p, err := o.db.Payment.Get(ctx, *r.PaymentID)
	if err != nil {
		return err
	}
	if p.StripePaymentIntentID == nil {
		return fmt.Errorf("orders: refund %d: payment %d has no PaymentIntent", r.ID, p.ID)
	}
	// Claim this attempt: one conditional update on the attempt count, so
	// two sweepers never send the same refund at once, and the next try
	// backs off with every failure.
	now := o.now()
	n, err := o.db.Refund.Update().Where(refund.ID(r.ID), refund.StatusEQ(refund.StatusPENDING), refund.Attempts(r.Attempts)).
		AddAttempts(1).SetLastAttemptAt(now).SetNextAttemptAt(now.Add(refundBackoff(r.Attempts + 1))).Save(ctx)
	if err != nil || n == 0 {
		return err
	}
	stripeID, err := o.pay.Refund(ctx, *p.StripePaymentIntentID, r.Amount, "merchd-refund-"+strconv.Itoa(r.ID))
	if err != nil {
		o.log.Error("card refund failed; will retry", "refund_id", r.ID, "order_id", r.OrderID, "error", err)
		return fmt.Errorf("orders: refund %d: %w", r.ID, err)
	}
	_, err = txn.Do(ctx, o.db, "record refund", func(tx *ent.Tx) (struct{}, error) {
		n, err := tx.Refund.Update().Where(refund.ID(r.ID), refund.StatusEQ(refund.StatusPENDING)).
			SetStatus(refund.StatusSUCCEEDED).SetStripeRefundID(stripeID).Save(ctx)
		if err != nil || n == 0 {
			return struct{}{}, err
		}
		ord, err := tx.Order.Get(ctx, r.OrderID)
		if err != nil {
			return struct{}{}, err
		}
		note := fmt.Sprintf("refunded %d %s to card", r.Amount, r.Currency)
		st := ord.Status
		switch {
		case p.Status == payment.StatusMISMATCH:
			// Money the order never counted as paid: the order keeps its status.
		case ord.Status == order.StatusCANCELED && ord.RefundedAmount >= ord.TotalAmount:
			st = order.StatusREFUNDED
		case ord.Status == order.StatusCANCELED:
			// A canceled order stays canceled (it cannot be refunded again).
		case ord.RefundedAmount >= ord.TotalAmount:
			st = order.StatusREFUNDED
		default:
			st = order.StatusPARTIALLY_REFUNDED
		}
		if st != ord.Status {
			n, err := tx.Order.Update().Where(order.ID(ord.ID), order.StatusEQ(ord.Status)).SetStatus(st).Save(ctx)
			if err != nil {
				return struct{}{}, err
			}
			if n == 0 {
				return struct{}{}, fmt.Errorf("order %d changed while recording refund %d", ord.ID, r.ID)
			}
			o.changed(tx, ord.ID)
		}
		if err := o.refunded(ctx, tx, ord, r.ID, r.Amount, RefundToCard); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, o.history(ctx, tx, ord.ID, st, note)
	})
	return err
}

// refunded records refund.issued (the buyer's email and the webhooks) in
// the transaction where the refund succeeded.
func (o *Service) refunded(ctx context.Context, tx *ent.Tx, ord *ent.Order, refundID int, amount int64, to RefundTo) error {
	return checkout.Record(ctx, o.outbox, tx, checkout.Event{Type: checkout.EventRefundIssued, OrderID: ord.ID, CustomerID: ord.CustomerID,
		Data: map[string]any{"order_id": gid.Encode(ord.ID), "number": ord.Number, "refund_id": gid.Encode(refundID),
			"amount": amount, "currency": ord.Currency, "to": string(to)}})
}

// retryRefunds resends card refunds still PENDING whose next attempt is
// due, the least recently tried first (never tried: first of all). Each
// failure pushes a refund's next attempt further out (refundBackoff), so
// refunds Stripe keeps refusing take a slot ever more rarely and a new
// one is retried at its first due sweep.
func (o *Service) retryRefunds(ctx context.Context) error {
	now := o.now()
	ids, err := o.db.Refund.Query().Where(refund.StatusEQ(refund.StatusPENDING), refund.ToEQ(refund.ToCARD),
		refund.CreatedAtLT(now.Add(-time.Minute)),
		refund.Or(refund.NextAttemptAtIsNil(), refund.NextAttemptAtLTE(now))).
		Order(refund.ByLastAttemptAt(sql.OrderNullsFirst()), refund.ByID()).
		Limit(refundRetries).IDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		_ = o.sendRefund(ctx, id) // logged inside; retried when due
	}
	return nil
}

// refundRetries bounds the card refunds one sweep sends.
const refundRetries = 20

// refundBackoff is the wait after a refund's nth attempt: a minute,
// doubling, at most six hours.
func refundBackoff(n int) time.Duration {
	d := time.Minute
	for i := 1; i < n && d < 6*time.Hour; i++ {
		d *= 2
	}
	return min(d, 6*time.Hour)
}

// RefundReturn refunds up to amount of order orderID for goods that came
// back, inside tx (the return's own transition, so the money moves if and
// only if the return does). To the wallet it lands now. toCard sends it
// to the card the order was paid with, as far as that card has anything
// left to refund, and the rest to the wallet; the card part is PENDING,
// sent after commit with SendRefund and retried by the sweeper. The
// refund is capped at what the order has left (a staff refund may have
// taken the rest). It returns the card refund's id (0: none) and the
// amount refunded.
func (o *Service) RefundReturn(ctx context.Context, tx *ent.Tx, orderID int, amount int64, toCard bool, note string) (cardRefund int, refunded int64, err error) {
	sys := viewer.SystemContext(ctx)
	ord, err := tx.Order.Get(sys, orderID)
	if err != nil {
		return 0, 0, checkout.NotFoundAs(err, "order")
	}
	if ord.Status != order.StatusPAID && ord.Status != order.StatusPARTIALLY_REFUNDED {
		return 0, 0, nil // refunded in full (or canceled) already: nothing is left to give
	}
	amount = min(amount, ord.TotalAmount-ord.RefundedAmount)
	if amount <= 0 {
		return 0, 0, nil
	}
	toWallet := amount
	if toCard && o.pay != nil {
		p, err := tx.Payment.Query().Where(payment.OrderID(orderID), payment.MethodEQ(payment.MethodCARD),
			payment.StatusEQ(payment.StatusSUCCEEDED)).Only(sys)
		if err != nil && !ent.IsNotFound(err) {
			return 0, 0, err
		}
		if p != nil {
			if card := min(amount, p.Amount-p.RefundedAmount); card > 0 {
				if cardRefund, err = o.refund(sys, tx, ord, card, RefundToCard, note); err != nil {
					return 0, 0, err
				}
				toWallet -= card
				if ord, err = tx.Order.Get(sys, orderID); err != nil {
					return 0, 0, err
				}
			}
		}
	}
	if toWallet > 0 {
		if o.wallets == nil {
			return 0, 0, checkout.BadInput("to", "wallet refunds are not available")
		}
		if _, err := o.refund(sys, tx, ord, toWallet, RefundToWallet, note); err != nil {
			return 0, 0, err
		}
	}
	return cardRefund, amount, nil
}

// SendRefund sends a card refund RefundReturn left PENDING, after its
// transaction committed. A failure leaves it PENDING for the sweeper.
func (o *Service) SendRefund(ctx context.Context, refundID int) error {
	return o.sendRefund(viewer.SystemContext(ctx), refundID)
}
