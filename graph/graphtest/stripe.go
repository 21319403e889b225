package graphtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/hardware/hardwaretest"
)

// WebhookSecret signs the fake's webhooks in tests.
const WebhookSecret = "whsec_test_merchd"

// FakeStripe is a stateful stand-in for Stripe's PaymentIntents and Refunds:
// stripe-mock checks request shapes but keeps no state, so flows (pay,
// fail, refund, redeliver) run against this. Like Stripe, a repeated
// idempotency key returns the first result.
type FakeStripe struct {
	mu       sync.Mutex
	intents  map[string]*FakeIntent
	byKey    map[string]string
	refunds  map[string]int64 // idempotency key → amount
	seq      int
	RefundFn func(piID string, amount int64) error // optional failure injection
	// forgetKeys makes every create a new PaymentIntent, as stripe-mock
	// does: merchd must not rely on Stripe's idempotency to agree with
	// itself.
	forgetKeys bool
}

// ForgetIdempotencyKeys makes every later create a new PaymentIntent.
func (f *FakeStripe) ForgetIdempotencyKeys() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgetKeys = true
}

// FakeIntent is one PaymentIntent.
type FakeIntent struct {
	ID, Currency, Status string
	Amount               int64
	OrderID              int
	Refunded             int64
}

// NewFakeStripe returns an empty fake.
func NewFakeStripe() *FakeStripe {
	return &FakeStripe{intents: map[string]*FakeIntent{}, byKey: map[string]string{}, refunds: map[string]int64{}}
}

var _ checkout.PaymentProvider = (*FakeStripe)(nil)

// CreatePaymentIntent implements checkout.PaymentProvider.
func (f *FakeStripe) CreatePaymentIntent(_ context.Context, p checkout.PaymentIntentParams) (checkout.PaymentIntent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.byKey[p.IdempotencyKey]; ok && !f.forgetKeys {
		pi := f.intents[id]
		return checkout.PaymentIntent{ID: pi.ID, ClientSecret: pi.ID + "_secret", Status: pi.Status}, nil
	}
	f.seq++
	id := fmt.Sprintf("pi_fake_%d", f.seq)
	f.intents[id] = &FakeIntent{ID: id, Amount: p.Amount, Currency: p.Currency, Status: "requires_payment_method", OrderID: p.OrderID}
	f.byKey[p.IdempotencyKey] = id
	return checkout.PaymentIntent{ID: id, ClientSecret: id + "_secret", Status: "requires_payment_method"}, nil
}

// CancelPaymentIntent implements checkout.PaymentProvider.
func (f *FakeStripe) CancelPaymentIntent(_ context.Context, id, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	pi, ok := f.intents[id]
	if !ok {
		return fmt.Errorf("no such payment intent %s", id)
	}
	if pi.Status == "succeeded" {
		return fmt.Errorf("payment intent %s already succeeded", id)
	}
	pi.Status = "canceled"
	return nil
}

// Refund implements checkout.PaymentProvider.
func (f *FakeStripe) Refund(_ context.Context, piID string, amount int64, key string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.RefundFn != nil {
		if err := f.RefundFn(piID, amount); err != nil {
			return "", err
		}
	}
	if _, ok := f.refunds[key]; ok {
		return "re_" + key, nil
	}
	pi, ok := f.intents[piID]
	if !ok || pi.Status != "succeeded" || pi.Refunded+amount > pi.Amount {
		return "", fmt.Errorf("refund of %d on %s refused", amount, piID)
	}
	pi.Refunded += amount
	f.refunds[key] = amount
	return "re_" + key, nil
}

var _ checkout.Subscriptions = (*FakeStripe)(nil)

// EnsureCustomer implements checkout.Subscriptions.
func (f *FakeStripe) EnsureCustomer(_ context.Context, customerID int, _, key string) (string, error) {
	return "cus_fake_" + strconv.Itoa(customerID), nil
}

// EnsureProduct implements checkout.Subscriptions.
func (f *FakeStripe) EnsureProduct(_ context.Context, _, key string) (string, error) {
	return "prod_fake_" + key, nil
}

// CreateSubscription implements checkout.Subscriptions.
func (f *FakeStripe) CreateSubscription(_ context.Context, p checkout.SubscriptionParams) (checkout.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.byKey[p.IdempotencyKey]; ok {
		return checkout.Subscription{ID: id, ClientSecret: id + "_secret", Status: "incomplete"}, nil
	}
	f.seq++
	id := fmt.Sprintf("sub_fake_%d", f.seq)
	f.byKey[p.IdempotencyKey] = id
	return checkout.Subscription{ID: id, ClientSecret: id + "_secret", Status: "incomplete"}, nil
}

// CancelSubscription implements checkout.Subscriptions.
func (f *FakeStripe) CancelSubscription(context.Context, string, string) error { return nil }

// Capture makes Stripe report another amount or currency for a
// PaymentIntent than merchd asked for (a dashboard edit, a bug, an attack
// on the metadata): its next event carries these.
func (f *FakeStripe) Capture(id string, amount int64, currency string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intents[id].Amount, f.intents[id].Currency = amount, currency
}

// Refunds returns how much was refunded on a PaymentIntent.
func (f *FakeStripe) Refunds(id string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.intents[id].Refunded
}

// Intent returns a copy of a PaymentIntent.
func (f *FakeStripe) Intent(id string) FakeIntent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.intents[id]
}

// Event builds a signed webhook delivery for a PaymentIntent event; status
// is also recorded on the fake (succeeded, canceled, requires_payment_method).
func (f *FakeStripe) Event(t testing.TB, eventID, eventType, piID string) (body []byte, signature string) {
	t.Helper()
	f.mu.Lock()
	pi, ok := f.intents[piID]
	if !ok {
		f.mu.Unlock()
		t.Fatalf("no payment intent %s", piID)
	}
	switch {
	case pi.Status == "succeeded":
		// Events can arrive late and out of order; a success is final.
	case eventType == "payment_intent.succeeded":
		pi.Status = "succeeded"
	case eventType == "payment_intent.canceled":
		pi.Status = "canceled"
	case eventType == "payment_intent.payment_failed":
		pi.Status = "requires_payment_method"
	}
	obj := map[string]any{
		"id": pi.ID, "object": "payment_intent", "amount": pi.Amount, "currency": lower(pi.Currency),
		"status": pi.Status, "metadata": map[string]string{"merchd_order_id": strconv.Itoa(pi.OrderID)},
	}
	f.mu.Unlock()
	return SignedEvent(t, eventID, eventType, obj)
}

// SignedEvent signs any event payload with WebhookSecret.
func SignedEvent(t testing.TB, eventID, eventType string, object any) ([]byte, string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"id": eventID, "object": "event", "type": eventType, "api_version": "2024-06-20",
		"created": time.Now().Unix(), "data": map[string]any{"object": object},
	})
	if err != nil {
		t.Fatal(err)
	}
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: WebhookSecret})
	return body, sp.Header
}

// Deliver posts a webhook body with its signature header and returns the status.
func Deliver(t testing.TB, url string, body []byte, signature string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// StripeMock starts stripe-mock for a test (see hardwaretest.StripeMock).
var StripeMock = hardwaretest.StripeMock
