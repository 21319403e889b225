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

// Drop is a limited release: some variants, a hard cap, a time window with
// an optional member-only early window, a per-customer limit, and the cap
// split into channel pools.
type Drop struct{ ent.Schema }

// Mixin of the Drop.
func (Drop) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Drop.
func (Drop) Fields() []ent.Field {
	return []ent.Field{
		field.String("title").NotEmpty().MaxLen(200).Annotations(entgql.OrderField("TITLE")),
		field.Time("opens_at").Annotations(entgql.OrderField("OPENS_AT")),
		field.Time("closes_at"),
		field.Time("early_access_at").Optional().Nillable(),
		field.Int("cap").Positive(),
		// 0 means no limit per customer.
		field.Int("per_customer_limit").NonNegative().Default(0),
		field.Int("hold_ttl_seconds").Default(600).Range(30, 3600).
			Annotations(entgql.Skip(entgql.SkipType)),
		// state is kept current by the drop scheduler for filtering; reads
		// compute it from the clock (checkout.DropState).
		field.Enum("state").Values("SCHEDULED", "EARLY_ACCESS", "OPEN", "SOLD_OUT", "CLOSED").Default("SCHEDULED").
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Edges of the Drop.
func (Drop) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("variants", Variant.Type),
		edge.To("pools", DropPool.Type).Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Drop.
func (Drop) Indexes() []ent.Index {
	return []ent.Index{index.Fields("state", "opens_at")}
}

// Annotations of the Drop.
func (Drop) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
		entsql.Checks(map[string]string{"drop_cap_positive": "cap > 0", "drop_limit_non_negative": "per_customer_limit >= 0"}),
	}
}

// Policy of the Drop.
func (Drop) Policy() ent.Policy { return catalogPolicy() }

// DropPool is the part of a drop's cap reserved for one channel. remaining
// only moves through conditional updates; the CHECK keeps it within
// 0..allocated whatever the code does.
type DropPool struct{ ent.Schema }

// Fields of the DropPool.
func (DropPool) Fields() []ent.Field {
	return []ent.Field{
		field.Int("drop_id").Immutable(),
		field.Enum("channel").GoType(types.Channel("")).Immutable().Annotations(entgql.Type("Channel")),
		field.Int("allocated").NonNegative(),
		field.Int("remaining").NonNegative(),
	}
}

// Edges of the DropPool.
func (DropPool) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("drop", Drop.Type).Ref("pools").Field("drop_id").Unique().Required().Immutable(),
	}
}

// Indexes of the DropPool.
func (DropPool) Indexes() []ent.Index {
	return []ent.Index{index.Fields("drop_id", "channel").Unique()}
}

// Annotations of the DropPool.
func (DropPool) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipAll),
		entsql.Checks(map[string]string{"drop_pool_remaining_in_range": "remaining >= 0 AND remaining <= allocated"}),
	}
}

// Policy of the DropPool.
func (DropPool) Policy() ent.Policy { return catalogPolicy() }

// DropCustomer counts the units one customer holds or bought in a drop, so
// the per-customer limit is one conditional upsert, not a read-then-write.
type DropCustomer struct{ ent.Schema }

// Fields of the DropCustomer.
func (DropCustomer) Fields() []ent.Field {
	return []ent.Field{
		field.Int("drop_id").Immutable(),
		field.Int("customer_id").Immutable(),
		field.Int("units").NonNegative(),
	}
}

// Indexes of the DropCustomer.
func (DropCustomer) Indexes() []ent.Index {
	return []ent.Index{index.Fields("drop_id", "customer_id").Unique()}
}

// Annotations of the DropCustomer.
func (DropCustomer) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipAll),
		entsql.Checks(map[string]string{"drop_customer_units_non_negative": "units >= 0"}),
	}
}

// Policy of the DropCustomer.
func (DropCustomer) Policy() ent.Policy { return systemOnlyPolicy() }
