package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"
)

// StripeConfig configures card payments. Secrets come only from the
// environment or files, never flags.
type StripeConfig struct {
	SecretKey     Secret
	WebhookSecret Secret
	// APIURL overrides Stripe's API (stripe-mock in tests).
	APIURL string
}

// Secret is a string that never appears in logs.
type Secret string

// LogValue hides the secret from slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String hides the secret from fmt.
func (Secret) String() string { return "[redacted]" }

// Enabled reports whether card payments are configured.
func (c StripeConfig) Enabled() bool { return c.SecretKey != "" }

// Validate reports unusable settings.
func (c StripeConfig) Validate() error {
	if c.SecretKey == "" {
		return nil
	}
	if !strings.HasPrefix(string(c.SecretKey), "sk_") && !strings.HasPrefix(string(c.SecretKey), "rk_") {
		return errors.New("checkout: the Stripe secret key must start with sk_ or rk_")
	}
	if c.WebhookSecret == "" {
		return errors.New("checkout: a Stripe secret key needs a webhook signing secret (whsec_…) too, or payments never complete")
	}
	return nil
}

// StripeProvider is PaymentProvider on stripe-go.
type StripeProvider struct{ api *client.API }

// NewStripeProvider returns a provider for cfg.
func NewStripeProvider(cfg StripeConfig) *StripeProvider {
	bc := &stripe.BackendConfig{
		MaxNetworkRetries: stripe.Int64(2),
		HTTPClient:        &http.Client{Timeout: 20 * time.Second},
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelError},
	}
	if cfg.APIURL != "" {
		bc.URL = stripe.String(cfg.APIURL)
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	api := &client.API{}
	api.Init(string(cfg.SecretKey), &stripe.Backends{API: b, Connect: b, Uploads: b})
	return &StripeProvider{api: api}
}

// CreatePaymentIntent creates a PaymentIntent for automatic payment methods.
func (s *StripeProvider) CreatePaymentIntent(ctx context.Context, p PaymentIntentParams) (PaymentIntent, error) {
	params := &stripe.PaymentIntentParams{
		Amount:   stripe.Int64(p.Amount),
		Currency: stripe.String(strings.ToLower(p.Currency)),
		AutomaticPaymentMethods: &stripe.PaymentIntentAutomaticPaymentMethodsParams{
			Enabled: stripe.Bool(true),
		},
		Description: stripe.String("merchd order " + p.OrderNumber),
	}
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	params.AddMetadata("merchd_order_id", strconv.Itoa(p.OrderID))
	params.AddMetadata("merchd_purpose", p.Purpose)
	pi, err := s.api.PaymentIntents.New(params)
	if err != nil {
		return PaymentIntent{}, stripeError("create payment intent", err)
	}
	return PaymentIntent{ID: pi.ID, ClientSecret: pi.ClientSecret, Status: string(pi.Status)}, nil
}

// CancelPaymentIntent cancels a PaymentIntent that will not be paid.
func (s *StripeProvider) CancelPaymentIntent(ctx context.Context, id, key string) error {
	params := &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("abandoned")}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	_, err := s.api.PaymentIntents.Cancel(id, params)
	return stripeError("cancel payment intent", err)
}

// Refund returns amount of a PaymentIntent to the card.
func (s *StripeProvider) Refund(ctx context.Context, paymentIntentID string, amount int64, key string) (string, error) {
	params := &stripe.RefundParams{PaymentIntent: stripe.String(paymentIntentID), Amount: stripe.Int64(amount)}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	r, err := s.api.Refunds.New(params)
	if err != nil {
		return "", stripeError("refund", err)
	}
	return r.ID, nil
}

// stripeError turns card refusals into ErrPaymentDeclined; anything else
// (network, auth, bad request) stays an internal error.
func stripeError(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *stripe.Error
	if errors.As(err, &se) && se.Type == stripe.ErrorTypeCard {
		return fmt.Errorf("stripe %s: %s: %w", op, se.Msg, ErrPaymentDeclined)
	}
	return fmt.Errorf("stripe %s: %w", op, err)
}
