package hardware_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"
	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/merchd/merchd/hardware"
	"github.com/merchd/merchd/hardware/hardwaretest"
)

// newIntent creates a card_present PaymentIntent through stripe-go.
func newIntent(t *testing.T, apiURL string, amount int64) string {
	t.Helper()
	b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{URL: stripe.String(apiURL),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError}})
	api := &client.API{}
	api.Init("sk_test_123", &stripe.Backends{API: b, Connect: b, Uploads: b})
	pi, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(amount), Currency: stripe.String("eur"),
		PaymentMethodTypes: stripe.StringSlice([]string{"card_present"}), CaptureMethod: stripe.String("automatic")})
	if err != nil {
		t.Fatal(err)
	}
	return pi.ID
}

// TestTerminalSimulator drives the simulator with the real driver
// (stripe-go): process a PaymentIntent on a reader, poll, a declined card,
// a busy reader, cancel, an approved card; each outcome arrives as a
// webhook signed the way Stripe signs them.
func TestTerminalSimulator(t *testing.T) {
	var mu sync.Mutex
	var events []stripe.Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), "whsec_sim", webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
		if err != nil {
			t.Errorf("webhook signature: %v", err)
			http.Error(w, "bad signature", 400)
			return
		}
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	defer hook.Close()
	sim, err := hardware.NewTerminalSimulator("tmr_counter")
	if err != nil {
		t.Fatal(err)
	}
	sim.SetWebhook(hook.URL, "whsec_sim")
	term := hardware.NewStripeTerminal("sk_test_123", sim.URL())
	ctx := context.Background()

	if _, err := hardware.NewStripeTerminal("sk_live_nope", sim.URL()).Reader(ctx, "tmr_counter"); err == nil {
		t.Fatal("a live key worked on the simulator")
	}
	if _, err := term.Reader(ctx, "tmr_nowhere"); err == nil {
		t.Fatal("an unknown reader answered")
	}
	st, err := term.Reader(ctx, "tmr_counter")
	if err != nil || st.Status != "online" || st.Action != "" {
		t.Fatalf("idle reader: %+v, %v", st, err)
	}

	pi := newIntent(t, sim.URL(), 3500)
	st, err = term.Process(ctx, "tmr_counter", pi)
	if err != nil || st.Action != "process_payment_intent" || st.ActionStatus != "in_progress" || st.PaymentIntentID != pi {
		t.Fatalf("processing: %+v, %v", st, err)
	}
	if _, err := term.Process(ctx, "tmr_counter", newIntent(t, sim.URL(), 100)); !errors.Is(err, hardware.ErrReaderBusy) {
		t.Fatalf("second payment on a busy reader: %v", err)
	}
	st, err = term.PresentCard(ctx, "tmr_counter", hardware.DeclinedCard)
	if err != nil || st.ActionStatus != "failed" || st.FailureCode != "card_declined" {
		t.Fatalf("declined card: %+v, %v", st, err)
	}
	if s, _ := sim.Intent(pi); s != "requires_payment_method" {
		t.Fatalf("declined PaymentIntent is %s", s)
	}

	// Try again, cancel, try again, approve.
	if st, err = term.Process(ctx, "tmr_counter", pi); err != nil || st.ActionStatus != "in_progress" {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	if st, err = term.Cancel(ctx, "tmr_counter"); err != nil || st.Action != "" {
		t.Fatalf("cancel: %+v, %v", st, err)
	}
	if _, err := term.PresentCard(ctx, "tmr_counter", ""); err == nil {
		t.Fatal("a card presented to an idle reader was taken")
	}
	if _, err = term.Process(ctx, "tmr_counter", pi); err != nil {
		t.Fatal(err)
	}
	st, err = term.PresentCard(ctx, "tmr_counter", "4242424242424242")
	if err != nil || st.ActionStatus != "succeeded" {
		t.Fatalf("approved card: %+v, %v", st, err)
	}
	if s, amt := sim.Intent(pi); s != "succeeded" || amt != 3500 {
		t.Fatalf("approved PaymentIntent: %s %d", s, amt)
	}
	if _, err := term.Process(ctx, "tmr_counter", pi); err == nil {
		t.Fatal("a succeeded PaymentIntent was processed again")
	}
	sim.SetReaderOnline("tmr_counter", false)
	if _, err := term.Process(ctx, "tmr_counter", newIntent(t, sim.URL(), 100)); err == nil {
		t.Fatal("an offline reader took a payment")
	}
	sim.Close() // waits for webhook deliveries
	mu.Lock()
	defer mu.Unlock()
	// Like Stripe, the simulator does not promise delivery order: one of
	// each, in any order.
	byType := map[stripe.EventType]stripe.Event{}
	for _, ev := range events {
		byType[ev.Type] = ev
	}
	succeeded, ok := byType["payment_intent.succeeded"]
	if len(events) != 2 || len(byType) != 2 || !ok || byType["payment_intent.payment_failed"].ID == "" {
		t.Fatalf("webhooks: %d %+v", len(events), events)
	}
	var got stripe.PaymentIntent
	if err := got.UnmarshalJSON(succeeded.Data.Raw); err != nil || got.ID != pi || got.Amount != 3500 || got.Status != "succeeded" {
		t.Fatalf("succeeded event object: %+v, %v", got, err)
	}
}

// TestStripeTerminalAgainstStripeMock: the driver's requests are valid
// against Stripe's own API description (stripe-mock validates them).
func TestStripeTerminalAgainstStripeMock(t *testing.T) {
	mock := hardwaretest.StripeMock(t)
	term := hardware.NewStripeTerminal("sk_test_123", mock)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := term.Process(ctx, "tmr_123", newIntent(t, mock, 3500)); err != nil {
		t.Fatalf("process_payment_intent: %v", err)
	}
	if _, err := term.Reader(ctx, "tmr_123"); err != nil {
		t.Fatalf("retrieve reader: %v", err)
	}
	if _, err := term.PresentCard(ctx, "tmr_123", "4242424242424242"); err != nil {
		t.Fatalf("present_payment_method: %v", err)
	}
	if _, err := term.Cancel(ctx, "tmr_123"); err != nil {
		t.Fatalf("cancel_action: %v", err)
	}
}
