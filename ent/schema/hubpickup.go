package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// HubPickup is, at a hub, one pickup whose pickup point is this hub: the
// hub's copy of central's list of waiting pickups (so a typed fallback
// code works without a link), and the hub's handover of it. The unique
// index on fulfillment_id makes a handover at the hub once, with or
// without a link: two clerks scanning one pass, one COLLECTED and the
// other ALREADY_COLLECTED. A collection is written with its outbox entry
// in one transaction; central applies it once by collection_id.
type HubPickup struct{ ent.Schema }

// Fields of the HubPickup.
func (HubPickup) Fields() []ent.Field {
	return []ent.Field{
		field.Int("fulfillment_id").Unique().Immutable(), // central's id
		field.Int("order_id").Immutable(),                // central's id
		field.String("pickup_code").Immutable().MaxLen(16),
		// WAITING: listed by central (or scanned here, not yet collected);
		// COLLECTED: handed over here; GONE: central no longer lists it as
		// waiting here (collected elsewhere, canceled or moved).
		field.Enum("status").Values("WAITING", "COLLECTED", "GONE").Default("WAITING"),
		// When central last listed it as waiting here (nil: known only
		// from a scanned pass).
		field.Time("listed_at").Optional().Nillable(),
		// The handover here: its id (central applies it once by it) and
		// when the clerk handed it over.
		field.String("collection_id").Optional().Nillable().Unique().MaxLen(64),
		field.Time("collected_at").Optional().Nillable(),
		// Central's answer once synced: COLLECTED, ALREADY_COLLECTED
		// (central had it collected before: a conflict for staff) or
		// CONFLICT (central could not apply it), with its note.
		field.Enum("outcome").Values("COLLECTED", "ALREADY_COLLECTED", "CONFLICT").Optional().Nillable(),
		field.String("note").Default("").MaxLen(1000),
		field.Time("synced_at").Optional().Nillable(),
	}
}

// Indexes of the HubPickup.
func (HubPickup) Indexes() []ent.Index {
	return []ent.Index{index.Fields("pickup_code"), index.Fields("status", "listed_at")}
}

// Annotations of the HubPickup.
func (HubPickup) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the HubPickup.
func (HubPickup) Policy() ent.Policy { return systemOnlyPolicy() }

// HubCollection is, on central, a pickup handover a hub delivered: applied
// once by collection_id however often it is delivered, with central's
// outcome, so a redelivery answers what the first delivery did.
type HubCollection struct{ ent.Schema }

// Fields of the HubCollection.
func (HubCollection) Fields() []ent.Field {
	return []ent.Field{
		field.String("collection_id").Unique().Immutable().NotEmpty().MaxLen(64),
		field.String("hub").Immutable().NotEmpty().MaxLen(40), // from the hub's token
		field.Int("fulfillment_id").Immutable(),
		// COLLECTED: this collection handed the pickup over on central;
		// ALREADY_COLLECTED: central had it collected before (at the
		// counter, by another scan): the hub's handover is a conflict for
		// staff; CONFLICT: its state allowed no handover (canceled, say).
		field.Enum("outcome").Values("COLLECTED", "ALREADY_COLLECTED", "CONFLICT"),
		// When the hub says it handed over, as delivered.
		field.Time("claimed_at").Immutable(),
		// When central holds the pickup collected (the hub's time, clamped,
		// or the earlier collection's).
		field.Time("collected_at").Optional().Nillable(),
		field.Time("recorded_at").Default(timeNow).Immutable(),
		field.String("note").Default(""),
	}
}

// Indexes of the HubCollection.
func (HubCollection) Indexes() []ent.Index {
	return []ent.Index{index.Fields("fulfillment_id"), index.Fields("hub", "recorded_at")}
}

// Annotations of the HubCollection.
func (HubCollection) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the HubCollection.
func (HubCollection) Policy() ent.Policy { return systemOnlyPolicy() }
