package graph_test

import (
	"context"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/graphtest"
)

var debugQueries = false

// countingDriver counts the statements sent to the database.
type countingDriver struct {
	dialect.Driver
	n *atomic.Int64
}

func (d countingDriver) Query(ctx context.Context, q string, args, v any) error {
	d.n.Add(1)
	if debugQueries {
		println(q)
	}
	return d.Driver.Query(ctx, q, args, v)
}

func (d countingDriver) Exec(ctx context.Context, q string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Exec(ctx, q, args, v)
}

// storefrontQuery is the catalog page a storefront renders.
const storefrontQuery = `query Storefront($first: Int!) {
  products(first: $first) {
    edges { cursor node {
      id title slug description
      images { url alt }
      variants { id sku title selectedOptions { name value } price { amount currency } compareAtPrice { amount currency } available }
    } }
    pageInfo { hasNextPage endCursor }
  }
}`

// TestStorefrontQueryCount: listing products with variants, images and stock
// costs the same number of queries for 2 products as for 20 (no N+1).
func TestStorefrontQueryCount(t *testing.T) {
	var n atomic.Int64
	cfg := graph.DefaultConfig()
	cfg.ResponseCacheBytes = 0 // count the operation's own queries, every time
	e := graphtest.New(t, graphtest.Options{Config: &cfg, Driver: func(d dialect.Driver) dialect.Driver { return countingDriver{d, &n} }})
	seedCatalog(t, e, 20)
	count := func(first int) int64 {
		var out struct {
			Products struct {
				Edges []struct {
					Node struct {
						Variants []struct{ Available int }
					}
				}
			}
		}
		n.Store(0)
		e.Do(t, "", storefrontQuery, map[string]any{"first": first}).Decode(t, &out)
		got := n.Load()
		if len(out.Products.Edges) != first {
			t.Fatalf("got %d products, want %d", len(out.Products.Edges), first)
		}
		for _, edge := range out.Products.Edges {
			if len(edge.Node.Variants) != 3 {
				t.Fatalf("product has %d variants, want 3", len(edge.Node.Variants))
			}
		}
		return got
	}
	small, large := count(2), count(20)
	t.Logf("queries: %d for 2 products, %d for 20", small, large)
	if small != large {
		t.Fatalf("query count grows with page size: %d for 2 products, %d for 20", small, large)
	}
	// count (entgql computes pageInfo from it), products, variants, images,
	// stock: five, whatever the page size.
	if large > 5 {
		t.Fatalf("%d queries for one storefront page, want at most 5", large)
	}
}
