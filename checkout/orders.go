package checkout

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cart"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/payment"
	"github.com/merchd/merchd/ent/refund"
	"github.com/merchd/merchd/ent/topup"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/walletentry"
)

// Orders turns carts into orders and follows their payments.
type Orders struct {
	db          *ent.Client
	carts       *Carts
	wallets     *Wallets
	memberships *Memberships
	pay         PaymentProvider // nil: card payments are not configured
	now         func() time.Time
	log         *slog.Logger
	tillOnly    string // at a hub: its code; carts check out at the till
	install     string // InstallID: Stripe events of other installations are not ours
	retention   RetentionConfig
	hubCursorMu sync.Mutex
	hubCursor   int // the last abandoned hub payment looked at
	notifier
}

// SellAtTillOnly makes this server, the hub hubCode, refuse cart checkout:
// at a pop-up every sale goes through the till (hubSell), the one path
// whose sales, payments and wallet spends reach central through the
// outbox. Buyers' phones pay the till's QR code on central's page.
func (o *Orders) SellAtTillOnly(hubCode string) { o.tillOnly = hubCode }

// NewOrders returns the order service. pay may be nil.
func NewOrders(db *ent.Client, carts *Carts, wallets *Wallets, memberships *Memberships, pay PaymentProvider, now func() time.Time, log *slog.Logger) *Orders {
	return &Orders{db: db, carts: carts, wallets: wallets, memberships: memberships, pay: pay, now: now, log: log,
		retention: DefaultRetention()}
}

// PayWith says how a checkout is paid.
type PayWith struct {
	Card   bool
	Wallet *Money
}

// CheckoutResult is what checkout returns: the order and, for card
// payments, the client secret for Stripe.js or the mobile SDKs.
type CheckoutResult struct {
	OrderID         int
	ClientSecret    string
	PaymentIntentID string
}

// orderAlphabet has no 0/O, 1/I/L: numbers are read aloud at pop-ups.
const orderAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// newOrderNumber is short and human-readable, e.g. "K7Q-2MXD".
func newOrderNumber() string {
	b := make([]byte, 7)
	_, _ = rand.Read(b)
	out := make([]byte, 0, 8)
	for i, x := range b {
		if i == 3 {
			out = append(out, '-')
		}
		out = append(out, orderAlphabet[int(x)%len(orderAlphabet)])
	}
	return string(out)
}

// Checkout places an order for the viewer's cart and starts its payment.
// The order is PAID only when Stripe confirms (webhook). Holds stay reserved
// for the payment window. A replay with the same key resumes the same order
// and PaymentIntent.
func (o *Orders) Checkout(ctx context.Context, cartID int, with PayWith, key string) (CheckoutResult, error) {
	customerID, err := requireCustomer(ctx)
	if err != nil {
		return CheckoutResult{}, err
	}
	switch {
	case o.tillOnly != "":
		return CheckoutResult{}, badInput("cartId", "at pop-up %s, pay at the till: cash, your wallet pass, a card on the reader, or the till's QR code on your phone", o.tillOnly)
	case !with.Card && with.Wallet == nil:
		return CheckoutResult{}, badInput("payWith", "choose a payment method: card, wallet, or both")
	case with.Card && o.pay == nil:
		return CheckoutResult{}, &InputError{Field: "payWith.card", Msg: ErrPaymentsNotConfigured.Error()}
	case with.Wallet != nil && o.wallets == nil:
		return CheckoutResult{}, badInput("payWith.wallet", "wallet payments are not available")
	}
	sys := viewer.SystemContext(ctx)
	req := struct {
		Cart   int
		Card   bool
		Wallet *Money
	}{cartID, with.Card, with.Wallet}
	orderID, err := idempotent(ctx, o.db, "checkout", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		return o.placeOrder(sys, tx, customerID, cartID, with)
	})
	if err != nil {
		return CheckoutResult{}, err
	}
	return o.ensurePaymentIntent(sys, orderID)
}

func (o *Orders) placeOrder(ctx context.Context, tx *ent.Tx, customerID, cartID int, with PayWith) (int, error) {
	now := o.now()
	// OPEN → CHECKED_OUT is the first write, guarded: of concurrent
	// checkouts of one cart exactly one gets the row; the others wait for
	// its lock (PostgreSQL) or the write lock (SQLite) and find zero rows.
	// If anything below refuses, the rollback reopens the cart.
	n, err := tx.Cart.Update().Where(cart.ID(cartID), cart.CustomerID(customerID), cart.StatusEQ(cart.StatusOPEN)).
		SetStatus(cart.StatusCHECKED_OUT).Save(ctx)
	if err != nil {
		return 0, err
	}
	k, err := tx.Cart.Query().Where(cart.ID(cartID), cart.CustomerID(customerID)).Only(ctx)
	if err != nil {
		return 0, notFoundAs(err, "cart")
	}
	if n == 0 {
		return 0, fmt.Errorf("cart %d: %w", cartID, ErrCartCheckedOut)
	}
	lines, err := tx.CartLine.Query().Where(cartline.CartID(cartID),
		cartline.StatusIn(cartline.StatusHELD, cartline.StatusEXPIRED)).
		WithVariant(func(q *ent.VariantQuery) { q.WithProduct() }).All(ctx)
	if err != nil {
		return 0, err
	}
	var held []*ent.CartLine
	var total int64
	for _, l := range lines {
		if l.Status == cartline.StatusEXPIRED || !now.Before(l.ExpiresAt) {
			return 0, fmt.Errorf("line %d: %w", l.ID, ErrHoldExpired)
		}
		held = append(held, l)
		total += int64(l.Quantity) * l.UnitAmount
	}
	if len(held) == 0 {
		return 0, ErrEmptyCart
	}
	var fromWallet int64
	if with.Wallet != nil {
		switch {
		case with.Wallet.Currency != k.Currency:
			return 0, badInput("payWith.wallet", "the cart is in %s", k.Currency)
		case with.Wallet.Amount <= 0 || with.Wallet.Amount > total:
			return 0, badInput("payWith.wallet", "must be between 1 and the total, %d", total)
		}
		fromWallet = with.Wallet.Amount
	}
	byCard := total - fromWallet
	if byCard > 0 && !with.Card {
		return 0, badInput("payWith.card", "the wallet covers %d of %d; add card: true for the rest", fromWallet, total)
	}
	if byCard > 0 {
		if err := o.checkUnpaidCap(ctx, tx, customerID); err != nil {
			return 0, err
		}
	}
	due := now.Add(o.carts.cfg.PaymentWindow)
	oc := tx.Order.Create().SetNumber(newOrderNumber()).SetCustomerID(customerID).SetCartID(cartID).
		SetTotalAmount(total).SetCurrency(k.Currency).SetPaymentDueAt(due)
	if byCard == 0 {
		oc.SetStatus(order.StatusPAID).SetPaidAt(now) // settled below, in this transaction
	}
	ord, err := oc.Save(ctx)
	if err != nil {
		return 0, err
	}
	ids := make([]int, len(held))
	bulk := make([]*ent.OrderLineCreate, len(held))
	for i, l := range held {
		ids[i] = l.ID
		bulk[i] = tx.OrderLine.Create().SetOrderID(ord.ID).SetVariantID(l.VariantID).SetCartLineID(l.ID).
			SetNillableDropID(l.DropID).SetSku(l.Edges.Variant.Sku).
			SetTitle(l.Edges.Variant.Edges.Product.Title + " — " + l.Edges.Variant.Title).
			SetQuantity(l.Quantity).SetUnitAmount(l.UnitAmount).SetCurrency(l.Currency)
	}
	if err := tx.OrderLine.CreateBulk(bulk...).Exec(ctx); err != nil {
		return 0, err
	}
	o.afterCommit(tx, CartTopic(customerID), OrderTopic(ord.ID))
	if fromWallet > 0 {
		// Instant when the wallet pays it all; otherwise reserved until the
		// card part succeeds, and given back if it does not.
		st := payment.StatusPENDING
		if byCard == 0 {
			st = payment.StatusSUCCEEDED
		}
		if _, err := o.wallets.Post(ctx, tx, Posting{CustomerID: customerID, Currency: k.Currency, Amount: -fromWallet,
			Kind: walletentry.KindSPEND, Note: "order " + ord.Number, OrderID: &ord.ID}); err != nil {
			return 0, err
		}
		if err := tx.Payment.Create().SetOrderID(ord.ID).SetMethod(payment.MethodWALLET).SetStatus(st).
			SetAmount(fromWallet).SetCurrency(k.Currency).Exec(ctx); err != nil {
			return 0, err
		}
	}
	if byCard > 0 {
		// Keep the holds while the payment is in flight. Each line joins
		// one order only: HELD and not yet in an order, or nothing.
		n, err := tx.CartLine.Update().Where(cartline.IDIn(ids...), cartline.StatusEQ(cartline.StatusHELD), cartline.OrderIDIsNil()).
			SetOrderID(ord.ID).Save(ctx)
		if err != nil {
			return 0, err
		}
		if n != len(ids) {
			return 0, fmt.Errorf("order %s: %d of %d holds changed under us: %w", ord.Number, len(ids)-n, len(ids), ErrHoldExpired)
		}
		if err := tx.CartLine.Update().Where(cartline.IDIn(ids...), cartline.ExpiresAtLT(due)).SetExpiresAt(due).Exec(ctx); err != nil {
			return 0, err
		}
		if err := o.history(ctx, tx, ord.ID, order.StatusPENDING_PAYMENT, "checkout"); err != nil {
			return 0, err
		}
		return ord.ID, tx.Payment.Create().SetOrderID(ord.ID).SetMethod(payment.MethodCARD).
			SetAmount(byCard).SetCurrency(k.Currency).Exec(ctx)
	}
	// Nothing left to charge (all wallet, or a giveaway): sold and paid now.
	n, err = tx.CartLine.Update().Where(cartline.IDIn(ids...), cartline.StatusEQ(cartline.StatusHELD), cartline.OrderIDIsNil()).
		SetOrderID(ord.ID).SetStatus(cartline.StatusSOLD).Save(ctx)
	if err != nil {
		return 0, err
	}
	if n != len(ids) {
		return 0, fmt.Errorf("order %s: %d of %d holds changed under us: %w", ord.Number, len(ids)-n, len(ids), ErrHoldExpired)
	}
	o.changed(tx, ord.ID)
	return ord.ID, tx.OrderEvent.CreateBulk(
		tx.OrderEvent.Create().SetOrderID(ord.ID).SetStatus(string(order.StatusPENDING_PAYMENT)).SetNote("checkout").SetCreatedAt(now),
		tx.OrderEvent.Create().SetOrderID(ord.ID).SetStatus(string(order.StatusPAID)).SetNote("paid").SetCreatedAt(now),
	).Exec(ctx)
}

// checkUnpaidCap refuses a card checkout while the customer has
// MaxUnpaidOrders orders awaiting payment: each keeps its holds for the
// payment window. It counts after placeOrder's first write, the cart's
// OPEN → CHECKED_OUT: a customer has one open cart, and the next opens
// only once this one's checkout commits (adds wait on its row lock), so
// a customer's checkouts count one after another.
func (o *Orders) checkUnpaidCap(ctx context.Context, tx *ent.Tx, customerID int) error {
	n, err := tx.Order.Query().Where(order.CustomerID(customerID), order.StatusEQ(order.StatusPENDING_PAYMENT)).Count(ctx)
	if err != nil {
		return err
	}
	if limit := o.carts.cfg.MaxUnpaidOrders; n >= limit {
		return &LimitError{What: "orders awaiting payment (pay one, or wait until its payment window ends)", Limit: limit, Have: n}
	}
	return nil
}

// ensurePaymentIntent creates the order's PaymentIntent if it has none yet.
// The Stripe idempotency key is derived from the order id, so a retry after
// a lost response gets the same PaymentIntent back.
func (o *Orders) ensurePaymentIntent(ctx context.Context, orderID int) (CheckoutResult, error) {
	res := CheckoutResult{OrderID: orderID}
	p, err := o.db.Payment.Query().Where(payment.OrderID(orderID), payment.MethodEQ(payment.MethodCARD)).Only(ctx)
	if ent.IsNotFound(err) {
		return res, nil // a free order: nothing to pay
	}
	if err != nil {
		return res, fmt.Errorf("checkout: payment of order %d: %w", orderID, err)
	}
	if p.StripePaymentIntentID != nil {
		res.PaymentIntentID, res.ClientSecret = *p.StripePaymentIntentID, p.ClientSecret
		return res, nil
	}
	ord, err := o.db.Order.Get(ctx, orderID)
	if err != nil {
		return res, err
	}
	pi, err := o.pay.CreatePaymentIntent(ctx, PaymentIntentParams{
		Amount: p.Amount, Currency: p.Currency, OrderID: orderID, OrderNumber: "order " + ord.Number,
		Purpose: "order", IdempotencyKey: "merchd-order-" + strconv.Itoa(orderID) + "-payment-" + strconv.Itoa(p.ID),
	})
	if err != nil {
		return res, fmt.Errorf("checkout: order %s: %w", ord.Number, err)
	}
	n, err := o.db.Payment.Update().Where(payment.ID(p.ID), payment.StripePaymentIntentIDIsNil()).
		SetStripePaymentIntentID(pi.ID).SetClientSecret(pi.ClientSecret).Save(ctx)
	if err != nil {
		return res, fmt.Errorf("checkout: store payment intent: %w", err)
	}
	if n == 0 { // a concurrent replay stored its PaymentIntent first: every caller gets that one
		p, err := o.db.Payment.Get(ctx, p.ID)
		if err != nil || p.StripePaymentIntentID == nil {
			return res, fmt.Errorf("checkout: order %d: re-read payment intent: %v", orderID, err)
		}
		pi.ID, pi.ClientSecret = *p.StripePaymentIntentID, p.ClientSecret
	}
	res.PaymentIntentID, res.ClientSecret = pi.ID, pi.ClientSecret
	return res, nil
}

func (o *Orders) history(ctx context.Context, tx *ent.Tx, orderID int, status order.Status, note string) error {
	return tx.OrderEvent.Create().SetOrderID(orderID).SetStatus(string(status)).SetNote(note).SetCreatedAt(o.now()).Exec(ctx)
}

// sell turns the order's held lines into sold ones. Lines no longer held
// (their hold expired) are taken again if stock remains; if any cannot be,
// it fails with ErrOutOfStock and the caller rolls everything back.
func (o *Orders) sell(ctx context.Context, tx *ent.Tx, orderID int) error {
	lines, err := tx.CartLine.Query().Where(cartline.OrderID(orderID)).All(ctx)
	if err != nil {
		return err
	}
	for _, l := range lines {
		switch l.Status {
		case cartline.StatusSOLD:
		case cartline.StatusHELD:
			n, err := tx.CartLine.Update().Where(cartline.ID(l.ID), cartline.StatusEQ(cartline.StatusHELD)).
				SetStatus(cartline.StatusSOLD).Save(ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("line %d changed under us: %w", l.ID, ErrOutOfStock)
			}
		default:
			if err := o.carts.retake(ctx, tx, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// PaymentEvent is a payment's outcome as Stripe reports it.
type PaymentEvent struct {
	EventID         string
	Type            string // payment_intent.succeeded, .payment_failed, .canceled
	PaymentIntentID string
	Amount          int64
	Currency        string
	OrderID         int    // from the PaymentIntent's metadata, if any
	TopUpID         int    // likewise, for wallet top-ups
	HubSaleID       string // likewise, for a hub's phone-paid sale
	Install         string // likewise: the installation that created it
}

// ErrDuplicateEvent reports an event id that was processed before.
var ErrDuplicateEvent = errors.New("event already processed")

// HandlePaymentEvent applies one Stripe event exactly once. Success after
// failure or cancellation (or after the payment window) re-takes the units
// if stock remains, and otherwise cancels the order and refunds the card.
// Failure or cancellation after success changes nothing.
func (o *Orders) HandlePaymentEvent(ctx context.Context, ev PaymentEvent) error {
	if ev.Install != "" && o.install != "" && ev.Install != o.install {
		// Another installation on the same Stripe account: its metadata
		// (order and top-up ids) names rows of its own database, not ours.
		o.log.Info("stripe event of another installation ignored", "event_id", ev.EventID, "install", ev.Install)
		return nil
	}
	sys := viewer.SystemContext(ctx)
	var refundID, topUpMismatch int
	_, err := withTx(sys, o.db, "payment event", func(tx *ent.Tx) (struct{}, error) {
		refundID, topUpMismatch = 0, 0
		n, err := o.carts.exec(sys, tx, `INSERT INTO stripe_events (event_id, type, created_at) VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
			ev.EventID, ev.Type, o.now())
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			return struct{}{}, ErrDuplicateEvent
		}
		if done, err := applyHubPaymentEvent(sys, tx, ev, o.now()); err != nil || done {
			return struct{}{}, err
		}
		if t, err := o.topUpFor(sys, tx, ev); err != nil || t != nil {
			if err != nil {
				return struct{}{}, err
			}
			back, err := o.wallets.applyTopUpEvent(sys, tx, t, ev)
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
		refundID, err = withTx(sys, o.db, "late payment", func(tx *ent.Tx) (int, error) {
			return o.refundLatePayment(sys, tx, ev, late)
		})
	}
	if errors.Is(err, ErrDuplicateEvent) {
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
func (o *Orders) refundTopUpMismatch(ctx context.Context, topUpID int, ev PaymentEvent) {
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
func (o *Orders) refundLatePayment(ctx context.Context, tx *ent.Tx, ev PaymentEvent, late errLateNoStock) (int, error) {
	n, err := o.carts.exec(ctx, tx, `INSERT INTO stripe_events (event_id, type, created_at) VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
		ev.EventID, ev.Type, o.now())
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, ErrDuplicateEvent
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

func (o *Orders) topUpFor(ctx context.Context, tx *ent.Tx, ev PaymentEvent) (*ent.TopUp, error) {
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

// HandleSubscriptionEvent applies a membership billing event exactly once.
func (o *Orders) HandleSubscriptionEvent(ctx context.Context, ev SubscriptionEvent) error {
	if o.memberships == nil {
		return nil
	}
	sys := viewer.SystemContext(ctx)
	_, err := withTx(sys, o.db, "subscription event", func(tx *ent.Tx) (struct{}, error) {
		n, err := o.carts.exec(sys, tx, `INSERT INTO stripe_events (event_id, type, created_at) VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
			ev.EventID, ev.Type, o.now())
		if err != nil || n == 0 {
			return struct{}{}, err
		}
		return struct{}{}, o.memberships.applySubscriptionEvent(sys, tx, ev, o.log)
	})
	return err
}

func (o *Orders) paymentFor(ctx context.Context, tx *ent.Tx, ev PaymentEvent) (*ent.Payment, error) {
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
func (o *Orders) applyPaymentEvent(ctx context.Context, tx *ent.Tx, p *ent.Payment, ev PaymentEvent) (int, error) {
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
		if ev.Amount != p.Amount || !equalFoldCurrency(ev.Currency, p.Currency) {
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
			if !errors.Is(err, ErrOutOfStock) && !errors.Is(err, ErrLimitExceeded) {
				return 0, err
			}
			return 0, errLateNoStock{orderID: ord.ID, paymentID: p.ID, reason: "paid after the hold expired; units gone"}
		}
		if err := o.chargeWallet(ctx, tx, ord); err != nil {
			if !errors.Is(err, ErrInsufficientFunds) {
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
		o.changed(tx, ord.ID)
		return 0, o.history(ctx, tx, ord.ID, order.StatusPAID, "payment succeeded")
	}
	return 0, nil
}

// mismatchedPayment records a success whose amount or currency is not the
// payment's: the payment becomes MISMATCH for staff, a still-pending order
// is canceled (its units and wallet part go back), and what Stripe
// captured is refunded to the card after commit.
func (o *Orders) mismatchedPayment(ctx context.Context, tx *ent.Tx, p *ent.Payment, ord *ent.Order, ev PaymentEvent) (int, error) {
	o.log.Error("stripe amount does not match the order; refunding", "order_id", ord.ID, "event_id", ev.EventID,
		"amount", ev.Amount, "currency", ev.Currency, "want_amount", p.Amount, "want_currency", p.Currency)
	n, err := tx.Payment.Update().Where(payment.ID(p.ID),
		payment.StatusIn(payment.StatusPENDING, payment.StatusFAILED, payment.StatusCANCELED)).
		SetStatus(payment.StatusMISMATCH).Save(ctx)
	if err != nil || n == 0 {
		return 0, err // settled (or already flagged) by an earlier event
	}
	note := fmt.Sprintf("stripe captured %d %s, the order asked %d %s: refunding to card", ev.Amount, toUpper(ev.Currency), p.Amount, p.Currency)
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
	if ev.Amount <= 0 || !isCurrencyCode(toUpper(ev.Currency)) {
		return 0, nil // nothing (or nothing we can name) to give back: staff see MISMATCH
	}
	r, err := tx.Refund.Create().SetOrderID(ord.ID).SetPaymentID(p.ID).SetAmount(ev.Amount).SetCurrency(toUpper(ev.Currency)).
		SetTo(refund.ToCARD).SetReason("stripe captured another amount or currency than the order").Save(ctx)
	if err != nil {
		return 0, err
	}
	return r.ID, nil
}

func equalFoldCurrency(a, b string) bool {
	return len(a) == 3 && len(b) == 3 && (a == b || toUpper(a) == toUpper(b))
}

func toUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
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

// releaseOrder returns the units of an order's held lines.
func (o *Orders) releaseOrder(ctx context.Context, tx *ent.Tx, orderID int) error {
	lines, err := tx.CartLine.Query().Where(cartline.OrderID(orderID), cartline.StatusEQ(cartline.StatusHELD)).All(ctx)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if _, err := o.carts.release(ctx, tx, l, cartline.StatusRELEASED); err != nil {
			return err
		}
	}
	return nil
}

// chargeWallet settles a split payment's reserved wallet part: the card
// part succeeded, and the units are sold. If the reservation was given back
// meanwhile (the order was canceled), it is taken again.
func (o *Orders) chargeWallet(ctx context.Context, tx *ent.Tx, ord *ent.Order) error {
	wp, err := tx.Payment.Query().Where(payment.OrderID(ord.ID), payment.MethodEQ(payment.MethodWALLET)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil || wp.Status == payment.StatusSUCCEEDED {
		return err
	}
	if wp.Status == payment.StatusCANCELED {
		if _, err := o.wallets.Post(ctx, tx, Posting{CustomerID: ord.CustomerID, Currency: wp.Currency, Amount: -wp.Amount,
			Kind: walletentry.KindSPEND, Note: "order " + ord.Number, OrderID: &ord.ID}); err != nil {
			return err
		}
	}
	return tx.Payment.UpdateOneID(wp.ID).SetStatus(payment.StatusSUCCEEDED).Exec(ctx)
}

// releaseWallet gives back a split payment's reserved wallet part with a
// REVERSAL of its SPEND entry (once: an entry is reversed at most once).
func (o *Orders) releaseWallet(ctx context.Context, tx *ent.Tx, orderID int) error {
	n, err := tx.Payment.Update().Where(payment.OrderID(orderID), payment.MethodEQ(payment.MethodWALLET),
		payment.StatusEQ(payment.StatusPENDING)).SetStatus(payment.StatusCANCELED).Save(ctx)
	if err != nil || n == 0 {
		return err
	}
	spends, err := tx.WalletEntry.Query().Where(walletentry.OrderID(orderID), walletentry.KindEQ(walletentry.KindSPEND)).All(ctx)
	if err != nil {
		return err
	}
	for _, e := range spends {
		done, err := tx.WalletEntry.Query().Where(walletentry.ReversesID(e.ID)).Exist(ctx)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		if _, err := o.wallets.Post(ctx, tx, Posting{CustomerID: e.CustomerID, Currency: currencyOf(ctx, tx, e.WalletID),
			Amount: -e.Amount, Kind: walletentry.KindREVERSAL, Note: "card part of the order did not go through",
			OrderID: &orderID, Reverses: &e.ID}); err != nil {
			return err
		}
	}
	return nil
}

func currencyOf(ctx context.Context, tx *ent.Tx, walletID int) string {
	w, err := tx.Wallet.Get(ctx, walletID)
	if err != nil {
		return ""
	}
	return w.Currency
}

// changed announces, once tx commits, that an order's status moved.
func (o *Orders) changed(tx *ent.Tx, orderID int) {
	o.afterCommit(tx, OrderTopic(orderID))
}
