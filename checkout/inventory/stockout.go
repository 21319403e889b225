package inventory

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/stockout"
	"github.com/merchd/merchd/ent/viewer"
)

// MarkStockOut records, in tx after a write that moved the stock of a
// variant at a location, whether it ran out or came back: stock keeps no
// history, so these intervals are what analytics counts stock-out minutes
// from. Two guarded writes, neither a read-then-write:
//
//   - close: the open interval gets ended_at only WHERE stock there is
//     above 0 now;
//   - open: a new interval is inserted only WHERE stock there is 0 now,
//     and the partial unique index (one open interval per variant and
//     location) makes the insert a no-op while one is open already.
//
// Both read the stock row this transaction has just written (and locked),
// so they see the count the write left.
func MarkStockOut(ctx context.Context, tx *ent.Tx, variantID, locationID int, now time.Time) error {
	sys := viewer.SystemContext(ctx)
	var d string
	_, err := tx.StockOut.Update().
		Where(stockout.VariantID(variantID), stockout.LocationID(locationID), stockout.EndedAtIsNil(),
			func(s *sql.Selector) {
				d = s.Dialect()
				t := sql.Table(stock.Table)
				s.Where(sql.Exists(sql.Select(t.C(stock.FieldID)).From(t).Where(sql.And(
					sql.EQ(t.C(stock.FieldVariantID), variantID),
					sql.EQ(t.C(stock.FieldLocationID), locationID),
					sql.GT(t.C(stock.FieldAvailable), 0)))))
			}).
		SetEndedAt(now).Save(sys)
	if err != nil {
		return fmt.Errorf("inventory: close stock-out of variant %d at %d: %w", variantID, locationID, err)
	}
	q := `INSERT INTO stock_outs (variant_id, location_id, started_at)
SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM stocks WHERE variant_id = ? AND location_id = ? AND available = 0)
ON CONFLICT DO NOTHING`
	if d == dialect.Postgres {
		q = toDollar(q)
	}
	if _, err := tx.ExecContext(sys, q, variantID, locationID, now, variantID, locationID); err != nil {
		return fmt.Errorf("inventory: open stock-out of variant %d at %d: %w", variantID, locationID, err)
	}
	return nil
}

// toDollar rewrites ? placeholders as PostgreSQL's $1, $2, … (as txn
// does; inventory depends on no other checkout package).
func toDollar(q string) string {
	out := make([]byte, 0, len(q)+8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = fmt.Appendf(out, "$%d", n)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}
