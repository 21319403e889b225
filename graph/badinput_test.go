package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

// TestBadRequestsAreTheClients: every malformed request the audit sent is
// a 4xx with a clear extensions.code, never INTERNAL, and the body (which
// may hold a password) never reaches the log.
func TestBadRequestsAreTheClients(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	orWide := `{"query":"query($w: ProductWhereInput) { products(first: 1, where: $w) { totalCount } }","variables":{"w":{"or":[` +
		strings.Repeat(`{"title":"x"},`, 20000) + `{"title":"y"}]}}}`
	cases := []struct {
		name, method, ctype, body, query string
		want                             string
	}{
		{"truncated JSON", "POST", "application/json", `{"query":"{ products(first: 1) { totalCount } }", "variables": {"password": "hunter2hunter2"`, "", "BAD_USER_INPUT"},
		{"empty body", "POST", "application/json", ``, "", "BAD_USER_INPUT"},
		{"batch array", "POST", "application/json", `[{"query":"{ __typename }"},{"query":"{ __typename }"}]`, "", "BAD_USER_INPUT"},
		{"query is a number", "POST", "application/json", `{"query": 42}`, "", "BAD_USER_INPUT"},
		{"variables is a string", "POST", "application/json", `{"query":"{ __typename }","variables":"x"}`, "", "BAD_USER_INPUT"},
		{"empty not", "POST", "application/json", `{"query":"{ products(first: 1, where: {not: {}}) { totalCount } }"}`, "", "BAD_USER_INPUT"},
		{"20,000-item or", "POST", "application/json", orWide, "", "QUERY_TOO_COMPLEX"},
		{"text/plain", "POST", "text/plain", `{"query":"{ __typename }"}`, "", "BAD_USER_INPUT"},
		{"mutation over GET", "GET", "", "", "query=" + `mutation{signOut{ok}}`, "BAD_USER_INPUT"},
		{"bad percent escape", "GET", "", "", "query=%zz", "BAD_USER_INPUT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := e.URL
			if c.query != "" {
				url += "?" + c.query
			}
			req, err := http.NewRequest(c.method, url, strings.NewReader(c.body))
			graphtest.Must(t, err)
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			res, err := http.DefaultClient.Do(req)
			graphtest.Must(t, err)
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			var out struct {
				Errors []struct {
					Message    string
					Extensions map[string]any
				}
			}
			_ = json.Unmarshal(b, &out)
			// A request that reached an operation is answered 200 with the
			// error (GraphQL over HTTP, application/json); one that did not
			// parse as a request is a 4xx.
			operationLevel := c.name == "empty not" || c.name == "20,000-item or"
			if operationLevel && res.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200 with the error", res.StatusCode)
			}
			if !operationLevel && (res.StatusCode < 400 || res.StatusCode >= 500) {
				t.Errorf("status %d, want 4xx: %s", res.StatusCode, trim(b))
			}
			if len(out.Errors) == 0 || out.Errors[0].Extensions["code"] != c.want {
				t.Errorf("want extensions.code %s: %s", c.want, trim(b))
			}
		})
	}
	if strings.Contains(e.Logs.String(), "hunter2") {
		t.Fatalf("a request body reached the log: %s", e.Logs.String())
	}
}

func trim(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// TestUnreadableCredentialsAre401: `Authorization: Basic …` or a bare
// `Bearer` was served as anonymous; a client that thinks it is signed in
// must be told it is not.
func TestUnreadableCredentialsAre401(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	for _, h := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"} {
		req, err := http.NewRequest("POST", e.URL, strings.NewReader(`{"query":"{ __typename }"}`))
		graphtest.Must(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", h)
		res, err := http.DefaultClient.Do(req)
		graphtest.Must(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "UNAUTHENTICATED") {
			t.Errorf("Authorization %q: %d %s, want 401 UNAUTHENTICATED", h, res.StatusCode, b)
		}
	}
}

// TestNULInTextIsTheClients: a NUL character in any text argument made
// PostgreSQL fail the query (INTERNAL); it is the client's mistake.
func TestNULInTextIsTheClients(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			for _, c := range []struct {
				q    string
				vars map[string]any
			}{
				{`{ products(first: 1, where: {titleContains: "a\u0000b"}) { totalCount } }`, nil},
				{`query($s: String!) { variants(first: 1, where: {sku: $s}) { totalCount } }`, map[string]any{"s": "x\x00"}},
				{`query($w: CollectionWhereInput) { collections(first: 1, where: $w) { totalCount } }`, map[string]any{"w": map[string]any{"or": []any{map[string]any{"titleContainsFold": "\x00"}}}}},
				{`query($s: String!) { hubSaleReceipt(saleId: $s) { saleId } }`, map[string]any{"s": "s\x00"}},
			} {
				wantCode(t, e.Do(t, "", c.q, c.vars), "BAD_USER_INPUT")
			}
		})
	}
}
