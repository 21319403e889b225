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

// MembershipTier is a paid membership level with its perks.
type MembershipTier struct{ ent.Schema }

// Mixin of the MembershipTier.
func (MembershipTier) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the MembershipTier.
func (MembershipTier) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(100),
		field.Int64("price_amount").Positive().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Match(currencyRE).Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("period").Values("MONTH", "YEAR"),
		// Members may enter a drop's early window this long before it opens.
		field.Int("early_access_minutes").NonNegative().Default(0),
		// Percentage off every variant, unless a MemberPrice says otherwise.
		field.Int("discount_percent").Range(0, 100).Default(0),
		field.String("stripe_product_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the MembershipTier.
func (MembershipTier) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("prices", MemberPrice.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Policy of the MembershipTier.
func (MembershipTier) Policy() ent.Policy { return catalogPolicy() }

// MemberPrice is a tier's price for one variant, or a percentage off every
// variant of a collection.
type MemberPrice struct{ ent.Schema }

// Fields of the MemberPrice.
func (MemberPrice) Fields() []ent.Field {
	return []ent.Field{
		field.Int("tier_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("variant_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("collection_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("amount").Optional().Nillable().NonNegative().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("percent_off").Optional().Nillable().Range(0, 100),
	}
}

// Edges of the MemberPrice.
func (MemberPrice) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tier", MembershipTier.Type).Ref("prices").Field("tier_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations of the MemberPrice.
func (MemberPrice) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{
			"member_price_target": "((variant_id IS NULL) <> (collection_id IS NULL))",
			"member_price_rule":   "((amount IS NULL) <> (percent_off IS NULL))",
		}),
	}
}

// Policy of the MemberPrice.
func (MemberPrice) Policy() ent.Policy { return catalogPolicy() }

// Membership is one customer's subscription to a tier.
type Membership struct{ ent.Schema }

// Mixin of the Membership.
func (Membership) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Membership.
func (Membership) Fields() []ent.Field {
	return []ent.Field{
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("tier_id").Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("status").Values("INCOMPLETE", "ACTIVE", "PAST_DUE", "CANCELED", "EXPIRED").Default("INCOMPLETE"),
		field.Enum("pays_with").Values("CARD", "WALLET"),
		field.Time("current_period_end").Optional().Nillable(),
		field.String("stripe_subscription_id").Optional().Nillable().Unique().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("client_secret").Optional().Sensitive().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the Membership.
func (Membership) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("tier", MembershipTier.Type).Field("tier_id").Unique().Required(),
	}
}

// Indexes of the Membership.
func (Membership) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("customer_id"),
		index.Fields("status", "current_period_end"),
		// One membership that gives (or is about to lose) perks per
		// customer: concurrent purchases cannot both win.
		index.Fields("customer_id").Unique().StorageKey("membership_one_current_per_customer").
			Annotations(entsql.IndexWhere("status IN ('ACTIVE', 'PAST_DUE')")),
	}
}

// Policy of the Membership.
func (Membership) Policy() ent.Policy { return ownedPolicy() }
