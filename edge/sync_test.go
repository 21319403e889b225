package edge_test

import (
	"context"
	stdsql "database/sql"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/shop"
	"github.com/merchd/merchd/edge"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/hubsale"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/outbox"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// hubSaleInsertFails is central's database failing the insert of a hub
// sale once, when armed (a dropped connection, a full disk): a failure
// of central's, not of the sale.
type hubSaleInsertFails struct {
	dialect.Driver
	armed *atomic.Bool
}

func (d hubSaleInsertFails) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return failingTx{Tx: tx, armed: d.armed}, nil
}

type failingTx struct {
	dialect.Tx
	armed *atomic.Bool
}

// ExecContext runs recording's raw INSERT INTO hub_sales.
func (t failingTx) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	if strings.Contains(query, "INSERT INTO hub_sales") && t.armed.CompareAndSwap(true, false) {
		return nil, errors.New("write tcp 10.0.0.5:5432: broken pipe (password=secret-token-xyz)")
	}
	return t.Tx.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	}).ExecContext(ctx, query, args...)
}

func (t failingTx) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	return t.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	}).QueryContext(ctx, query, args...)
}

// TestSyncRetriesCentralFailuresAndParksRefusals: central answers one
// delivered sale with a per-sale INTERNAL (its database failed) and
// another with HUB_SALE_MISMATCH (a refusal). The hub delivers the first
// again after its backoff — not after cfg.Refused — and central records
// it exactly once; the refusal waits cfg.Refused for staff. Neither the
// hub's outbox nor its log holds central's internal words.
func TestSyncRetriesCentralFailuresAndParksRefusals(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			var armed atomic.Bool
			p := newPairWith(t, graphtest.Options{Dialect: d, Driver: func(drv dialect.Driver) dialect.Driver {
				return hubSaleInsertFails{Driver: drv, armed: &armed}
			}})
			ctx := context.Background()
			sys := viewer.SystemContext(ctx)
			sell := func(key string) hubs.RemoteSale {
				t.Helper()
				s, err := p.hubs.Sell(staff, hubs.SaleInput{Lines: []hubs.SellLine{{VariantID: p.variant, Quantity: 1}}, Pay: hubs.HubPay{Method: "CASH"}, Key: key})
				graphtest.Must(t, err)
				return s
			}
			failed, refused := sell("fails-once"), sell("mismatch")
			// Central holds the second sale's id with other content already.
			other := refused
			other.Lines = []hubs.SaleLine{{SKU: benchSKU, Quantity: 2, UnitAmount: refused.Lines[0].UnitAmount}}
			_, err := p.central.Hubs.Record(staff, other)
			graphtest.Must(t, err)
			hubLoc := p.central.Client.Location.Query().Where(location.Code(shop.DemoHubCode)).OnlyIDX(sys)
			cv := p.central.Client.Variant.Query().Where(variant.Sku(benchSKU)).OnlyIDX(sys)
			centralStock := func() int {
				return p.central.Client.Stock.Query().Where(stock.VariantID(cv), stock.LocationID(hubLoc)).OnlyX(sys).Available
			}
			before := centralStock()

			armed.Store(true)
			cfg := edge.DefaultConfig()
			cfg.Upstream, cfg.Token, cfg.Hub = p.central.Base, p.central.StaffToken, shop.DemoHubCode
			cfg.Poll, cfg.MinBackoff, cfg.MaxBackoff, cfg.Refused = 10*time.Millisecond, 10*time.Millisecond, 50*time.Millisecond, time.Hour
			var hubLog graphtest.SyncBuffer
			syncer := edge.New(cfg, p.hubDB, p.hubs, slog.New(slog.NewTextHandler(&hubLog, nil)), nil)
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { syncer.Run(runCtx); close(done) }()
			t.Cleanup(func() { stop(); <-done })

			record := func(saleID string) *ent.Outbox {
				return p.hubDB.Outbox.Query().Where(outbox.Key("hubsale-" + saleID)).OnlyX(sys)
			}
			deadline := time.Now().Add(15 * time.Second)
			for record(failed.SaleID).Status != outbox.StatusDONE {
				if time.Now().After(deadline) {
					o := record(failed.SaleID)
					t.Fatalf("the sale central failed on is still %s after 15s (attempts %d, next at %s, error %q): parked, not retried",
						o.Status, o.Attempts, o.NextAttemptAt.Format(time.RFC3339), o.LastError)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if armed.Load() {
				t.Fatal("central's database never failed: the test tested nothing")
			}
			o := record(failed.SaleID)
			if o.Attempts != 1 || !strings.Contains(o.LastError, "INTERNAL") || strings.Contains(o.LastError, "secret-token-xyz") {
				t.Fatalf("the retried sale's outbox record: attempts %d, last error %q", o.Attempts, o.LastError)
			}
			hs := p.central.Client.HubSale.Query().Where(hubsale.SaleID(failed.SaleID)).AllX(sys)
			if len(hs) != 1 || hs[0].Status != hubsale.StatusAPPLIED {
				t.Fatalf("central holds %d records of the retried sale: %+v", len(hs), hs)
			}
			if got := centralStock(); got != before-1 {
				t.Fatalf("central's stock at the hub went %d → %d: the sale applied %d times", before, got, before-got)
			}
			if !strings.Contains(p.central.Logs.String(), "secret-token-xyz") {
				t.Fatal("central did not log the cause of its failure")
			}

			// The refusal is parked for staff, as before.
			r := record(refused.SaleID)
			if r.Status != outbox.StatusPENDING || !strings.Contains(r.LastError, "HUB_SALE_MISMATCH") || r.NextAttemptAt.Before(time.Now().Add(50*time.Minute)) {
				t.Fatalf("the refused sale: %s, last error %q, next attempt %s", r.Status, r.LastError, r.NextAttemptAt.Format(time.RFC3339))
			}
			if strings.Contains(hubLog.String(), "secret-token-xyz") {
				t.Fatalf("central's internal words reached the hub: %s", hubLog.String())
			}
		})
	}
}
