package graph_test

import (
	"testing"

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
