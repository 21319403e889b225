package inventory

import (
	"context"
	"time"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/stock"
)

// Take takes units of a variant at a location with one conditional
// atomic update, and reports false (changing nothing) when fewer are left.
// Every path that removes stock goes through here, so none can oversell.
func Take(ctx context.Context, tx *ent.Tx, variantID, locationID, units int) (bool, error) {
	n, err := tx.Stock.Update().
		Where(stock.VariantID(variantID), stock.LocationID(locationID), stock.AvailableGTE(units)).
		AddAvailable(-units).Save(ctx)
	if err != nil || n == 0 {
		return false, err
	}
	return true, MarkStockOut(ctx, tx, variantID, locationID, time.Now())
}

// Put adds units of a variant at a location, creating its stock row.
func Put(ctx context.Context, tx *ent.Tx, variantID, locationID, units int) error {
	if err := tx.Stock.Create().SetVariantID(variantID).SetLocationID(locationID).SetAvailable(units).
		OnConflictColumns(stock.FieldVariantID, stock.FieldLocationID).AddAvailable(units).Exec(ctx); err != nil {
		return err
	}
	return MarkStockOut(ctx, tx, variantID, locationID, time.Now())
}
