package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// returnOpen is the SQL of a return not yet dropped off: its fallback code
// is unique among these only, so codes stay short and are reused once the
// goods are in.
const returnOpen = "status = 'REQUESTED'"

// OrderReturn (GraphQL: Return) is a buyer sending units of a collected or
// delivered order back (checkout/returns): REQUESTED → RECEIVED (dropped
// off at a pickup point or hub, a scan) → INSPECTED (every unit graded)
// → REFUNDED, or CANCELED by the buyer before drop-off. Every transition
// is one conditional write. ("Return" is a Go keyword as a package name,
// hence the Go name.)
type OrderReturn struct{ ent.Schema }

// Mixin of the OrderReturn.
func (OrderReturn) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the OrderReturn.
func (OrderReturn) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("fulfillment_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("status").Values("REQUESTED", "RECEIVED", "INSPECTED", "REFUNDED", "CANCELED").Default("REQUESTED"),
		field.Enum("reason").Values("DAMAGED", "DEFECTIVE", "WRONG_ITEM", "NOT_AS_DESCRIBED", "DOES_NOT_FIT",
			"CHANGED_MIND", "OTHER").Immutable(),
		field.String("reason_text").Default("").MaxLen(500).Immutable(),
		// The short code a clerk types when the return QR cannot be
		// scanned: unique among returns not yet dropped off (see Indexes).
		field.String("code").Immutable(),
		// How this return is refunded, as the shop's policy said when the
		// buyer asked: wallet credit at drop-off, or to the card after
		// inspection.
		field.Enum("refund_mode").Values("WALLET_ON_DROPOFF", "CARD_AFTER_INSPECTION").Immutable(),
		// The packaging the order was shipped in (copied from its
		// fulfilment), so return rates can be compared by packaging.
		field.String("packaging_variant").Optional().Nillable().Immutable(),
		// units is how many units come back (one line each); graded_units
		// how many are graded. Grading moves graded_units by one with a
		// conditional update, so the last grade is known without a read.
		field.Int("units").Positive().Immutable(),
		field.Int("graded_units").NonNegative().Default(0),
		// amount is what the units cost the buyer; refunded_amount what
		// was refunded for them (less, if the order had less left).
		field.Int64("amount").NonNegative().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("refunded_amount").NonNegative().Default(0).Annotations(entgql.Skip(entgql.SkipAll)),
		// The card refund in flight (CARD_AFTER_INSPECTION): the return is
		// REFUNDED once it succeeded.
		field.Int("card_refund_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("received_at").Optional().Nillable(),
		field.Int("received_location_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		// Who scanned it in: "staff:<id>" or "hub:<code>".
		field.String("received_by").Default("").Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("inspected_at").Optional().Nillable(),
		field.Time("refunded_at").Optional().Nillable(),
		field.Time("canceled_at").Optional().Nillable(),
	}
}

// Edges of the OrderReturn.
func (OrderReturn) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("returns").Field("order_id").Unique().Required().Immutable(),
		edge.To("lines", ReturnLine.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("received_location", Location.Type).Field("received_location_id").Unique(),
	}
}

// Indexes of the OrderReturn.
func (OrderReturn) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("code").Unique().Annotations(entsql.IndexWhere(returnOpen)),
		index.Fields("status", "id"), // the inspection lane, oldest first
		index.Fields("order_id"),
		index.Fields("packaging_variant"),
	}
}

// Annotations of the OrderReturn.
func (OrderReturn) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Type("Return"),
		entgql.RelayConnection(),
		entsql.Checks(map[string]string{
			"order_return_graded_within_units":    "graded_units >= 0 AND graded_units <= units",
			"order_return_refund_within_amount":   "refunded_amount >= 0 AND refunded_amount <= amount",
			"order_return_units_positive":         "units > 0",
			"order_return_amount_non_negative":    "amount >= 0",
			"order_return_received_has_location":  "status IN ('REQUESTED', 'CANCELED') OR received_location_id IS NOT NULL",
			"order_return_canceled_only_unopened": "status <> 'CANCELED' OR received_at IS NULL",
		}),
	}
}

// Policy of the OrderReturn.
func (OrderReturn) Policy() ent.Policy { return ownedPolicy() }

// ReturnLine is one unit coming back, so each unit is graded on its own:
// RESELLABLE (back into a location's stock), NEEDS_REPACK or DISPOSE. A
// unit is graded once (a conditional write on an ungraded line).
type ReturnLine struct{ ent.Schema }

// Fields of the ReturnLine.
func (ReturnLine) Fields() []ent.Field {
	return []ent.Field{
		field.Int("return_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("order_line_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("variant_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("unit_amount").NonNegative().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("grade").Values("RESELLABLE", "NEEDS_REPACK", "DISPOSE").Optional().Nillable(),
		field.Time("graded_at").Optional().Nillable(),
		// Where it was graded (and, if RESELLABLE, restocked).
		field.Int("location_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("graded_by").Default("").Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the ReturnLine.
func (ReturnLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order_return", OrderReturn.Type).Ref("lines").Field("return_id").Unique().Required().Immutable(),
		edge.To("order_line", OrderLine.Type).Field("order_line_id").Unique().Required().Immutable(),
		edge.To("location", Location.Type).Field("location_id").Unique(),
	}
}

// Indexes of the ReturnLine.
func (ReturnLine) Indexes() []ent.Index {
	return []ent.Index{index.Fields("return_id")}
}

// Annotations of the ReturnLine.
func (ReturnLine) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{"return_line_graded_whole": "grade IS NULL AND graded_at IS NULL OR grade IS NOT NULL AND graded_at IS NOT NULL"}),
	}
}

// Policy of the ReturnLine.
func (ReturnLine) Policy() ent.Policy { return ownedPolicy() }
