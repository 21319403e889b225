package orders

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/delivery"
	"github.com/merchd/merchd/checkout/memberships"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cart"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/payment"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/walletentry"
)

// Service turns carts into orders and follows their payments.
type Service struct {
	db          *ent.Client
	dialect     string
	carts       *carts.Service
	wallets     *wallets.Service
	memberships *memberships.Service
	pay         checkout.PaymentProvider // nil: card payments are not configured
	now         func() time.Time
	log         *slog.Logger
	tillOnly    string // at a hub: its code; carts check out at the till
	install     string // InstallID: Stripe events of other installations are not ours
	retention   RetentionConfig
	others      []checkout.PaymentEventHandler
	fulfil      checkout.Fulfiller
	delivery    *delivery.Service // nil: no delivery choices (a hub)
	outbox      checkout.Outbox   // nil: no emails or webhooks
	hubCursorMu sync.Mutex
	hubCursor   int // the last abandoned hub payment looked at
	txn.Announcer
}

// SellAtTillOnly makes this server, the hub hubCode, refuse cart checkout:
// at a pop-up every sale goes through the till (hubSell), the one path
// whose sales, payments and wallet spends reach central through the
// outbox. Buyers' phones pay the till's QR code on central's page.
func (o *Service) SellAtTillOnly(hubCode string) { o.tillOnly = hubCode }

// New returns the order service. pay may be nil.
//
// others apply the payment events that are not about orders or top-ups
// (central's hub payments), each in the webhook's transaction.
//
// fulfil (nil: none) opens each order's fulfilment when it is paid.
func New(db *ent.Client, dialectName string, carts *carts.Service, wallets *wallets.Service, memberships *memberships.Service, pay checkout.PaymentProvider, now func() time.Time, log *slog.Logger, fulfil checkout.Fulfiller, others ...checkout.PaymentEventHandler) *Service {
	return &Service{db: db, dialect: dialectName, carts: carts, wallets: wallets, memberships: memberships, pay: pay, now: now, log: log,
		retention: DefaultRetention(), fulfil: fulfil, others: others}
}

// UseDelivery makes checkout take each cart's delivery choice onto its
// order: its price into the total, its pickup place kept once paid.
func (o *Service) UseDelivery(d *delivery.Service) { o.delivery = d }

// SetOutbox records the orders' events (order.paid, refund.issued) in
// the transactions that cause them.
func (o *Service) SetOutbox(ob checkout.Outbox) { o.outbox = ob }

// paid is what follows an order becoming PAID, in the same transaction:
// the buyer's confirmation and the order.paid webhooks, and its fulfilment.
func (o *Service) paid(ctx context.Context, tx *ent.Tx, ord *ent.Order) error {
	o.changed(tx, ord.ID)
	if err := checkout.Record(ctx, o.outbox, tx, checkout.Event{Type: checkout.EventOrderPaid, OrderID: ord.ID, CustomerID: ord.CustomerID,
		Data: map[string]any{"order_id": gid.Encode(ord.ID), "number": ord.Number, "amount": ord.TotalAmount, "currency": ord.Currency}}); err != nil {
		return err
	}
	if o.fulfil == nil {
		return nil
	}
	return o.fulfil.Open(viewer.SystemContext(ctx), tx, ord.ID, ord.CustomerID)
}

// applyOther hands ev to the handler that owns it, if any.
func (o *Service) applyOther(ctx context.Context, tx *ent.Tx, ev checkout.PaymentEvent) (bool, error) {
	for _, h := range o.others {
		if done, err := h.ApplyPaymentEvent(ctx, tx, ev); err != nil || done {
			return done, err
		}
	}
	return false, nil
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
func (o *Service) Checkout(ctx context.Context, cartID int, with checkout.PayWith, key string) (CheckoutResult, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return CheckoutResult{}, err
	}
	switch {
	case o.tillOnly != "":
		return CheckoutResult{}, checkout.BadInput("cartId", "at pop-up %s, pay at the till: cash, your wallet pass, a card on the reader, or the till's QR code on your phone", o.tillOnly)
	case !with.Card && with.Wallet == nil:
		return CheckoutResult{}, checkout.BadInput("payWith", "choose a payment method: card, wallet, or both")
	case with.Card && o.pay == nil:
		return CheckoutResult{}, &checkout.InputError{Field: "payWith.card", Msg: checkout.ErrPaymentsNotConfigured.Error()}
	case with.Wallet != nil && o.wallets == nil:
		return CheckoutResult{}, checkout.BadInput("payWith.wallet", "wallet payments are not available")
	}
	sys := viewer.SystemContext(ctx)
	req := struct {
		Cart   int
		Card   bool
		Wallet *checkout.Money
	}{cartID, with.Card, with.Wallet}
	orderID, err := txn.Idempotent(ctx, o.db, "checkout", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		return o.placeOrder(sys, tx, customerID, cartID, with)
	})
	if err != nil {
		return CheckoutResult{}, err
	}
	return o.ensurePaymentIntent(sys, orderID)
}

func (o *Service) placeOrder(ctx context.Context, tx *ent.Tx, customerID, cartID int, with checkout.PayWith) (int, error) {
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
		return 0, checkout.NotFoundAs(err, "cart")
	}
	if n == 0 {
		return 0, fmt.Errorf("cart %d: %w", cartID, checkout.ErrCartCheckedOut)
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
			return 0, fmt.Errorf("line %d: %w", l.ID, checkout.ErrHoldExpired)
		}
		held = append(held, l)
		total += int64(l.Quantity) * l.UnitAmount
	}
	if len(held) == 0 {
		return 0, checkout.ErrEmptyCart
	}
	// The delivery price is decided by the delivery service and added to
	// the total here, once: every payment below (wallet, card) is a part
	// of this total, so what is charged includes it exactly once.
	var joined delivery.Joined
	if o.delivery != nil {
		if joined, err = o.delivery.Join(ctx, tx, k); err != nil {
			return 0, err
		}
		if total, err = checkout.AddMoney(total, joined.Price); err != nil {
			return 0, checkout.BadInput("cartId", "the order total is too large")
		}
	}
	var fromWallet int64
	if with.Wallet != nil {
		switch {
		case with.Wallet.Currency != k.Currency:
			return 0, checkout.BadInput("payWith.wallet", "the cart is in %s", k.Currency)
		case with.Wallet.Amount <= 0 || with.Wallet.Amount > total:
			return 0, checkout.BadInput("payWith.wallet", "must be between 1 and the total, %d", total)
		}
		fromWallet = with.Wallet.Amount
	}
	byCard := total - fromWallet
	if byCard > 0 && !with.Card {
		return 0, checkout.BadInput("payWith.card", "the wallet covers %d of %d; add card: true for the rest", fromWallet, total)
	}
	if byCard > 0 {
		if err := o.checkUnpaidCap(ctx, tx, customerID); err != nil {
			return 0, err
		}
	}
	due := now.Add(o.carts.Cfg.PaymentWindow)
	oc := tx.Order.Create().SetNumber(newOrderNumber()).SetCustomerID(customerID).SetCartID(cartID).
		SetTotalAmount(total).SetDeliveryAmount(joined.Price).SetCurrency(k.Currency).SetPaymentDueAt(due)
	if byCard == 0 {
		oc.SetStatus(order.StatusPAID).SetPaidAt(now) // settled below, in this transaction
	}
	ord, err := oc.Save(ctx)
	if err != nil {
		return 0, err
	}
	if o.delivery != nil {
		if err := o.delivery.Attach(ctx, tx, joined, ord.ID); err != nil {
			return 0, err
		}
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
	o.AfterCommit(tx, checkout.CartTopic(customerID), checkout.OrderTopic(ord.ID))
	if fromWallet > 0 {
		// Instant when the wallet pays it all; otherwise reserved until the
		// card part succeeds, and given back if it does not.
		st := payment.StatusPENDING
		if byCard == 0 {
			st = payment.StatusSUCCEEDED
		}
		if _, err := o.wallets.Post(ctx, tx, wallets.Posting{CustomerID: customerID, Currency: k.Currency, Amount: -fromWallet,
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
			return 0, fmt.Errorf("order %s: %d of %d holds changed under us: %w", ord.Number, len(ids)-n, len(ids), checkout.ErrHoldExpired)
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
		return 0, fmt.Errorf("order %s: %d of %d holds changed under us: %w", ord.Number, len(ids)-n, len(ids), checkout.ErrHoldExpired)
	}
	if o.delivery != nil {
		if err := o.delivery.Sold(ctx, tx, ord.ID); err != nil {
			return 0, err
		}
	}
	if err := o.paid(ctx, tx, ord); err != nil {
		return 0, err
	}
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
func (o *Service) checkUnpaidCap(ctx context.Context, tx *ent.Tx, customerID int) error {
	n, err := tx.Order.Query().Where(order.CustomerID(customerID), order.StatusEQ(order.StatusPENDING_PAYMENT)).Count(ctx)
	if err != nil {
		return err
	}
	if limit := o.carts.Cfg.MaxUnpaidOrders; n >= limit {
		return &checkout.LimitError{What: "orders awaiting payment (pay one, or wait until its payment window ends)", Limit: limit, Have: n}
	}
	return nil
}

// ensurePaymentIntent creates the order's PaymentIntent if it has none yet.
// The Stripe idempotency key is derived from the order id, so a retry after
// a lost response gets the same PaymentIntent back.
func (o *Service) ensurePaymentIntent(ctx context.Context, orderID int) (CheckoutResult, error) {
	res := CheckoutResult{OrderID: orderID}
	p, err := o.db.Payment.Query().Where(payment.OrderID(orderID), payment.MethodEQ(payment.MethodCARD)).Only(ctx)
	if ent.IsNotFound(err) {
		return res, nil // a free order: nothing to pay
	}
	if err != nil {
		return res, fmt.Errorf("orders: payment of order %d: %w", orderID, err)
	}
	if p.StripePaymentIntentID != nil {
		res.PaymentIntentID, res.ClientSecret = *p.StripePaymentIntentID, p.ClientSecret
		return res, nil
	}
	ord, err := o.db.Order.Get(ctx, orderID)
	if err != nil {
		return res, err
	}
	pi, err := o.pay.CreatePaymentIntent(ctx, checkout.PaymentIntentParams{
		Amount: p.Amount, Currency: p.Currency, OrderID: orderID, OrderNumber: "order " + ord.Number,
		Purpose: "order", IdempotencyKey: "merchd-order-" + strconv.Itoa(orderID) + "-payment-" + strconv.Itoa(p.ID),
	})
	if err != nil {
		return res, fmt.Errorf("orders: order %s: %w", ord.Number, err)
	}
	n, err := o.db.Payment.Update().Where(payment.ID(p.ID), payment.StripePaymentIntentIDIsNil()).
		SetStripePaymentIntentID(pi.ID).SetClientSecret(pi.ClientSecret).Save(ctx)
	if err != nil {
		return res, fmt.Errorf("orders: store payment intent: %w", err)
	}
	if n == 0 { // a concurrent replay stored its PaymentIntent first: every caller gets that one
		p, err := o.db.Payment.Get(ctx, p.ID)
		if err != nil || p.StripePaymentIntentID == nil {
			return res, fmt.Errorf("orders: order %d: re-read payment intent: %v", orderID, err)
		}
		pi.ID, pi.ClientSecret = *p.StripePaymentIntentID, p.ClientSecret
	}
	res.PaymentIntentID, res.ClientSecret = pi.ID, pi.ClientSecret
	return res, nil
}

func (o *Service) history(ctx context.Context, tx *ent.Tx, orderID int, status order.Status, note string) error {
	return tx.OrderEvent.Create().SetOrderID(orderID).SetStatus(string(status)).SetNote(note).SetCreatedAt(o.now()).Exec(ctx)
}

// sell turns the order's held lines into sold ones. Lines no longer held
// (their hold expired) are taken again if stock remains; if any cannot be,
// it fails with ErrOutOfStock and the caller rolls everything back.
func (o *Service) sell(ctx context.Context, tx *ent.Tx, orderID int) error {
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
				return fmt.Errorf("line %d changed under us: %w", l.ID, checkout.ErrOutOfStock)
			}
		default:
			if err := o.carts.Retake(ctx, tx, l); err != nil {
				return err
			}
		}
	}
	if o.delivery != nil {
		// The pickup place is kept for good (or taken again, if it went
		// back with the holds: ErrWindowFull if the window filled since).
		return o.delivery.Sold(ctx, tx, orderID)
	}
	return nil
}

// releaseOrder returns the units of an order's held lines.
func (o *Service) releaseOrder(ctx context.Context, tx *ent.Tx, orderID int) error {
	lines, err := tx.CartLine.Query().Where(cartline.OrderID(orderID), cartline.StatusEQ(cartline.StatusHELD)).All(ctx)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if _, err := o.carts.Release(ctx, tx, l, cartline.StatusRELEASED); err != nil {
			return err
		}
	}
	return nil
}

// chargeWallet settles a split payment's reserved wallet part: the card
// part succeeded, and the units are sold. If the reservation was given back
// meanwhile (the order was canceled), it is taken again.
func (o *Service) chargeWallet(ctx context.Context, tx *ent.Tx, ord *ent.Order) error {
	wp, err := tx.Payment.Query().Where(payment.OrderID(ord.ID), payment.MethodEQ(payment.MethodWALLET)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil || wp.Status == payment.StatusSUCCEEDED {
		return err
	}
	if wp.Status == payment.StatusCANCELED {
		if _, err := o.wallets.Post(ctx, tx, wallets.Posting{CustomerID: ord.CustomerID, Currency: wp.Currency, Amount: -wp.Amount,
			Kind: walletentry.KindSPEND, Note: "order " + ord.Number, OrderID: &ord.ID}); err != nil {
			return err
		}
	}
	return tx.Payment.UpdateOneID(wp.ID).SetStatus(payment.StatusSUCCEEDED).Exec(ctx)
}

// releaseWallet gives back a split payment's reserved wallet part with a
// REVERSAL of its SPEND entry (once: an entry is reversed at most once).
func (o *Service) releaseWallet(ctx context.Context, tx *ent.Tx, orderID int) error {
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
		if _, err := o.wallets.Post(ctx, tx, wallets.Posting{CustomerID: e.CustomerID, Currency: currencyOf(ctx, tx, e.WalletID),
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
func (o *Service) changed(tx *ent.Tx, orderID int) {
	o.AfterCommit(tx, checkout.OrderTopic(orderID))
}
