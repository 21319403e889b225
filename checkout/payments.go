package checkout

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/merchd/merchd/ent"
)

// PaymentIntent is the part of a Stripe PaymentIntent merchd keeps.
type PaymentIntent struct {
	ID           string
	ClientSecret string
	Status       string
}

// PaymentProvider creates, cancels and refunds card payments. payments.Provider
// is the real one; every call carries an idempotency key derived from
// merchd's own ids, so a retried call cannot charge or refund twice.
type PaymentProvider interface {
	CreatePaymentIntent(ctx context.Context, p PaymentIntentParams) (PaymentIntent, error)
	CancelPaymentIntent(ctx context.Context, id, idempotencyKey string) error
	Refund(ctx context.Context, paymentIntentID string, amount int64, idempotencyKey string) (refundID string, err error)
}

// PaymentIntentParams is what a PaymentIntent is created with.
type PaymentIntentParams struct {
	Amount         int64
	Currency       string // ISO 4217, upper case
	OrderID        int
	OrderNumber    string
	Purpose        string // "order", "topup" or "hub"
	TopUpID        int
	HubSaleID      string // a hub's phone- or terminal-paid sale
	CardPresent    bool   // collected by a Terminal reader
	IdempotencyKey string
}

// Subscriptions is the part of the provider card memberships use.
type Subscriptions interface {
	EnsureCustomer(ctx context.Context, customerID int, email, idempotencyKey string) (string, error)
	EnsureProduct(ctx context.Context, name, idempotencyKey string) (string, error)
	CreateSubscription(ctx context.Context, p SubscriptionParams) (Subscription, error)
	CancelSubscription(ctx context.Context, id, idempotencyKey string) error
}

// SubscriptionParams creates a recurring card payment for a membership.
type SubscriptionParams struct {
	StripeCustomerID string
	ProductID        string
	Amount           int64
	Currency         string
	Interval         string // "month" or "year"
	MembershipID     int
	IdempotencyKey   string
}

// Subscription is the part of a Stripe Subscription merchd keeps.
type Subscription struct {
	ID           string
	ClientSecret string // of the first invoice's PaymentIntent
	Status       string
}

// Secret is a string that never appears in logs.
type Secret string

// LogValue hides the secret from slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String hides the secret from fmt.
func (Secret) String() string { return "[redacted]" }

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

// ErrDuplicateEvent reports an event id that was processed before. It is
// the webhook's bookkeeping, not a refusal of a client: it has no code in
// the error table (INTERNAL, should one ever escape).
var ErrDuplicateEvent = errors.New("event already processed")

// SubscriptionEvent is a membership's billing news from Stripe.
type SubscriptionEvent struct {
	EventID, Type, SubscriptionID string
	PeriodEnd                     time.Time // invoice.paid: the paid period's end
}

// PayWith says how a checkout is paid.
type PayWith struct {
	Card   bool
	Wallet *Money
}

// Fulfiller opens the fulfilment of an order, in the transaction that
// makes the order PAID: there is never a paid order without one.
type Fulfiller interface {
	Open(ctx context.Context, tx *ent.Tx, orderID, customerID int) error
	// CancelOpen cancels, in tx, the order's fulfilments not yet handed
	// over: an order refunded in full is not also handed over.
	CancelOpen(ctx context.Context, tx *ent.Tx, orderID int, note string) error
	// Withdraw takes up to n units of an order line out of the order's
	// fulfilments not yet handed over (a line refunded before its
	// handover); it returns how many it took.
	Withdraw(ctx context.Context, tx *ent.Tx, orderID, lineID, n int, note string) (int, error)
}

// PaymentEventHandler applies, in the webhook's transaction, a payment
// event about something it owns; handled is false for any other event.
type PaymentEventHandler interface {
	ApplyPaymentEvent(ctx context.Context, tx *ent.Tx, ev PaymentEvent) (handled bool, err error)
}
