package inventory_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/merchd/merchd/checkout/inventory"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/viewer"
)

// stocked opens a fresh database of the dialect with one variant and units
// of it in stock at central; it returns the client, the variant and central.
func stocked(t *testing.T, dialect string, units int) (*ent.Client, int, int) {
	t.Helper()
	db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, dialect)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := viewer.SystemContext(context.Background())
	c := db.Client
	loc := c.Location.Create().SetCode("central").SetName("Central").SetKind(location.KindCENTRAL).SaveX(ctx)
	p := c.Product.Create().SetTitle("Tee").SetSlug("tee").SaveX(ctx)
	v := c.Variant.Create().SetProductID(p.ID).SetSku("TEE").SetTitle("M").SetPriceAmount(1000).SetCurrency("EUR").SaveX(ctx)
	c.Stock.Create().SetVariantID(v.ID).SetLocationID(loc.ID).SetAvailable(units).ExecX(ctx)
	return c, v.ID, loc.ID
}

// race runs f(0) … f(n-1) in n goroutines released together.
func race(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { <-start; f(i) })
	}
	close(start)
	wg.Wait()
}

// inTx runs f in its own transaction, committed unless f fails.
func inTx(ctx context.Context, c *ent.Client, f func(tx *ent.Tx) error) error {
	tx, err := c.Tx(ctx)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func available(t *testing.T, c *ent.Client, variantID, locationID int) int {
	t.Helper()
	return c.Stock.Query().Where(stock.VariantID(variantID), stock.LocationID(locationID)).
		Select(stock.FieldAvailable).IntX(viewer.SystemContext(context.Background()))
}

// TestTakeLastUnits: 16 transactions take one unit each of the last 5 at
// once. Exactly 5 succeed, the rest are refused without an error, and the
// stock ends at 0, not below; Put gives the units back.
func TestTakeLastUnits(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			c, v, loc := stocked(t, d, 5)
			sys := viewer.SystemContext(context.Background())
			var took, refused atomic.Int32
			race(16, func(int) {
				err := inTx(sys, c, func(tx *ent.Tx) error {
					ok, err := inventory.Take(sys, tx, v, loc, 1)
					if ok {
						took.Add(1)
					} else if err == nil {
						refused.Add(1)
					}
					return err
				})
				if err != nil {
					t.Errorf("take: %v", err)
				}
			})
			if took.Load() != 5 || refused.Load() != 11 {
				t.Fatalf("%d takes succeeded and %d were refused, want 5 and 11", took.Load(), refused.Load())
			}
			if got := available(t, c, v, loc); got != 0 {
				t.Fatalf("%d available after selling out, want 0", got)
			}

			if err := inTx(sys, c, func(tx *ent.Tx) error { return inventory.Put(sys, tx, v, loc, 5) }); err != nil {
				t.Fatal(err)
			}
			if got := available(t, c, v, loc); got != 5 {
				t.Fatalf("%d available after putting 5 back, want 5", got)
			}
			// More than is left is refused whole, and changes nothing.
			if err := inTx(sys, c, func(tx *ent.Tx) error {
				if ok, err := inventory.Take(sys, tx, v, loc, 6); ok || err != nil {
					t.Errorf("take 6 of 5: ok=%v err=%v, want refused", ok, err)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if got := available(t, c, v, loc); got != 5 {
				t.Fatalf("%d available after a refused take, want 5", got)
			}
		})
	}
}

// TestPutConcurrently: 16 transactions put one unit each at a location
// that has no stock row yet; the first creates it, the rest add to it, and
// none is lost.
func TestPutConcurrently(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			c, v, _ := stocked(t, d, 0)
			sys := viewer.SystemContext(context.Background())
			hub := c.Location.Create().SetCode("north").SetName("North").SetKind(location.KindHUB).SaveX(sys)
			race(16, func(int) {
				if err := inTx(sys, c, func(tx *ent.Tx) error { return inventory.Put(sys, tx, v, hub.ID, 1) }); err != nil {
					t.Errorf("put: %v", err)
				}
			})
			if got := available(t, c, v, hub.ID); got != 16 {
				t.Fatalf("%d available at the hub after 16 puts of 1, want 16", got)
			}
		})
	}
}
