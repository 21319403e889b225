package graph

import (
	"context"
	"fmt"
	"sync"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/stock"
)

// stockLoader batches Variant.available: every variant that ent loads during
// a request is registered (by an interceptor), and the first `available` read
// loads the stock of all of them in one query. Listing 20 products × 3
// variants therefore costs one stock query, not 60.
type stockLoader struct {
	mu      sync.Mutex
	pending []int
	levels  map[int]int
}

type stockLoaderKey struct{}

func withStockLoader(ctx context.Context) context.Context {
	return context.WithValue(ctx, stockLoaderKey{}, &stockLoader{levels: map[int]int{}})
}

func stockLoaderFrom(ctx context.Context) *stockLoader {
	l, _ := ctx.Value(stockLoaderKey{}).(*stockLoader)
	return l
}

// registerLoadedVariants is an ent interceptor feeding the request's loader.
func registerLoadedVariants() ent.Interceptor {
	return ent.InterceptFunc(func(next ent.Querier) ent.Querier {
		return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
			v, err := next.Query(ctx, q)
			if l := stockLoaderFrom(ctx); l != nil && err == nil {
				if vs, ok := v.([]*ent.Variant); ok {
					l.mu.Lock()
					for _, x := range vs {
						if _, done := l.levels[x.ID]; !done {
							l.pending = append(l.pending, x.ID)
						}
					}
					l.mu.Unlock()
				}
			}
			return v, err
		})
	})
}

// available returns the variant's stock at locationID, loading every pending
// variant's at once. A variant without a stock row has zero available.
func (r *Resolver) available(ctx context.Context, variantID int) (int, error) {
	l := stockLoaderFrom(ctx)
	if l == nil {
		l = &stockLoader{levels: map[int]int{}}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.levels[variantID]; ok {
		return n, nil
	}
	ids := append(l.pending, variantID)
	l.pending = nil
	rows, err := r.Client.Stock.Query().
		Where(stock.LocationID(r.Catalog.LocationID()), stock.VariantIDIn(ids...)).
		Select(stock.FieldVariantID, stock.FieldAvailable).
		All(ctx)
	if err != nil {
		return 0, fmt.Errorf("graph: load stock: %w", err)
	}
	for _, id := range ids {
		l.levels[id] = 0
	}
	for _, s := range rows {
		l.levels[s.VariantID] = s.Available
	}
	return l.levels[variantID], nil
}
