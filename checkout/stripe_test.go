package checkout_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestStripeProviderAgainstStripeMock checks our stripe-go requests against
// stripe-mock, which validates them against Stripe's real API shapes, and
// that each carries the idempotency key merchd derived.
func TestStripeProviderAgainstStripeMock(t *testing.T) {
	mock := graphtest.StripeMock(t)
	target, _ := url.Parse(mock)
	var mu sync.Mutex
	keys := map[string]string{} // path → Idempotency-Key
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys[r.Method+" "+r.URL.Path] = r.Header.Get("Idempotency-Key")
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer rec.Close()

	p := checkout.NewStripeProvider(checkout.StripeConfig{SecretKey: "sk_test_123", WebhookSecret: "whsec_x", APIURL: rec.URL})
	ctx := context.Background()
	pi, err := p.CreatePaymentIntent(ctx, checkout.PaymentIntentParams{
		Amount: 1999, Currency: "EUR", OrderID: 42, OrderNumber: "K7Q-2MXD", Purpose: "order", IdempotencyKey: "merchd-order-42-payment-7",
	})
	if err != nil || !strings.HasPrefix(pi.ID, "pi_") || pi.ClientSecret == "" {
		t.Fatalf("create: %+v %v", pi, err)
	}
	if err := p.CancelPaymentIntent(ctx, pi.ID, "merchd-cancel-"+pi.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	rid, err := p.Refund(ctx, pi.ID, 500, "merchd-refund-9")
	if err != nil || !strings.HasPrefix(rid, "re_") {
		t.Fatalf("refund: %q %v", rid, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for path, want := range map[string]string{
		"POST /v1/payment_intents":                      "merchd-order-42-payment-7",
		"POST /v1/payment_intents/" + pi.ID + "/cancel": "merchd-cancel-" + pi.ID,
		"POST /v1/refunds":                              "merchd-refund-9",
	} {
		if keys[path] != want {
			t.Errorf("%s sent Idempotency-Key %q, want %q", path, keys[path], want)
		}
	}
}
