package payments

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/merchd/merchd/checkout"
)

// Router sends each Stripe event to the domain that owns it; each applies
// it exactly once.
type Router struct {
	// Payments takes PaymentIntent events (orders.Service, which hands
	// top-ups to wallets and hub payments to hubs in the same transaction).
	Payments interface {
		HandlePaymentEvent(ctx context.Context, ev checkout.PaymentEvent) error
	}
	// Subscriptions takes membership billing events (memberships.Service).
	Subscriptions interface {
		HandleSubscriptionEvent(ctx context.Context, ev checkout.SubscriptionEvent) error
	}
}

// maxWebhookBody bounds a Stripe event; real ones are a few KiB.
const maxWebhookBody = 256 << 10

// WebhookHandler serves POST /webhooks/stripe: it verifies the signature
// (400 and nothing changes if it is wrong), refuses events of another API
// version than stripe-go's (400, logged), then applies the event exactly
// once. A 5xx asks Stripe to deliver again and is only for our own
// failures; business refusals are recorded and answered 200.
// Redeliveries are no-ops.
func WebhookHandler(secret checkout.Secret, sink Router, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), string(secret),
			webhook.ConstructEventOptions{Tolerance: 5 * time.Minute, IgnoreAPIVersionMismatch: true})
		if err != nil {
			log.WarnContext(r.Context(), "stripe webhook refused", "error", err)
			http.Error(w, "invalid signature", http.StatusBadRequest)
			return
		}
		if ev.APIVersion != stripe.APIVersion {
			// Payloads of other API versions have other shapes (invoice.paid
			// moved its subscription field): decoding them would silently
			// drop or misread money events. 400 makes every delivery show as
			// failed, with this message, in the Stripe dashboard, and Stripe
			// keeps retrying for three days: time to pin the endpoint with
			// `merchd stripe setup`.
			log.ErrorContext(r.Context(), "stripe webhook of another API version refused; pin the endpoint with `merchd stripe setup`",
				"event_id", ev.ID, "type", ev.Type, "api_version", ev.APIVersion, "want_api_version", stripe.APIVersion)
			http.Error(w, "merchd reads Stripe API version "+stripe.APIVersion+" events; this endpoint sends "+ev.APIVersion+
				": recreate it with `merchd stripe setup`", http.StatusBadRequest)
			return
		}
		if ev.ID == "" {
			http.Error(w, "event without id", http.StatusBadRequest)
			return
		}
		if se, ok, err := subscriptionEvent(ev); ok || err != nil {
			if err != nil {
				// Unreadable is the sender's problem: a retry reads no better.
				log.WarnContext(r.Context(), "stripe webhook unreadable", "event_id", ev.ID, "type", ev.Type, "error", err)
				http.Error(w, "unreadable event", http.StatusBadRequest)
				return
			}
			if err := sink.Subscriptions.HandleSubscriptionEvent(r.Context(), se); err != nil {
				log.ErrorContext(r.Context(), "stripe webhook failed", "event_id", ev.ID, "type", ev.Type, "error", err)
				http.Error(w, "try again", http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		pe, ok, err := paymentEvent(ev)
		if err != nil {
			log.WarnContext(r.Context(), "stripe webhook unreadable", "event_id", ev.ID, "error", err)
			http.Error(w, "unreadable event", http.StatusBadRequest)
			return
		}
		if !ok {
			w.WriteHeader(http.StatusOK) // an event type merchd does not use
			return
		}
		if err := sink.Payments.HandlePaymentEvent(r.Context(), pe); err != nil {
			log.ErrorContext(r.Context(), "stripe webhook failed", "event_id", ev.ID, "type", ev.Type, "error", err)
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// paymentEvent extracts what merchd needs from a PaymentIntent event.
func paymentEvent(ev stripe.Event) (checkout.PaymentEvent, bool, error) {
	switch ev.Type {
	case "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled":
	default:
		return checkout.PaymentEvent{}, false, nil
	}
	if ev.Data == nil {
		return checkout.PaymentEvent{}, false, errors.New("event has no data")
	}
	var pi stripe.PaymentIntent
	if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
		return checkout.PaymentEvent{}, false, err
	}
	if pi.ID == "" {
		return checkout.PaymentEvent{}, false, errors.New("payment intent without id")
	}
	orderID, _ := strconv.Atoi(pi.Metadata["merchd_order_id"])
	topUpID, _ := strconv.Atoi(pi.Metadata["merchd_topup_id"])
	return checkout.PaymentEvent{
		EventID: ev.ID, Type: string(ev.Type), PaymentIntentID: pi.ID,
		Amount: pi.Amount, Currency: string(pi.Currency), OrderID: orderID, TopUpID: topUpID,
		HubSaleID: pi.Metadata["merchd_hub_sale"], Install: pi.Metadata["merchd_install"],
	}, true, nil
}

// subscriptionEvent extracts a membership billing event.
func subscriptionEvent(ev stripe.Event) (checkout.SubscriptionEvent, bool, error) {
	out := checkout.SubscriptionEvent{EventID: ev.ID, Type: string(ev.Type)}
	switch ev.Type {
	case "invoice.paid", "invoice.payment_failed", "customer.subscription.deleted":
		if ev.Data == nil {
			return out, true, errors.New("event has no data")
		}
	}
	switch ev.Type {
	case "invoice.paid", "invoice.payment_failed":
		var inv struct {
			Subscription json.RawMessage `json:"subscription"`
			Lines        struct {
				Data []struct {
					Period struct {
						End int64 `json:"end"`
					} `json:"period"`
				} `json:"data"`
			} `json:"lines"`
		}
		if err := json.Unmarshal(ev.Data.Raw, &inv); err != nil {
			return out, true, err
		}
		out.SubscriptionID = expandableID(inv.Subscription)
		for _, l := range inv.Lines.Data {
			if t := time.Unix(l.Period.End, 0).UTC(); t.After(out.PeriodEnd) {
				out.PeriodEnd = t
			}
		}
		if out.SubscriptionID == "" {
			return out, false, nil // a one-off invoice, not a membership
		}
		return out, true, nil
	case "customer.subscription.deleted":
		var sub struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(ev.Data.Raw, &sub); err != nil {
			return out, true, err
		}
		out.SubscriptionID = sub.ID
		return out, true, nil
	}
	return out, false, nil
}

// expandableID reads a Stripe field that is an id or an expanded object.
func expandableID(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &obj)
	return obj.ID
}
