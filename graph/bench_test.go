package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"entgo.io/contrib/entgql"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/graphtest"
)

// BenchmarkStorefront measures the storefront's catalog page (20 products ×
// 3 variants, with images and stock) over real HTTP on loopback:
//
//   - memory: a bare gqlgen server (POST transport and a query cache, no
//     merchd middleware) running the same schema with resolvers that return
//     the same objects from memory — the ceiling;
//   - sqlite, postgres: the real merchd handler on each database, response
//     cache off;
//   - sqlite-cached, postgres-cached: the same with the response cache on
//     (package respcache), as `merchd serve` runs by default.
//
// Run: go test ./graph -run '^$' -bench Storefront -benchtime 5s
// (PostgreSQL with MERCHD_TEST_POSTGRES set). Reports req/s, p50/p99 and
// server-side allocations per request.
func BenchmarkStorefront(b *testing.B) {
	body, _ := json.Marshal(map[string]any{"query": storefrontQuery, "variables": map[string]any{"first": 20}})
	names := []string{"memory"}
	for _, d := range graphtest.Dialects(b) {
		names = append(names, d, d+"-cached")
	}
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			d, cached := strings.CutSuffix(name, "-cached")
			if d == "memory" {
				d = "sqlite" // the data is loaded from SQLite once, then served from memory
			}
			cfg := graph.DefaultConfig()
			if !cached {
				cfg.ResponseCacheBytes = 0
			}
			e := graphtest.New(b, graphtest.Options{Dialect: d, Config: &cfg})
			seedCatalog(b, e, 20)
			h := http.Handler(e.Server.Config.Handler)
			if name == "memory" {
				h = memoryServer(b, e)
				srv := httptest.NewServer(h)
				b.Cleanup(srv.Close)
				e = &graphtest.Env{URL: srv.URL + "/query"}
			}
			checkStorefront(b, e.URL, body)
			serverAllocs := allocsPerRequest(h, body)
			runLoad(b, e.URL, body)
			b.ReportMetric(serverAllocs, "server-allocs/req")
		})
	}
}

func checkStorefront(b *testing.B, url string, body []byte) {
	b.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out productPage
	var r struct {
		Data   json.RawMessage
		Errors []any
	}
	json.Unmarshal(raw, &r)
	json.Unmarshal(r.Data, &out)
	if len(r.Errors) > 0 || len(out.Products.Edges) != 20 || len(out.Products.Edges[19].Node.Variants) != 3 || out.Products.Edges[19].Node.Variants[2].Available != 192 {
		b.Fatalf("storefront response is not 20 × 3 with stock: %.300s", raw)
	}
}

// allocsPerRequest is the handler's own allocations for one request, without
// the network or the client.
func allocsPerRequest(h http.Handler, body []byte) float64 {
	return testing.AllocsPerRun(200, func() {
		req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), req)
	})
}

// runLoad sends b.N requests from 16 concurrent keep-alive clients and
// reports throughput and latency percentiles.
func runLoad(b *testing.B, url string, body []byte) {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	graphtest.ReportPercentiles(b, lat, 0.50, 0.99)
}

// memoryServer is the baseline: a bare gqlgen handler over merchd's schema
// whose product list, variants, images and stock come from memory.
func memoryServer(b *testing.B, e *graphtest.Env) http.Handler {
	ctx := viewer.SystemContext(context.Background())
	products, err := e.Client.Product.Query().WithNamedVariants("variants").WithNamedImages("images").Order(ent.Asc("id")).Limit(20).All(ctx)
	if err != nil {
		b.Fatal(err)
	}
	conn := &ent.ProductConnection{TotalCount: len(products)}
	for _, p := range products {
		conn.Edges = append(conn.Edges, &ent.ProductEdge{Node: p, Cursor: entgql.Cursor[int]{ID: p.ID}})
	}
	conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	levels := map[int]int{}
	for _, s := range e.Client.Stock.Query().Where(stock.LocationID(e.Catalog.LocationID())).AllX(ctx) {
		levels[s.VariantID] = s.Available
	}
	real := &graph.Resolver{Client: e.Client, Accounts: e.Accounts, Catalog: e.Catalog}
	root := memRoot{Resolver: real, conn: conn, levels: levels}
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: root}))
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](100))
	mux := http.NewServeMux()
	mux.Handle("/query", srv)
	return mux
}

type memRoot struct {
	*graph.Resolver
	conn   *ent.ProductConnection
	levels map[int]int
}

func (m memRoot) Query() graph.QueryResolver     { return memQuery{m.Resolver.Query(), m.conn} }
func (m memRoot) Variant() graph.VariantResolver { return memVariant{m.Resolver.Variant(), m.levels} }

type memQuery struct {
	graph.QueryResolver
	conn *ent.ProductConnection
}

func (q memQuery) Products(context.Context, *entgql.Cursor[int], *int, *entgql.Cursor[int], *int, *ent.ProductOrder, *ent.ProductWhereInput) (*ent.ProductConnection, error) {
	return q.conn, nil
}

type memVariant struct {
	graph.VariantResolver
	levels map[int]int
}

func (v memVariant) Available(_ context.Context, obj *ent.Variant) (int, error) {
	n, ok := v.levels[obj.ID]
	if !ok {
		return 0, fmt.Errorf("no stock for %d", obj.ID)
	}
	return n, nil
}
