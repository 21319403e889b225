package graph_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cart"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/graph/model"
)

// BenchmarkFlashDrop: b.N buyers, each with their own account, race to hold
// one unit of a drop with b.N/10 units, 64 at a time, over real HTTP.
// Reports hold attempts/s and latency; fails unless exactly the drop's
// units were held. Per database, in the same run: unbatched (one
// transaction per hold), batched (group commit, the default) and ceiling
// (the same HTTP and GraphQL path with a no-op hold: every attempt
// answers a line without touching the database).
//
//	go test ./graph -run '^$' -bench FlashDrop -benchtime 5000x
func BenchmarkFlashDrop(b *testing.B) {
	for _, d := range graphtest.Dialects(b) {
		for _, mode := range []string{"unbatched", "batched", "ceiling"} {
			b.Run(d+"/"+mode, func(b *testing.B) { flashDrop(b, d, mode) })
		}
	}
}

func flashDrop(b *testing.B, d, mode string) {
	cc := carts.DefaultConfig()
	cc.HoldBatch = mode == "batched"
	o := graphtest.Options{Dialect: d, Cart: &cc}
	if mode == "ceiling" {
		o.Resolver = func(r *graph.Resolver) {
			r.NoopHold = func(ctx context.Context, in carts.AddToCartInput) (*model.AddToCartPayload, error) {
				now := time.Now()
				return &model.AddToCartPayload{
					Cart: &ent.Cart{ID: 1, Currency: "EUR", Status: cart.StatusOPEN},
					Line: &ent.CartLine{ID: 1, CartID: 1, VariantID: in.VariantID, Quantity: in.Quantity,
						Currency: "EUR", Status: cartline.StatusHELD, ExpiresAt: now.Add(10 * time.Minute), CreatedAt: now},
				}, nil
			}
		}
	}
	e := graphtest.New(b, o)
	units := max(b.N/10, 1)
	v := newVariant(b, e, units*2, 2500, "EUR")
	t0 := e.Clock.Now()
	createDrop(b, e, map[string]any{"title": "Bench", "variantIds": []string{v}, "cap": units,
		"perCustomerLimit": 1, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
	toks := customers(b, e, b.N, fmt.Sprintf("bench%d-", b.N))
	body := func(i int) io.Reader {
		return strings.NewReader(fmt.Sprintf(`{"query":%q,"variables":{"i":{"variantId":%q,"quantity":1,"idempotencyKey":"b"}}}`, addToCartMutation, v))
	}
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64}}
	lat := make([]time.Duration, b.N)
	var held, refused, other atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	batches := e.Carts.Batches()
	b.ResetTimer()
	start := time.Now()
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, e.URL, body(i))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+toks[i])
				t1 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t1)
				switch s := string(raw); {
				case strings.Contains(s, `"OUT_OF_STOCK"`):
					refused.Add(1)
				case strings.Contains(s, `"errors"`):
					other.Add(1)
				default:
					held.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	want := int64(units)
	if mode == "ceiling" {
		want = int64(b.N)
	}
	if held.Load() != want || other.Load() != 0 {
		b.Fatalf("held %d (want %d), refused %d, other errors %d", held.Load(), want, refused.Load(), other.Load())
	}
	if mode != "ceiling" {
		n := e.Client.CartLine.Query().Where(cartline.StatusEQ(cartline.StatusHELD)).CountX(viewer.SystemContext(context.Background()))
		if n != units || stockOf(b, e, v) != units {
			b.Fatalf("database: %d holds, stock %d; want %d and %d", n, stockOf(b, e, v), units, units)
		}
		b.ReportMetric(float64(units), "units-sold")
	}
	if mode == "batched" {
		b.ReportMetric(float64(e.Carts.Batches()-batches), "batches")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "attempts/s")
	graphtest.ReportPercentiles(b, lat, 0.50, 0.99)
}

// txCounter counts transactions opened on the database.
type txCounter struct {
	dialect.Driver
	n *atomic.Int64
}

func (d txCounter) Tx(ctx context.Context) (dialect.Tx, error) {
	d.n.Add(1)
	return d.Driver.Tx(ctx)
}

// TestSoldOutRefusalsOpenNoTransaction: once a drop is sold out, refusing
// buyers costs reads only — no write transaction, so no write lock.
func TestSoldOutRefusalsOpenNoTransaction(t *testing.T) {
	var txs atomic.Int64
	e := graphtest.New(t, graphtest.Options{Driver: func(d dialect.Driver) dialect.Driver { return txCounter{d, &txs} }})
	v := newVariant(t, e, 10, 1000, "EUR")
	t0 := e.Clock.Now()
	createDrop(t, e, map[string]any{"title": "Tiny", "variantIds": []string{v}, "cap": 1, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
	toks := customers(t, e, 21, "soldout")
	start := txs.Load()
	wantCode(t, addToCart(t, e, toks[0], v, 1, "k"), "")
	before := txs.Load()
	if before == start {
		t.Fatal("the counter saw no transaction for a successful hold; it counts nothing")
	}
	for _, tok := range toks[1:] {
		wantCode(t, addToCart(t, e, tok, v, 1, "k"), "OUT_OF_STOCK")
	}
	if got := txs.Load() - before; got != 0 {
		t.Fatalf("20 sold-out refusals opened %d transactions, want 0", got)
	}
}
