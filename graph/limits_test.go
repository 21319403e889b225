package graph_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/graphtest"
)

func TestLimits(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.MaxBodyBytes = 4096
	e := graphtest.New(t, graphtest.Options{Config: &cfg})
	seedCatalog(t, e, 2)

	t.Run("depth bomb", func(t *testing.T) {
		q := "{ products(first: 1) { edges { node { collections { products(first: 1) { edges { node { collections { products(first: 1) { edges { node { collections { id } } } } } } } } } } } } }"
		if r := e.Do(t, "", q, nil); r.Code() != "QUERY_TOO_COMPLEX" || !strings.Contains(r.Errors[0].Message, "levels deep") {
			t.Fatalf("depth bomb: %+v", r.Errors)
		}
	})
	t.Run("depth bomb through fragments", func(t *testing.T) {
		q := `query { products(first: 1) { ...A } }
fragment A on ProductConnection { edges { node { collections { products(first: 1) { ...B } } } } }
fragment B on ProductConnection { edges { node { collections { products(first: 1) { ...C } } } } }
fragment C on ProductConnection { edges { node { collections { id } } } }`
		if r := e.Do(t, "", q, nil); r.Code() != "QUERY_TOO_COMPLEX" {
			t.Fatalf("fragment depth bomb: %+v", r.Errors)
		}
	})
	t.Run("complexity bomb", func(t *testing.T) {
		// Shallow but wide: 100 × 100 × 100 nodes.
		q := "{ collections(first: 100) { edges { node { products(first: 100) { edges { node { variants { id sku title } } } } } } } }"
		r := e.Do(t, "", q, nil)
		if r.Code() != "QUERY_TOO_COMPLEX" || !strings.Contains(r.Errors[0].Message, "complexity") {
			t.Fatalf("complexity bomb: %+v", r.Errors)
		}
		var aliases strings.Builder
		aliases.WriteString("{")
		for i := range 60 {
			aliases.WriteString(" a" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ": products(first: 100) { edges { node { id } } }")
		}
		aliases.WriteString(" }")
		if r := e.Do(t, "", aliases.String(), nil); r.Code() != "QUERY_TOO_COMPLEX" {
			t.Fatalf("alias bomb: %+v", r.Errors)
		}
	})
	t.Run("page size", func(t *testing.T) {
		for _, q := range []string{"{ products(first: 1000) { totalCount } }", "{ products { totalCount } }", "{ products(last: -1) { totalCount } }"} {
			if r := e.Do(t, "", q, nil); r.Code() != "BAD_USER_INPUT" {
				t.Errorf("%s: %+v", q, r.Errors)
			}
		}
	})
	t.Run("oversized body is 413", func(t *testing.T) {
		big := `{"query":"{ products(first: 1) { totalCount } }","variables":{"pad":"` + strings.Repeat("x", 5000) + `"}}`
		resp, err := http.Post(e.URL, "application/json", strings.NewReader(big))
		graphtest.Must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
		// Without Content-Length (chunked), the limit still holds.
		req, _ := http.NewRequest(http.MethodPost, e.URL, struct{ *bytes.Reader }{bytes.NewReader([]byte(big))})
		req.Header.Set("Content-Type", "application/json")
		resp, err = http.DefaultClient.Do(req)
		graphtest.Must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked: status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("malformed requests", func(t *testing.T) {
		for _, body := range []string{`{`, `{"query": 5}`, `{"query":"{ nope }"}`, `{"query":"{ products(first: \"x\") { totalCount } }"}`} {
			resp, err := http.Post(e.URL, "application/json", strings.NewReader(body))
			graphtest.Must(t, err)
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("%s: status %d, want 4xx", body, resp.StatusCode)
			}
		}
	})
}

func TestPersistedQueries(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	q := "{ products(first: 1) { totalCount } }"
	sum := sha256.Sum256([]byte(q))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	r := graphtest.Post(t, e.URL, "", map[string]any{"extensions": ext})
	if len(r.Errors) == 0 || r.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("unknown hash: %+v", r.Errors)
	}
	graphtest.Post(t, e.URL, "", map[string]any{"query": q, "extensions": ext}).Decode(t, &struct{}{})
	var out struct{ Products struct{ TotalCount int } }
	graphtest.Post(t, e.URL, "", map[string]any{"extensions": ext}).Decode(t, &out)
	// A hash that does not match its query is refused.
	bad := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.Repeat("0", 64)}}
	if r := graphtest.Post(t, e.URL, "", map[string]any{"query": q, "extensions": bad}); len(r.Errors) == 0 {
		t.Fatal("mismatched APQ hash was accepted")
	}
}

func TestCORS(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.AllowedOrigins = []string{"https://shop.example"}
	e := graphtest.New(t, graphtest.Options{Config: &cfg})
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, e.URL, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		graphtest.Must(t, err)
		resp.Body.Close()
		return resp
	}
	if r := preflight("https://shop.example"); r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("allowed origin: %d %v", r.StatusCode, r.Header)
	}
	if r := preflight("https://evil.example"); r.StatusCode != http.StatusForbidden || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %d %v", r.StatusCode, r.Header)
	}
}

func TestSetStockIdempotency(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			seedCatalog(t, e, 1)
			var vs struct {
				Variants struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			e.Staff(t, `{ variants(first: 1) { edges { node { id } } } }`, nil, &vs)
			vid := vs.Variants.Edges[0].Node.ID
			set := func(n int, key string) graphtest.Response {
				return e.Do(t, e.StaffToken, `mutation($i: SetStockInput!) { setStock(input: $i) { available variant { available } } }`,
					map[string]any{"i": map[string]any{"variantId": vid, "available": n, "idempotencyKey": key}})
			}
			avail := func() int {
				var out struct{ Node struct{ Available int } }
				e.Staff(t, `query($id: ID!) { node(id: $id) { ... on Variant { available } } }`, map[string]any{"id": vid}, &out)
				return out.Node.Available
			}
			if r := set(7, "k1"); r.Code() != "" {
				t.Fatal(r.Errors)
			}
			if r := set(9, "k2"); r.Code() != "" {
				t.Fatal(r.Errors)
			}
			// Replaying k1 returns its first result and does not undo k2.
			r := set(7, "k1")
			if r.Code() != "" || !strings.Contains(string(r.Data), `"available":7`) {
				t.Fatalf("replay: %s %+v", r.Data, r.Errors)
			}
			if got := avail(); got != 9 {
				t.Fatalf("after replay available = %d, want 9", got)
			}
			if r := set(8, "k1"); r.Code() != "IDEMPOTENCY_KEY_REUSED" {
				t.Fatalf("reused key: %+v", r.Errors)
			}
			for _, n := range []int{-1, 100_000_000} {
				if r := set(n, "bad"); r.Code() != "BAD_USER_INPUT" {
					t.Fatalf("available %d: %+v", n, r.Errors)
				}
			}
			if r := set(5, ""); r.Code() != "BAD_USER_INPUT" {
				t.Fatalf("empty key: %+v", r.Errors)
			}
			if got := avail(); got != 9 {
				t.Fatalf("refused writes changed stock to %d", got)
			}
		})
	}
}

func TestInternalErrorsOverHTTP(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	seedCatalog(t, e, 1)
	e.DB.SQL.Close() // every query now fails inside the resolver
	r := e.Do(t, "", `{ products(first: 1) { totalCount } }`, nil)
	id, _ := r.Errors[0].Extensions["errorId"].(string)
	if r.Code() != "INTERNAL" || id == "" || strings.Contains(r.Errors[0].Message, "sql") {
		t.Fatalf("closed database: %+v", r.Errors)
	}
	if !e.Logs.Contains(id) {
		t.Fatalf("error id %s not in the logs", id)
	}
}

func TestIntrospectionSwitch(t *testing.T) {
	q := `{ __schema { queryType { name } } }`
	on := graphtest.New(t, graphtest.Options{})
	if r := on.Do(t, "", q, nil); r.Code() != "" {
		t.Fatalf("introspection on: %+v", r.Errors)
	}
	cfg := graph.DefaultConfig()
	cfg.Introspection = false
	off := graphtest.New(t, graphtest.Options{Config: &cfg})
	if r := off.Do(t, "", q, nil); len(r.Errors) == 0 {
		t.Fatal("introspection answered although disabled")
	}
}
