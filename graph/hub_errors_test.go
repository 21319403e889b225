package graph_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/edge"
	"github.com/merchd/merchd/graph/graphtest"
)

// internalWords is what a card reader's driver or the network might say:
// an address and a secret, for the log only.
const internalWords = "dial tcp 10.0.0.5:443: secret-token-xyz"

// brokenTerminal is a card reader driver failing every call with err.
type brokenTerminal struct{ err *atomic.Pointer[error] }

func (b brokenTerminal) Process(context.Context, string, string) (hubs.ReaderState, error) {
	return hubs.ReaderState{}, *b.err.Load()
}
func (b brokenTerminal) Cancel(context.Context, string) (hubs.ReaderState, error) {
	return hubs.ReaderState{}, *b.err.Load()
}
func (b brokenTerminal) Reader(context.Context, string) (hubs.ReaderState, error) {
	return hubs.ReaderState{}, *b.err.Load()
}

// wantPublic checks that r is one error with code and exactly msg, that
// nothing of internalWords is anywhere in the response, and that the
// cause is in e's log under the error's errorId.
func wantPublic(t *testing.T, e *graphtest.Env, r graphtest.Response, code, msg, cause string) {
	t.Helper()
	if len(r.Errors) != 1 || r.Code() != code || r.Errors[0].Message != msg {
		t.Fatalf("want %s %q, got %+v", code, msg, r.Errors)
	}
	if all := fmt.Sprintf("%+v %s", r, r.Data); strings.Contains(all, "secret-token-xyz") || strings.Contains(all, "10.0.0.5") {
		t.Fatalf("internal words reached the client: %s", all)
	}
	id, _ := r.Errors[0].Extensions["errorId"].(string)
	if id == "" || !loggedWith(e, id, cause) {
		t.Fatalf("the cause (%s) is not logged under errorId %q: %s", cause, id, e.Logs.String())
	}
}

// loggedWith reports whether one line of e's log holds both id and cause.
func loggedWith(e *graphtest.Env, id, cause string) bool {
	for _, l := range strings.Split(e.Logs.String(), "\n") {
		if strings.Contains(l, id) && strings.Contains(l, cause) {
			return true
		}
	}
	return false
}

// TestCardReaderFailuresStayInTheLog: a card reader's failure on central
// (Stripe's or the network's words) and a failed call from a hub to
// central reach the clerk as a fixed text with BAD_USER_INPUT and an
// errorId; the words are logged under it. A refusal the clerk can act on
// (a busy reader, central refusing) keeps its own words.
func TestCardReaderFailuresStayInTheLog(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			var fail atomic.Pointer[error]
			secret := fmt.Errorf("stripe: %w", fmt.Errorf("%s", internalWords))
			fail.Store(&secret)
			c := graphtest.New(t, graphtest.Options{Dialect: d})
			c.Hubs.UseTerminal(brokenTerminal{&fail})
			v := newVariant(t, c, 100, 2500, "EUR")
			sku := skuOf(t, c, v)
			lease(t, c, c.StaffToken, "fest", v, 20, "l")
			tok := hubToken(t, c, "fest")
			c.Staff(t, `mutation { bindTerminalReader(input: {readerId: "tmr_a", hub: "fest"}) { hub } }`, nil, &struct{}{})

			const reader = "readerId: card reader tmr_a did not take the request: check that it is on and online, or take cash, a wallet pass or a phone payment"
			for name, q := range map[string]struct {
				query string
				vars  map[string]any
			}{
				"startTerminalPayment":  {`mutation($q: String!) { startTerminalPayment(input: {request: $q, readerId: "tmr_a"}) { saleId } }`, map[string]any{"q": hubRequest(sku, "s1", tok, 1)}},
				"cancelTerminalPayment": {`mutation { cancelTerminalPayment(input: {readerId: "tmr_a"}) { id } }`, nil},
				"terminalReader":        {`{ terminalReader(id: "tmr_a") { id } }`, nil},
			} {
				t.Run(name, func(t *testing.T) {
					wantPublic(t, c, c.Do(t, tok, q.query, q.vars), "BAD_USER_INPUT", reader, "secret-token-xyz")
				})
			}
			busy := error(hubs.ErrReaderBusy)
			fail.Store(&busy)
			r := c.Do(t, tok, `mutation($q: String!) { startTerminalPayment(input: {request: $q, readerId: "tmr_a"}) { saleId } }`, map[string]any{"q": hubRequest(sku, "s2", tok, 1)})
			if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Message != hubs.ErrReaderBusy.Error() || r.Errors[0].Extensions["errorId"] != nil {
				t.Fatalf("a busy reader: %+v", r.Errors)
			}

			// A hub whose link to central fails: central's answer, or no
			// answer, is never copied to the clerk.
			var answer atomic.Value // string: central's response body; "" drops the connection
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				body := answer.Load().(string)
				if body == "" {
					conn, _, err := http.NewResponseController(w).Hijack()
					if err == nil {
						conn.Close()
					}
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, body)
			}))
			t.Cleanup(upstream.Close)
			cfg := edge.DefaultConfig()
			cfg.Upstream, cfg.Token, cfg.Hub = upstream.URL, "tok", "fest"
			link := edge.New(cfg, nil, nil, slog.New(slog.DiscardHandler), nil)
			h := graphtest.New(t, graphtest.Options{Dialect: d, Hub: "fest", HubToken: "tok", Central: link})
			if err := h.Sales.Adopt(context.Background(), "fest", []hubs.AllocationLine{{SKU: sku, Available: 5, Item: &hubs.CatalogItem{
				ProductSlug: "tee", ProductTitle: "Tee", ProductStatus: "ACTIVE", VariantTitle: "M", PriceAmount: 2500, Currency: "EUR"}}}); err != nil {
				t.Fatal(err)
			}
			var vs struct {
				Variants struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			h.Staff(t, `query($s: String!) { variants(first: 1, where: {sku: $s}) { edges { node { id } } } }`, map[string]any{"s": sku}, &vs)
			card := func() graphtest.Response {
				return h.Do(t, h.StaffToken, `mutation($v: ID!) { hubCardPayment(input: {lines: [{variantId: $v, quantity: 1}], readerId: "tmr_a"}) { saleId } }`,
					map[string]any{"v": vs.Variants.Edges[0].Node.ID})
			}
			const failing = "central: could not answer just now: try again, or take cash, a wallet pass or a phone payment"
			for _, tc := range []struct{ name, body, msg, cause string }{
				{"central fails", `{"data": null, "errors": [{"message": "` + internalWords + `", "extensions": {"code": "INTERNAL"}}]}`, failing, "secret-token-xyz"},
				{"a gateway's words", `{"errors": [{"message": "` + internalWords + `"}]}`, failing, "secret-token-xyz"},
				{"no answer", "", "central: card payments need the link to central, which is down: take cash, a wallet pass or a phone payment", "central unreachable"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					answer.Store(tc.body)
					wantPublic(t, h, card(), "BAD_USER_INPUT", tc.msg, tc.cause)
				})
			}
			answer.Store(`{"data": null, "errors": [{"message": "readerId: the card reader is busy with another payment; cancel it first", "extensions": {"code": "BAD_USER_INPUT"}}]}`)
			if r := card(); r.Code() != "BAD_USER_INPUT" || r.Errors[0].Message != "central: readerId: the card reader is busy with another payment; cancel it first" {
				t.Fatalf("central's refusal: %+v", r.Errors)
			}
		})
	}
}
