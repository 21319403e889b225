package graph_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

// seedCatalog creates n products with three variants each through the staff
// API, with stock, and returns their ids in creation order.
func seedCatalog(t testing.TB, e *graphtest.Env, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		var p struct {
			CreateProduct struct{ Product struct{ ID string } }
		}
		e.Staff(t, `mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } } }`,
			map[string]any{"i": map[string]any{"title": fmt.Sprintf("Product %02d", i), "slug": fmt.Sprintf("product-%02d", i)}}, &p)
		ids[i] = p.CreateProduct.Product.ID
		for j, size := range []string{"S", "M", "L"} {
			var v struct {
				CreateVariant struct{ Variant struct{ ID string } }
			}
			e.Staff(t, `mutation($i: CreateVariantInput!) { createVariant(input: $i) { variant { id } } }`,
				map[string]any{"i": map[string]any{
					"productId": ids[i], "sku": fmt.Sprintf("P%02d-%s", i, size), "title": size,
					"options": []any{map[string]any{"name": "Size", "value": size}}, "position": j,
					"price": map[string]any{"amount": 1000 + i*100 + j, "currency": "EUR"},
				}}, &v)
			var s struct{ SetStock struct{ Available int } }
			e.Staff(t, `mutation($i: SetStockInput!) { setStock(input: $i) { available } }`,
				map[string]any{"i": map[string]any{"variantId": v.CreateVariant.Variant.ID, "available": 10*i + j, "idempotencyKey": "seed-" + v.CreateVariant.Variant.ID}}, &s)
		}
	}
	return ids
}

type productPage struct {
	Products struct {
		TotalCount int
		Edges      []struct {
			Cursor string
			Node   struct {
				ID, Title string
				Variants  []struct {
					Sku       string
					Available int
					Price     struct {
						Amount   int
						Currency string
					}
				}
			}
		}
		PageInfo struct {
			HasNextPage, HasPreviousPage bool
			StartCursor, EndCursor       *string
		}
	}
}

const productsQuery = `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: ProductWhereInput, $orderBy: ProductOrder) {
  products(first: $first, after: $after, last: $last, before: $before, where: $where, orderBy: $orderBy) {
    totalCount
    edges { cursor node { id title variants { sku available price { amount currency } } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`

func titles(p productPage) []string {
	var out []string
	for _, e := range p.Products.Edges {
		out = append(out, e.Node.Title)
	}
	return out
}

func TestCatalog(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			ids := seedCatalog(t, e, 25)
			t.Run("pagination forward", func(t *testing.T) { testForward(t, e) })
			t.Run("pagination backward", func(t *testing.T) { testBackward(t, e) })
			t.Run("filters and ordering", func(t *testing.T) { testFilters(t, e) })
			t.Run("node lookup", func(t *testing.T) { testNode(t, e, ids) })
			t.Run("archived products are hidden from customers", func(t *testing.T) { testArchive(t, e, ids[24]) })
			t.Run("GET transport", func(t *testing.T) {
				var p productPage
				e.Get(t, "", productsQuery, map[string]any{"first": 2}).Decode(t, &p)
				if len(p.Products.Edges) != 2 {
					t.Fatalf("GET returned %d products, want 2", len(p.Products.Edges))
				}
				if r := e.Get(t, "", `mutation { signOut { ok } }`, nil); r.Status == http.StatusOK && len(r.Errors) == 0 {
					t.Fatalf("a mutation over GET was executed: %+v", r)
				}
			})
		})
	}
}

func testForward(t *testing.T, e *graphtest.Env) {
	var seen []string
	var after any
	for page := 0; ; page++ {
		var p productPage
		e.Do(t, "", productsQuery, map[string]any{"first": 10, "after": after}).Decode(t, &p)
		if p.Products.TotalCount != 25 {
			t.Fatalf("totalCount = %d, want 25", p.Products.TotalCount)
		}
		seen = append(seen, titles(p)...)
		for _, edge := range p.Products.Edges {
			if len(edge.Node.Variants) != 3 {
				t.Fatalf("%s has %d variants, want 3", edge.Node.Title, len(edge.Node.Variants))
			}
		}
		if !p.Products.PageInfo.HasNextPage {
			if page != 2 || len(p.Products.Edges) != 5 {
				t.Fatalf("last page %d had %d products, want page 2 with 5", page, len(p.Products.Edges))
			}
			break
		}
		after = *p.Products.PageInfo.EndCursor
	}
	if len(seen) != 25 {
		t.Fatalf("saw %d products, want 25", len(seen))
	}
	for i, title := range seen {
		if want := fmt.Sprintf("Product %02d", i); title != want {
			t.Fatalf("product %d is %q, want %q (default order is by id)", i, title, want)
		}
	}
}

func testBackward(t *testing.T, e *graphtest.Env) {
	var p productPage
	e.Do(t, "", productsQuery, map[string]any{"last": 10}).Decode(t, &p)
	if got := titles(p); got[0] != "Product 15" || got[9] != "Product 24" {
		t.Fatalf("last 10 = %v", got)
	}
	if !p.Products.PageInfo.HasPreviousPage {
		t.Fatal("last 10 of 25 says there is no previous page")
	}
	var q productPage
	e.Do(t, "", productsQuery, map[string]any{"last": 10, "before": *p.Products.PageInfo.StartCursor}).Decode(t, &q)
	if got := titles(q); got[0] != "Product 05" || got[9] != "Product 14" {
		t.Fatalf("10 before Product 15 = %v", got)
	}
}

func testFilters(t *testing.T, e *graphtest.Env) {
	var p productPage
	e.Do(t, "", productsQuery, map[string]any{
		"first":   5,
		"where":   map[string]any{"titleContains": "Product 1"},
		"orderBy": map[string]any{"field": "TITLE", "direction": "DESC"},
	}).Decode(t, &p)
	want := []string{"Product 19", "Product 18", "Product 17", "Product 16", "Product 15"}
	if got := titles(p); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("filtered = %v, want %v", got, want)
	}
	if p.Products.TotalCount != 10 {
		t.Fatalf("totalCount = %d, want 10 (Product 10–19)", p.Products.TotalCount)
	}
	// Paging through an ordered, filtered list keeps order and filter.
	var q productPage
	e.Do(t, "", productsQuery, map[string]any{
		"first": 5, "after": *p.Products.PageInfo.EndCursor,
		"where":   map[string]any{"titleContains": "Product 1"},
		"orderBy": map[string]any{"field": "TITLE", "direction": "DESC"},
	}).Decode(t, &q)
	if got := titles(q); got[0] != "Product 14" || got[4] != "Product 10" || q.Products.PageInfo.HasNextPage {
		t.Fatalf("second filtered page = %v (hasNext %v)", got, q.Products.PageInfo.HasNextPage)
	}
	// Filter across an edge: products having a variant with this SKU.
	var r productPage
	e.Do(t, "", productsQuery, map[string]any{
		"first": 5, "where": map[string]any{"hasVariantsWith": []any{map[string]any{"sku": "P07-M"}}},
	}).Decode(t, &r)
	if got := titles(r); len(got) != 1 || got[0] != "Product 07" {
		t.Fatalf("by variant SKU = %v", got)
	}
	// Stock and price come through.
	v := r.Products.Edges[0].Node.Variants[1]
	if v.Sku != "P07-M" || v.Available != 71 || v.Price.Amount != 1701 || v.Price.Currency != "EUR" {
		t.Fatalf("variant = %+v", v)
	}
}

func testNode(t *testing.T, e *graphtest.Env, ids []string) {
	var out struct {
		Node struct {
			Typename string `json:"__typename"`
			Title    string
		}
	}
	e.Do(t, "", `query($id: ID!) { node(id: $id) { __typename ... on Product { title } } }`,
		map[string]any{"id": ids[3]}).Decode(t, &out)
	if out.Node.Typename != "Product" || out.Node.Title != "Product 03" {
		t.Fatalf("node = %+v", out.Node)
	}
	var many struct {
		Nodes []*struct{ ID string }
	}
	e.Do(t, "", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
		map[string]any{"ids": []string{ids[0], ids[1]}}).Decode(t, &many)
	if len(many.Nodes) != 2 || many.Nodes[0].ID != ids[0] || many.Nodes[1].ID != ids[1] {
		t.Fatalf("nodes = %+v", many.Nodes)
	}
	for _, tc := range []struct{ id, code string }{
		{"bWVyY2hkOjIxNDc0ODM2NDgxMjM0NQ", "NOT_FOUND"}, // well-formed, no such product
		{"bWVyY2hkOjk5", "NOT_FOUND"},                   // an id in no table's range
		{"not-an-id", "BAD_USER_INPUT"},
		{"", "BAD_USER_INPUT"},
		{strings.Repeat("A", 500), "BAD_USER_INPUT"},
	} {
		r := e.Do(t, "", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": tc.id})
		if r.Code() != tc.code {
			t.Errorf("node(%q): code %q (%+v), want %s", tc.id, r.Code(), r.Errors, tc.code)
		}
	}
}

func testArchive(t *testing.T, e *graphtest.Env, id string) {
	var out struct {
		ArchiveProduct struct{ Product struct{ Status string } }
	}
	e.Staff(t, `mutation($i: ArchiveProductInput!) { archiveProduct(input: $i) { product { status } } }`,
		map[string]any{"i": map[string]any{"id": id}}, &out)
	if out.ArchiveProduct.Product.Status != "ARCHIVED" {
		t.Fatalf("status = %q", out.ArchiveProduct.Product.Status)
	}
	q := `query($id: ID!) { node(id: $id) { id } products(first: 100) { totalCount } variants(first: 100) { totalCount } }`
	if r := e.Do(t, "", q, map[string]any{"id": id}); r.Code() != "NOT_FOUND" || !strings.Contains(string(r.Data), `"totalCount":24`) || !strings.Contains(string(r.Data), `"totalCount":72`) {
		t.Fatalf("anonymous sees archived product: %s %+v", r.Data, r.Errors)
	}
	var staff struct{ Products struct{ TotalCount int } }
	e.Staff(t, `{ products(first: 100) { totalCount } }`, nil, &staff)
	if staff.Products.TotalCount != 25 {
		t.Fatalf("staff sees %d products, want 25", staff.Products.TotalCount)
	}
}
