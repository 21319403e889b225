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
		field.Int("order_id").Unique().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
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
		// The packaging the order leaves in (a label's variant, e.g.
		// "mailer-v2"); returns copy it, so return rates compare packagings.
		field.String("packaging_variant").Optional().Nillable(),
	}
}

// Edges of the Fulfillment.
func (Fulfillment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("fulfillment").Field("order_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("events", FulfillmentEvent.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Fulfillment.
func (Fulfillment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("pickup_code").Unique().Annotations(entsql.IndexWhere(fulfillmentOpen)),
		index.Fields("status", "updated_at"),
	}
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

// Annotations of the FulfillmentEvent.
func (FulfillmentEvent) Annotations() []schema.Annotation { return nil }

// Policy of the FulfillmentEvent.
func (FulfillmentEvent) Policy() ent.Policy { return ownedPolicy() }
