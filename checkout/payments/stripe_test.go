package payments_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/payments"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/hardware/hardwaretest"
)

// TestStripeProviderAgainstStripeMock checks our stripe-go requests against
// stripe-mock, which validates them against Stripe's real API shapes, and
// that each carries the idempotency key merchd derived.
func TestStripeProviderAgainstStripeMock(t *testing.T) {
	mock := hardwaretest.StripeMock(t)
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

	p := payments.NewProvider(payments.Config{SecretKey: "sk_test_123", WebhookSecret: "whsec_x", APIURL: rec.URL})
	p.NamespaceKeys("mi_test")
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
		"POST /v1/payment_intents":                      "mi_test:merchd-order-42-payment-7",
		"POST /v1/payment_intents/" + pi.ID + "/cancel": "mi_test:merchd-cancel-" + pi.ID,
		"POST /v1/refunds":                              "mi_test:merchd-refund-9",
	} {
		if keys[path] != want {
			t.Errorf("%s sent Idempotency-Key %q, want %q", path, keys[path], want)
		}
	}
}

// TestFinding13_InstallIDNamespacesStripeKeys: each database gets its own
// random installation id, created once even by racing replicas, so two
// installations on one Stripe account never share idempotency keys.
func TestFinding13_InstallIDNamespacesStripeKeys(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			a, b := openDB(t, d), openDB(t, d)
			ctx := context.Background()
			const n = 8
			ids := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					id, err := payments.InstallID(ctx, a.Client)
					if err != nil {
						t.Error(err)
					}
					ids[i] = id
				})
			}
			wg.Wait()
			for _, id := range ids {
				if id != ids[0] || !strings.HasPrefix(id, "mi_") || len(id) != 19 {
					t.Fatalf("install ids %q: want one mi_… id", ids)
				}
			}
			other, err := payments.InstallID(ctx, b.Client)
			if err != nil || other == ids[0] {
				t.Fatalf("second database: %q %v (first %q)", other, err, ids[0])
			}
		})
	}
}

// TestStripeWebhookEndpointPinned creates the webhook endpoint against
// stripe-mock and checks it asks for stripe-go's API version and exactly
// the events merchd handles.
func TestStripeWebhookEndpointPinned(t *testing.T) {
	mock := hardwaretest.StripeMock(t)
	target, _ := url.Parse(mock)
	var form url.Values
	var mu sync.Mutex
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/webhook_endpoints" {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			form, _ = url.ParseQuery(string(body))
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, r)
	}))
	defer rec.Close()
	p := payments.NewProvider(payments.Config{SecretKey: "sk_test_123", WebhookSecret: "whsec_x", APIURL: rec.URL})
	we, err := p.CreateWebhookEndpoint(context.Background(), "https://shop.example/webhooks/stripe")
	if err != nil || !strings.HasPrefix(we.ID, "we_") {
		t.Fatalf("create: %+v %v", we, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if form.Get("api_version") != payments.StripeAPIVersion || form.Get("url") != "https://shop.example/webhooks/stripe" {
		t.Fatalf("endpoint request: %v", form)
	}
	var events []string
	for k, v := range form {
		if strings.HasPrefix(k, "enabled_events[") {
			events = append(events, v...)
		}
	}
	slices.Sort(events)
	want := slices.Sorted(slices.Values(payments.WebhookEvents))
	if !slices.Equal(events, want) {
		t.Fatalf("enabled events %v, want %v", events, want)
	}
}

// openDB opens a fresh database of dialect d, closed when the test ends.
func openDB(t *testing.T, d string) *entdb.DB {
	t.Helper()
	db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, d)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
