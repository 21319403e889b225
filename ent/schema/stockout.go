package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// StockOut is one interval during which a variant had no stock at a
// location: opened when a write leaves its stock at 0, closed when a
// later write brings it back. Stock keeps no history, so these rows are
// what analytics counts stock-out minutes from. Each end is one guarded
// write (checkout/inventory.MarkStockOut): an insert that the partial
// unique index below turns into a no-op while an interval is open, and
// an update of the open interval only where stock is above 0 again.
type StockOut struct{ ent.Schema }

// Fields of the StockOut.
func (StockOut) Fields() []ent.Field {
	return []ent.Field{
		field.Int("variant_id").Immutable(),
		field.Int("location_id").Immutable(),
		field.Time("started_at").Immutable(),
		// Null while the variant is still out of stock there.
		field.Time("ended_at").Optional().Nillable(),
	}
}

// Indexes of the StockOut.
func (StockOut) Indexes() []ent.Index {
	return []ent.Index{
		// At most one open interval per variant and location.
		index.Fields("variant_id", "location_id").Unique().Annotations(entsql.IndexWhere("ended_at IS NULL")),
		// Analytics reads the intervals overlapping a period.
		index.Fields("started_at"),
	}
}

// Annotations of the StockOut.
func (StockOut) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipAll),
		entsql.Checks(map[string]string{"stock_out_ends_after_start": "ended_at IS NULL OR ended_at >= started_at"}),
	}
}

// Policy of the StockOut.
func (StockOut) Policy() ent.Policy { return systemOnlyPolicy() }
