package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler/lru"
)

// TestQueryCachesKeepOnlySmallQueries: the parsed- and persisted-query
// caches count entries, so a client sending many huge distinct queries
// must not pin them (1,000 × 900 KB took a server to 986 MB RSS).
func TestQueryCachesKeepOnlySmallQueries(t *testing.T) {
	ctx := context.Background()
	c := smallOnly[string]{lru.New[string](10), func(_, q string) int { return len(q) }}
	big, small := strings.Repeat("{ a }", maxCachedQuery), "{ products { edges { node { id } } } }"
	c.Add(ctx, "big", big)
	c.Add(ctx, "small", small)
	if _, ok := c.Get(ctx, "big"); ok {
		t.Fatal("a query over maxCachedQuery was kept")
	}
	if v, ok := c.Get(ctx, "small"); !ok || v != small {
		t.Fatal("a small query was not kept")
	}
}
