package edge_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/catalog"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/shop"
	"github.com/merchd/merchd/edge"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

const benchSKU = "tour-tee-2026-1"

var staff = viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Staff, StaffID: 1})

// pair is a central API and a hub database, with the hub leased a large
// allocation of benchSKU.
type pair struct {
	central *graphtest.Env
	hubDB   *ent.Client
	hubs    *edge.Sales
	variant int // on the hub
	syncer  *edge.Syncer
}

func newPair(tb testing.TB) *pair { return newPairWith(tb, graphtest.Options{}) }

// newPairWith is newPair with central started with o.
func newPairWith(tb testing.TB, o graphtest.Options) *pair {
	tb.Helper()
	ctx := context.Background()
	central := graphtest.New(tb, o)
	graphtest.Must(tb, shop.SeedDemo(ctx, central.Client, "EUR", central.Catalog.LocationID()))
	cv, err := central.Client.Variant.Query().Where(variant.Sku(benchSKU)).OnlyID(viewer.SystemContext(ctx))
	graphtest.Must(tb, err)
	_, err = central.Catalog.SetStock(staff, cv, central.Catalog.LocationID(), 5_000_000, "bench-stock")
	graphtest.Must(tb, err)
	_, err = central.Hubs.Lease(staff, central.Catalog.LocationID(), shop.DemoHubCode, cv, 4_000_000, "bench-lease")
	graphtest.Must(tb, err)

	db, err := entdb.Open(ctx, entdb.Config{URL: graphtest.DatabaseURL(tb, "sqlite")})
	graphtest.Must(tb, err)
	tb.Cleanup(func() { db.Close() })
	catalog, err := catalog.New(ctx, db.Client, catalog.Config{Currencies: []string{"EUR"}, Location: shop.DemoHubCode})
	graphtest.Must(tb, err)
	graphtest.Must(tb, shop.SeedDemo(ctx, db.Client, "EUR", catalog.LocationID()))
	now := func() time.Time { return time.Now().UTC() }
	hubSvc := edge.NewSales(db.Client, db.Dialect, shop.DemoHubCode, now)
	hv, err := db.Client.Variant.Query().Where(variant.Sku(benchSKU)).OnlyID(viewer.SystemContext(ctx))
	graphtest.Must(tb, err)
	cfg := edge.DefaultConfig()
	cfg.Upstream, cfg.Token, cfg.Hub, cfg.Poll = central.Base, central.StaffToken, shop.DemoHubCode, 20*time.Millisecond
	p := &pair{central: central, hubDB: db.Client, hubs: hubSvc, variant: hv,
		syncer: edge.New(cfg, db.Client, hubSvc, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)}
	// Adopt the allocation once, as a hub does on its first connect.
	graphtest.Must(tb, hubSvc.Adopt(ctx, shop.DemoHubCode, []hubs.AllocationLine{{SKU: benchSKU, Available: 4_000_010}}))
	return p
}

// run starts the sync loop until the test ends.
func (p *pair) run(tb testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.syncer.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
}

func (p *pair) queued(tb testing.TB) int {
	q, err := p.hubs.Queue(context.Background())
	graphtest.Must(tb, err)
	return q.Depth
}

// walletPasses lets the hub take wallet payments from 100 customers with
// ample balances, as after a sync, and returns their passes.
func (p *pair) walletPasses(tb testing.TB) []string {
	ctx := context.Background()
	signer, err := hubs.NewSigner(ctx, p.central.Client)
	graphtest.Must(tb, err)
	p.hubs.TrustCentral(signer.Verifier, 1<<50)
	passes := make([]string, 100)
	balances := make([]hubs.WalletBalance, len(passes))
	for i := range passes {
		passes[i], _ = signer.IssueWalletPass(i+1, "EUR", time.Now())
		balances[i] = hubs.WalletBalance{CustomerID: i + 1, Balance: 1 << 50}
	}
	graphtest.Must(tb, p.hubs.AdoptWallets(ctx, "EUR", balances))
	return passes
}

// sell rings up n one-item cash sales from tills concurrent tills and
// returns each sale's commit latency.
func (p *pair) sell(tb testing.TB, n, tills int, prefix string) []time.Duration {
	return p.sellPaid(tb, n, tills, prefix, func(int) hubs.HubPay { return hubs.HubPay{Method: "CASH"} })
}

// sellPaid is sell with sale i paid as pay(i) says.
func (p *pair) sellPaid(tb testing.TB, n, tills int, prefix string, pay func(i int) hubs.HubPay) []time.Duration {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	for w := range tills {
		wg.Go(func() {
			for i := w; i < n; i += tills {
				t0 := time.Now()
				_, err := p.hubs.Sell(staff, hubs.SaleInput{Lines: []hubs.SellLine{{VariantID: p.variant, Quantity: 1}}, Pay: pay(i), Key: prefix + strconv.Itoa(i)})
				lat[i] = time.Since(t0)
				if err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return lat
}

func reportLatency(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "sales/s")
	graphtest.ReportPercentiles(b, lat, 0.50, 0.99)
}

// BenchmarkHubSale is the commit latency of a cash sale at the hub (sale,
// stock and outbox in one SQLite transaction), from 4 tills at once: with
// central unreachable (offline) and with the sync loop delivering to a
// central over HTTP at the same time (online); and of an offline wallet
// sale (the pass's signature checked, the spend booked against the synced
// balance and the offline limit, in the same transaction).
func BenchmarkHubSale(b *testing.B) {
	for _, mode := range []string{"offline", "online", "offline-wallet"} {
		b.Run(mode, func(b *testing.B) {
			p := newPair(b)
			pay := func(int) hubs.HubPay { return hubs.HubPay{Method: "CASH"} }
			switch mode {
			case "online":
				p.run(b)
			case "offline-wallet":
				passes := p.walletPasses(b)
				pay = func(i int) hubs.HubPay {
					return hubs.HubPay{Method: "WALLET", WalletPass: passes[i%len(passes)]}
				}
			}
			b.ResetTimer()
			start := time.Now()
			lat := p.sellPaid(b, b.N, 4, mode, pay)
			elapsed := time.Since(start)
			b.StopTimer()
			reportLatency(b, lat, elapsed)
			if mode != "online" && p.queued(b) != b.N {
				b.Fatalf("%d queued after %d sales", p.queued(b), b.N)
			}
		})
	}
}

// BenchmarkHubReplay is how fast a hub's queue drains to central after the
// link returns: b.N sales queued offline, then the sync loop delivers them
// (batches of 100 over HTTP, each sale applied once on central).
func BenchmarkHubReplay(b *testing.B) {
	p := newPair(b)
	p.sell(b, b.N, 4, "replay")
	b.ResetTimer()
	start := time.Now()
	p.run(b)
	for p.queued(b) > 0 {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sales/s")
	var n struct{ HubSales struct{ TotalCount int } }
	p.central.Staff(b, `{ hubSales(first: 0) { totalCount } }`, nil, &n)
	if n.HubSales.TotalCount != b.N {
		b.Fatalf("central holds %d hub sales after replaying %d", n.HubSales.TotalCount, b.N)
	}
	if st, _, e := p.syncer.LinkStatus(); st == hubs.LinkOffline || strings.TrimSpace(e) != "" {
		b.Fatalf("link %s: %s", st, e)
	}
}
