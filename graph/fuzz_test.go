package graph_test

import (
	"net/http"
	"testing"

	"github.com/stripe/stripe-go/v79/webhook"

	"github.com/merchd/merchd/graph/graphtest"
)

// FuzzNodeID sends arbitrary ids through the real API: the answer is data,
// NOT_FOUND or BAD_USER_INPUT — never INTERNAL, never a crash.
func FuzzNodeID(f *testing.F) {
	e := graphtest.New(f, graphtest.Options{})
	for _, s := range []string{"", "x", "bWVyY2hkOjE", "bWVyY2hkOjIxNDc0ODM2NDgx", "bWVyY2hkOjA", "bWVyY2hkOjk5OTk5OTk5OTk5OTk5OTk5OQ", "////", "bWVyY2hkOjE="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		r := e.Do(t, "", `query($id: ID!) { node(id: $id) { id } nodes(ids: [$id]) { id } }`, map[string]any{"id": id})
		for _, err := range r.Errors {
			switch err.Extensions["code"] {
			case "BAD_USER_INPUT", "NOT_FOUND":
			default:
				t.Fatalf("node(%q): %+v", id, r.Errors)
			}
		}
	})
}

// FuzzCursor does the same for pagination cursors, in both directions and
// under every ordering.
func FuzzCursor(f *testing.F) {
	e := graphtest.New(f, graphtest.Options{})
	seedCatalog(f, e, 3)
	for _, s := range []string{"", "gaFpzwAAAAUAAAAB", "gqFpzwAAAAUAAAABoXajYWJj", "gaFpwA", "////", "gqFpAaF2gaFhAQ"} {
		for _, field := range []string{"TITLE", "CREATED_AT", "STATUS"} {
			f.Add(s, field, true)
		}
	}
	f.Fuzz(func(t *testing.T, cursor, field string, forward bool) {
		vars := map[string]any{"c": cursor, "o": map[string]any{"field": field, "direction": "ASC"}}
		q := `query($c: Cursor, $o: ProductOrder) { products(first: 5, after: $c, orderBy: $o) { edges { node { id } } } }`
		if !forward {
			q = `query($c: Cursor, $o: ProductOrder) { products(last: 5, before: $c, orderBy: $o) { edges { node { id } } } }`
		}
		r := e.Do(t, "", q, vars)
		for _, err := range r.Errors {
			switch err.Extensions["code"] {
			case "BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED":
			default:
				t.Fatalf("cursor %q order %q: %+v", cursor, field, r.Errors)
			}
		}
	})
}

// FuzzStripeWebhook signs arbitrary event bodies with the webhook secret
// and delivers them to the real handler and database: the answer is 200
// (applied or not ours) or 400 (unreadable, another API version), never a
// 5xx (which would make Stripe redeliver forever) and never a crash.
func FuzzStripeWebhook(f *testing.F) {
	e := graphtest.New(f, graphtest.Options{})
	for _, s := range []string{
		`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","api_version":"2024-06-20","data":{"object":{"id":"pi_1","object":"payment_intent","amount":1999,"currency":"eur","metadata":{"merchd_order_id":"42"}}}}`,
		`{"id":"evt_2","object":"event","type":"payment_intent.payment_failed","api_version":"2024-06-20","data":{"object":{"id":"pi_2","amount":-1,"currency":"zz","metadata":{"merchd_topup_id":"1","merchd_hub_sale":"x"}}}}`,
		`{"id":"evt_3","object":"event","type":"invoice.paid","api_version":"2024-06-20","data":{"object":{"subscription":"sub_1","lines":{"data":[{"period":{"end":99999999999}}]}}}}`,
		`{"id":"evt_4","object":"event","type":"invoice.paid","api_version":"2024-06-20"}`,
		`{"id":"evt_5","object":"event","type":"customer.subscription.deleted","api_version":"2024-06-20","data":{"object":{"id":7}}}`,
		`{"id":"","object":"event","type":"payment_intent.canceled","api_version":"2024-06-20","data":{"object":{"id":"pi_3"}}}`,
		`{"id":"evt_6","object":"event","type":"payment_intent.succeeded","api_version":"2025-03-31.basil","data":{"object":{"id":"pi_4"}}}`,
		`{"id":"evt_7","object":"event","type":"charge.refunded","api_version":"2024-06-20","data":{"object":{}}}`,
		`not json`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: graphtest.WebhookSecret})
		switch code := graphtest.Deliver(t, e.WebhookURL, body, sp.Header); code {
		case http.StatusOK, http.StatusBadRequest:
		default:
			t.Fatalf("webhook answered %d to %s", code, body)
		}
	})
}
