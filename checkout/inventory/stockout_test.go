package inventory_test

import (
	"context"
	"testing"

	"github.com/merchd/merchd/checkout/inventory"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/stockout"
	"github.com/merchd/merchd/ent/viewer"
)

// TestStockOutIntervals: 16 transactions race for the last 3 units; the
// one that leaves 0 opens exactly one stock-out interval (the others'
// inserts are no-ops under the partial unique index). Putting units back
// closes it, once; selling out again opens a second one.
func TestStockOutIntervals(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			c, v, loc := stocked(t, d, 3)
			sys := viewer.SystemContext(context.Background())
			count := func(open bool) int {
				q := c.StockOut.Query().Where(stockout.VariantID(v), stockout.LocationID(loc))
				if open {
					q = q.Where(stockout.EndedAtIsNil())
				}
				return q.CountX(sys)
			}
			race(16, func(int) {
				if err := inTx(sys, c, func(tx *ent.Tx) error {
					_, err := inventory.Take(sys, tx, v, loc, 1)
					return err
				}); err != nil {
					t.Errorf("take: %v", err)
				}
			})
			if n, open := count(false), count(true); n != 1 || open != 1 {
				t.Fatalf("%d stock-out intervals (%d open) after selling out, want 1 open", n, open)
			}
			race(4, func(int) {
				if err := inTx(sys, c, func(tx *ent.Tx) error { return inventory.Put(sys, tx, v, loc, 1) }); err != nil {
					t.Errorf("put: %v", err)
				}
			})
			if n, open := count(false), count(true); n != 1 || open != 0 {
				t.Fatalf("%d intervals (%d open) after restocking, want 1 closed", n, open)
			}
			so := c.StockOut.Query().OnlyX(sys)
			if so.EndedAt == nil || so.EndedAt.Before(so.StartedAt) {
				t.Fatalf("interval %v – %v, want an end after its start", so.StartedAt, so.EndedAt)
			}
			if err := inTx(sys, c, func(tx *ent.Tx) error {
				_, err := inventory.Take(sys, tx, v, loc, 4)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if n, open := count(false), count(true); n != 2 || open != 1 {
				t.Fatalf("%d intervals (%d open) after selling out again, want 2, 1 open", n, open)
			}
		})
	}
}
