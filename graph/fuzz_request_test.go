package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

// FuzzRequestBody posts arbitrary bytes as a GraphQL request: the answer
// is never a 5xx and never INTERNAL, whatever arrives.
func FuzzRequestBody(f *testing.F) {
	e := graphtest.New(f, graphtest.Options{})
	for _, s := range []string{
		``, `{`, `[]`, `[{"query":"{ __typename }"}]`, `{"query": 42}`, `{"query":"{ __typename }","variables":"x"}`,
		`{"query":"{ __typename }","variables":{"a":[1,2,{"b":null}]}}`, `{"query":"query($w: ProductWhereInput) { products(first: 1, where: $w) { totalCount } }","variables":{"w":{"not":{}}}}`,
		`{"query":"mutation { signIn(input: {email: \"a@b.c\", password: \"x\"}) { token } }"}`, `{"query":"{ products(first: -1) { totalCount } }"}`,
		`{"query":"{ node(id: \"\u0000\") { id } }"}`, `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"00"}}}`,
		`{"query":"subscription { __typename }"}`, `{"query":"{ a: __typename b: __typename }","operationName":7}`,
	} {
		f.Add([]byte(s))
	}
	client := &http.Client{}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := client.Post(e.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 || strings.Contains(string(b), `"INTERNAL"`) {
			t.Fatalf("body %q: %d %s", body, res.StatusCode, b)
		}
	})
}

// FuzzWhereInputs sends arbitrary JSON as the where filter of every
// filterable connection: data, BAD_USER_INPUT or QUERY_TOO_COMPLEX, never
// INTERNAL.
func FuzzWhereInputs(f *testing.F) {
	e := graphtest.New(f, graphtest.Options{})
	for _, s := range []string{
		`{}`, `{"not":{}}`, `{"or":[]}`, `{"and":[{"not":{"not":{}}}]}`, `{"titleContains":"%_\\"}`, `{"idIn":["x"]}`,
		`{"or":[{"title":"a"},{"title":"b"}]}`, `{"priceAmountGT":9223372036854775807}`, `{"hasVariantsWith":[{"not":{}}]}`,
		`{"createdAtGT":"not a time"}`, `[]`, `"x"`, `null`, `{"statusIn":["NOPE"]}`,
	} {
		f.Add(s)
	}
	queries := []string{
		`query($w: ProductWhereInput) { products(first: 2, where: $w) { totalCount edges { node { id } } } }`,
		`query($w: VariantWhereInput) { variants(first: 2, where: $w) { totalCount } }`,
		`query($w: CollectionWhereInput) { collections(first: 2, where: $w) { totalCount } }`,
	}
	f.Fuzz(func(t *testing.T, where string) {
		var w any
		if json.Unmarshal([]byte(where), &w) != nil {
			return // not JSON: FuzzRequestBody covers broken bodies
		}
		for _, q := range queries {
			for _, tok := range []string{"", e.StaffToken} {
				r := e.Do(t, tok, q, map[string]any{"w": w})
				for _, err := range r.Errors {
					switch err.Extensions["code"] {
					case "BAD_USER_INPUT", "QUERY_TOO_COMPLEX", "GRAPHQL_VALIDATION_FAILED", "FORBIDDEN", "UNAUTHENTICATED":
					default:
						t.Fatalf("where %s on %s: %+v", where, q[:40], r.Errors)
					}
				}
			}
		}
	})
}
