package payments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/setting"
	"github.com/merchd/merchd/ent/viewer"
)

// Config configures card payments. Secrets come only from the
// environment or files, never flags.
type Config struct {
	SecretKey     checkout.Secret
	WebhookSecret checkout.Secret
	// APIURL overrides Stripe's API (stripe-mock in tests).
	APIURL string
}

// Enabled reports whether card payments are configured.
func (c Config) Enabled() bool { return c.SecretKey != "" }

// Validate reports unusable settings.
func (c Config) Validate() error {
	if c.SecretKey == "" {
		return nil
	}
	if !strings.HasPrefix(string(c.SecretKey), "sk_") && !strings.HasPrefix(string(c.SecretKey), "rk_") {
		return errors.New("payments: the Stripe secret key must start with sk_ or rk_")
	}
	if c.WebhookSecret == "" {
		return errors.New("payments: a Stripe secret key needs a webhook signing secret (whsec_…) too, or payments never complete")
	}
	return nil
}

// Provider is PaymentProvider on stripe-go.
type Provider struct {
	api     *client.API
	install string // namespaces idempotency keys; see NamespaceKeys
}

// NamespaceKeys prefixes every idempotency key sent to Stripe with this
// installation's id (InstallID) and tags every PaymentIntent with it:
// two databases on one Stripe account (staging and production, a restored
// backup) derive the same "merchd-order-42-…" keys, and without the prefix
// one would get the other's PaymentIntents back.
func (s *Provider) NamespaceKeys(installID string) { s.install = installID }

func (s *Provider) key(k string) string {
	if s.install == "" {
		return k
	}
	return s.install + ":" + k
}

// InstallID returns this installation's random id, created once in the
// settings table (an insert that loses a race to another replica keeps
// the winner's id).
func InstallID(ctx context.Context, db *ent.Client) (string, error) {
	sys := viewer.SystemContext(ctx)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	fresh := []byte("mi_" + hex.EncodeToString(b))
	if err := db.Setting.Create().SetKey("install_id").SetValue(fresh).OnConflictColumns(setting.FieldKey).Ignore().Exec(sys); err != nil {
		return "", fmt.Errorf("payments: install id: %w", err)
	}
	st, err := db.Setting.Query().Where(setting.Key("install_id")).Only(sys)
	if err != nil {
		return "", fmt.Errorf("payments: install id: %w", err)
	}
	return string(st.Value), nil
}

// NewProvider returns a provider for cfg.
func NewProvider(cfg Config) *Provider {
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
	return &Provider{api: api}
}

// CreatePaymentIntent creates a PaymentIntent for automatic payment methods.
func (s *Provider) CreatePaymentIntent(ctx context.Context, p checkout.PaymentIntentParams) (checkout.PaymentIntent, error) {
	params := &stripe.PaymentIntentParams{
		Amount:      stripe.Int64(p.Amount),
		Currency:    stripe.String(strings.ToLower(p.Currency)),
		Description: stripe.String("merchd " + p.OrderNumber),
	}
	if p.CardPresent { // a Terminal reader collects it
		params.PaymentMethodTypes = stripe.StringSlice([]string{"card_present"})
		params.CaptureMethod = stripe.String("automatic")
	} else {
		params.AutomaticPaymentMethods = &stripe.PaymentIntentAutomaticPaymentMethodsParams{Enabled: stripe.Bool(true)}
	}
	params.Context = ctx
	params.SetIdempotencyKey(s.key(p.IdempotencyKey))
	if p.OrderID != 0 {
		params.AddMetadata("merchd_order_id", strconv.Itoa(p.OrderID))
	}
	if p.TopUpID != 0 {
		params.AddMetadata("merchd_topup_id", strconv.Itoa(p.TopUpID))
	}
	if p.HubSaleID != "" {
		params.AddMetadata("merchd_hub_sale", p.HubSaleID)
	}
	params.AddMetadata("merchd_purpose", p.Purpose)
	if s.install != "" {
		params.AddMetadata("merchd_install", s.install)
	}
	pi, err := s.api.PaymentIntents.New(params)
	if err != nil {
		return checkout.PaymentIntent{}, stripeError("create payment intent", err)
	}
	return checkout.PaymentIntent{ID: pi.ID, ClientSecret: pi.ClientSecret, Status: string(pi.Status)}, nil
}

// CancelPaymentIntent cancels a PaymentIntent that will not be paid.
func (s *Provider) CancelPaymentIntent(ctx context.Context, id, key string) error {
	params := &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("abandoned")}
	params.Context = ctx
	params.SetIdempotencyKey(s.key(key))
	_, err := s.api.PaymentIntents.Cancel(id, params)
	return stripeError("cancel payment intent", err)
}

// Refund returns amount of a PaymentIntent to the card.
func (s *Provider) Refund(ctx context.Context, paymentIntentID string, amount int64, key string) (string, error) {
	params := &stripe.RefundParams{PaymentIntent: stripe.String(paymentIntentID), Amount: stripe.Int64(amount)}
	params.Context = ctx
	params.SetIdempotencyKey(s.key(key))
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
		return fmt.Errorf("stripe %s: %s: %w", op, se.Msg, checkout.ErrPaymentDeclined)
	}
	return fmt.Errorf("stripe %s: %w", op, err)
}

var _ checkout.Subscriptions = (*Provider)(nil)

// EnsureCustomer creates the Stripe customer for a merchd customer.
func (s *Provider) EnsureCustomer(ctx context.Context, customerID int, email, key string) (string, error) {
	params := &stripe.CustomerParams{Email: stripe.String(email)}
	params.Context = ctx
	params.SetIdempotencyKey(s.key(key))
	params.AddMetadata("merchd_customer_id", strconv.Itoa(customerID))
	c, err := s.api.Customers.New(params)
	if err != nil {
		return "", stripeError("create customer", err)
	}
	return c.ID, nil
}

// EnsureProduct creates the Stripe product a membership tier is billed as.
func (s *Provider) EnsureProduct(ctx context.Context, name, key string) (string, error) {
	params := &stripe.ProductParams{Name: stripe.String(name)}
	params.Context = ctx
	params.SetIdempotencyKey(s.key(key))
	p, err := s.api.Products.New(params)
	if err != nil {
		return "", stripeError("create product", err)
	}
	return p.ID, nil
}

// CreateSubscription starts a membership's recurring payment; the client
// confirms the first invoice's PaymentIntent with the returned secret.
func (s *Provider) CreateSubscription(ctx context.Context, p checkout.SubscriptionParams) (checkout.Subscription, error) {
	params := &stripe.SubscriptionParams{
		Customer: stripe.String(p.StripeCustomerID),
		Items: []*stripe.SubscriptionItemsParams{{
			PriceData: &stripe.SubscriptionItemPriceDataParams{
				Currency:   stripe.String(strings.ToLower(p.Currency)),
				Product:    stripe.String(p.ProductID),
				UnitAmount: stripe.Int64(p.Amount),
				Recurring:  &stripe.SubscriptionItemPriceDataRecurringParams{Interval: stripe.String(p.Interval)},
			},
		}},
		PaymentBehavior: stripe.String("default_incomplete"),
	}
	params.Context = ctx
	params.SetIdempotencyKey(s.key(p.IdempotencyKey))
	params.AddMetadata("merchd_membership_id", strconv.Itoa(p.MembershipID))
	params.AddExpand("latest_invoice.payment_intent")
	sub, err := s.api.Subscriptions.New(params)
	if err != nil {
		return checkout.Subscription{}, stripeError("create subscription", err)
	}
	out := checkout.Subscription{ID: sub.ID, Status: string(sub.Status)}
	if sub.LatestInvoice != nil && sub.LatestInvoice.PaymentIntent != nil {
		out.ClientSecret = sub.LatestInvoice.PaymentIntent.ClientSecret
	}
	return out, nil
}

// CancelSubscription ends a membership's recurring payment.
func (s *Provider) CancelSubscription(ctx context.Context, id, key string) error {
	params := &stripe.SubscriptionCancelParams{}
	params.Context = ctx
	params.SetIdempotencyKey(s.key(key))
	_, err := s.api.Subscriptions.Cancel(id, params)
	return stripeError("cancel subscription", err)
}

// StripeAPIVersion is the API version stripe-go v79 is built for; webhook
// events must be of this version (WebhookHandler refuses others).
const StripeAPIVersion = stripe.APIVersion

// WebhookEvents are the Stripe event types merchd acts on; `merchd stripe
// setup` subscribes the webhook endpoint to exactly these.
var WebhookEvents = []string{
	"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
	"invoice.paid", "invoice.payment_failed", "customer.subscription.deleted",
}

// WebhookEndpoint is a created Stripe webhook endpoint; Secret (whsec_…)
// is shown by Stripe only once, at creation.
type WebhookEndpoint struct {
	ID, URL, APIVersion, Secret string
	Events                      []string
}

// CreateWebhookEndpoint registers url for WebhookEvents, pinned to the API
// version stripe-go v79 decodes (stripe.APIVersion): an endpoint on the
// account's default version would get payloads of newer shapes (invoice.paid
// moved its subscription field), and card memberships would never activate.
func (s *Provider) CreateWebhookEndpoint(ctx context.Context, url string) (WebhookEndpoint, error) {
	params := &stripe.WebhookEndpointParams{
		URL:           stripe.String(url),
		EnabledEvents: stripe.StringSlice(WebhookEvents),
		APIVersion:    stripe.String(stripe.APIVersion),
		Description:   stripe.String("merchd"),
	}
	params.Context = ctx
	params.SetIdempotencyKey(s.key("merchd-webhook-endpoint-" + url))
	if s.install != "" {
		params.AddMetadata("merchd_install", s.install)
	}
	we, err := s.api.WebhookEndpoints.New(params)
	if err != nil {
		return WebhookEndpoint{}, stripeError("create webhook endpoint", err)
	}
	return WebhookEndpoint{ID: we.ID, URL: we.URL, APIVersion: we.APIVersion, Secret: we.Secret, Events: we.EnabledEvents}, nil
}
