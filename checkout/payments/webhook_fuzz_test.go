package payments

import (
	"encoding/json"
	"testing"

	"github.com/stripe/stripe-go/v79"
)

// FuzzStripeEventDecoding feeds arbitrary event bodies (after the
// signature check, which the fuzzer cannot forge) through the decoders the
// webhook uses: they never panic, and whatever they accept names what it
// acts on.
func FuzzStripeEventDecoding(f *testing.F) {
	for _, seed := range []string{
		`{"id":"evt_1","type":"payment_intent.succeeded","api_version":"2024-06-20","data":{"object":{"id":"pi_1","object":"payment_intent","amount":1999,"currency":"eur","metadata":{"merchd_order_id":"42"}}}}`,
		`{"id":"evt_2","type":"payment_intent.payment_failed","data":{"object":{"id":"pi_2","amount":-1,"currency":"","metadata":{"merchd_topup_id":"x","merchd_install":"mi_a"}}}}`,
		`{"id":"evt_3","type":"payment_intent.canceled","data":{"object":{"id":"","metadata":null}}}`,
		`{"id":"evt_4","type":"payment_intent.succeeded"}`,
		`{"id":"evt_5","type":"invoice.paid","data":{"object":{"subscription":"sub_1","lines":{"data":[{"period":{"end":1893456000}}]}}}}`,
		`{"id":"evt_6","type":"invoice.paid","data":{"object":{"subscription":{"id":"sub_2"},"lines":{"data":[{"period":{"end":-62135596800}}]}}}}`,
		`{"id":"evt_7","type":"invoice.payment_failed","data":{"object":{"subscription":null}}}`,
		`{"id":"evt_8","type":"customer.subscription.deleted","data":{"object":{"id":"sub_3"}}}`,
		`{"id":"evt_9","type":"invoice.paid"}`,
		`{"id":"evt_10","type":"customer.subscription.deleted","data":{"object":[1,2]}}`,
		`{"type":"charge.succeeded","data":{"object":{}}}`,
		`{}`, `null`, `[]`, `{"data":{"object":"x"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var ev stripe.Event
		if json.Unmarshal(body, &ev) != nil {
			return // ConstructEvent refuses it with 400 first
		}
		se, ok, err := subscriptionEvent(ev)
		if ok && err == nil && se.SubscriptionID == "" {
			t.Fatalf("accepted a subscription event without a subscription: %s", body)
		}
		if ok || err != nil {
			return
		}
		pe, ok, err := paymentEvent(ev)
		if ok && (err != nil || pe.PaymentIntentID == "" || pe.EventID != ev.ID) {
			t.Fatalf("accepted a payment event %+v (%v) from %s", pe, err, body)
		}
	})
}
