package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/merchd/merchd/ent/schema/types"
)

// fulfillmentOpen is the SQL of a fulfilment not yet handed over: its
// fallback pickup code is unique among these only, so codes are reused
// once collected and stay short.
const fulfillmentOpen = "status NOT IN ('COLLECTED', 'DELIVERED', 'CANCELED', 'FAILED')"

// Fulfillment is how one paid order reaches its buyer, with its own state
// machine (checkout/fulfillment): UNFULFILLED → PICKING → PACKED →
// READY_FOR_PICKUP | HANDED_TO_COURIER → COLLECTED | DELIVERED, or FAILED,
// REROUTED, CANCELED. Every transition is one conditional write.
type Fulfillment struct{ ent.Schema }

// Mixin of the Fulfillment.
func (Fulfillment) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Fulfillment.
func (Fulfillment) Fields() []ent.Field {
	return []ent.Field{
		// An order has one fulfilment, and one more for each part staff
		// split off (partial fulfilment by line): see split_from.
		field.Int("order_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("method").Values("PICKUP", "LOCAL_DELIVERY", "SHIPPING").Default("PICKUP"),
		field.Enum("status").Values("UNFULFILLED", "PICKING", "PACKED", "READY_FOR_PICKUP", "HANDED_TO_COURIER",
			"COLLECTED", "DELIVERED", "FAILED", "REROUTED", "CANCELED").Default("UNFULFILLED"),
		// The pickup point (a location), for PICKUP.
		field.Int("location_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		// The short code a clerk types when the pass cannot be scanned:
		// unique among open fulfilments (see Indexes), shown only to the
		// buyer and staff.
		field.String("pickup_code").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("collected_at").Optional().Nillable(),
		// The SLA deadline: by then the next scan must have happened (a
		// pickup collected, a delivery delivered, a parcel handed to the
		// courier), or the SLA sweep escalates it, once. Null: no timer.
		field.Time("due_at").Optional().Nillable().Annotations(entgql.OrderField("DUE_AT")),
		// When the SLA sweep last escalated it (it stays on the late list).
		field.Time("escalated_at").Optional().Nillable(),
		// How many times a missed pickup was moved on to another window.
		field.Int("reroutes").Default(0).NonNegative(),
		// When a late same-day delivery credited the buyer (once).
		field.Time("late_credited_at").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		// The packaging the parcel went out in ("" unknown), so returns
		// can be counted per packaging variant.
		field.String("packaging_variant").Default("").MaxLen(40),
		// The pickup window the buyer chose (PICKUP), and where to deliver
		// (LOCAL_DELIVERY, SHIPPING): copied from the order's delivery
		// choice when the fulfilment opens.
		field.Int("window_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.JSON("address", &types.Address{}).Optional().Annotations(entgql.Skip(entgql.SkipAll)),
		// The fulfilment this one was split off (null: the order's first,
		// opened when it was paid). Split fulfilments move on their own.
		field.Int("split_from").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the Fulfillment.
func (Fulfillment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("fulfillments").Field("order_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("events", FulfillmentEvent.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("lines", FulfillmentLine.Type).Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Fulfillment.
func (Fulfillment) Indexes() []ent.Index {
	return []ent.Index{
		// One first fulfilment per order: opening a paid order twice is a
		// no-op under this index (splits add the others).
		index.Fields("order_id").Unique().Annotations(entsql.IndexWhere("split_from IS NULL")),
		index.Fields("pickup_code").Unique().Annotations(entsql.IndexWhere(fulfillmentOpen)),
		index.Fields("status", "updated_at"),
		// The SLA sweep reads open fulfilments past their deadline from
		// this index only (never a scan of all fulfilments).
		index.Fields("due_at").Annotations(entsql.IndexWhere(fulfillmentOpen + " AND due_at IS NOT NULL")),
		// The pickups waiting at one point (a hub lists its own).
		index.Fields("location_id", "status"),
		// Analytics: pickups collected, and deadlines missed, in a period.
		index.Fields("collected_at"),
		index.Fields("escalated_at"),
	}
}

// Annotations of the Fulfillment: staff page through every fulfilment
// (buyers see their own, by the policy).
func (Fulfillment) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}

// Policy of the Fulfillment.
func (Fulfillment) Policy() ent.Policy { return ownedPolicy() }

// FulfillmentEvent is one transition of a fulfilment: when, from what to
// what, and who did it (staff, a hub, a courier's scan, the system).
type FulfillmentEvent struct{ ent.Schema }

// Fields of the FulfillmentEvent.
func (FulfillmentEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int("fulfillment_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("from").Immutable(),
		field.String("to").Immutable(),
		field.Enum("actor").Values("STAFF", "HUB", "COURIER", "SYSTEM", "CUSTOMER").Immutable(),
		// The staff token, hub code or courier that acted ("" for the system).
		field.String("actor_id").Default("").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("note").Default("").Immutable(),
		// The label scan that made it ("" for a move made by hand): PACKED,
		// HANDED_OVER, AT_LOCKER, COLLECTED, DELIVERED, RETURNED, or SLA.
		field.String("scan").Default("").MaxLen(20).Immutable(),
		field.Time("at").Default(timeNow).Immutable(),
	}
}

// Edges of the FulfillmentEvent.
func (FulfillmentEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("fulfillment", Fulfillment.Type).Ref("events").Field("fulfillment_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the FulfillmentEvent: analytics reads the handovers of a
// period.
func (FulfillmentEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("to", "at")}
}

// Annotations of the FulfillmentEvent.
func (FulfillmentEvent) Annotations() []schema.Annotation { return nil }

// Policy of the FulfillmentEvent.
func (FulfillmentEvent) Policy() ent.Policy { return ownedPolicy() }

// FulfillmentLine is how many units of one order line a fulfilment
// carries. The order's first fulfilment carries every line; a split moves
// units to a new fulfilment with one conditional decrement here
// (`quantity >= n`), so a unit is never in two fulfilments.
type FulfillmentLine struct{ ent.Schema }

// Fields of the FulfillmentLine.
func (FulfillmentLine) Fields() []ent.Field {
	return []ent.Field{
		field.Int("fulfillment_id").Immutable(),
		field.Int("order_line_id").Immutable(),
		field.Int("customer_id").Immutable(),
		field.Int("quantity").NonNegative(),
	}
}

// Edges of the FulfillmentLine.
func (FulfillmentLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("fulfillment", Fulfillment.Type).Ref("lines").Field("fulfillment_id").Unique().Required().Immutable(),
	}
}

// Indexes of the FulfillmentLine.
func (FulfillmentLine) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("fulfillment_id", "order_line_id").Unique(),
		// What of an order line was handed over (returns read it).
		index.Fields("order_line_id"),
	}
}

// Annotations of the FulfillmentLine: read through Fulfillment.lines.
func (FulfillmentLine) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the FulfillmentLine.
func (FulfillmentLine) Policy() ent.Policy { return ownedPolicy() }
