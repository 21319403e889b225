package checkout

import "context"

// PaymentIntent is the part of a Stripe PaymentIntent merchd keeps.
type PaymentIntent struct {
	ID           string
	ClientSecret string
	Status       string
}

// PaymentProvider creates, cancels and refunds card payments. StripeProvider
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
	Purpose        string // "order" (the wallet issue adds top-ups)
	IdempotencyKey string
}
