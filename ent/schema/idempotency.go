package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// IdempotencyKey records the first result of a write that moves stock or
// money, so a replay of the same key returns it and changes nothing. The row
// is written in the same transaction as the write it guards.
type IdempotencyKey struct{ ent.Schema }

// Fields of the IdempotencyKey.
func (IdempotencyKey) Fields() []ent.Field {
	return []ent.Field{
		// scope is who owns the key (e.g. "staff:42", "customer:7") so that two
		// clients picking the same key never see each other's results.
		field.String("scope").NotEmpty().MaxLen(64).Immutable(),
		field.String("key").NotEmpty().MaxLen(200).Immutable(),
		field.String("operation").NotEmpty().MaxLen(64).Immutable(),
		field.Bytes("request_hash").Immutable(),
		field.Bytes("response"),
		field.Time("created_at").Default(timeNow).Immutable(),
	}
}

// Indexes of the IdempotencyKey.
func (IdempotencyKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("scope", "key").Unique(),
		index.Fields("created_at"),
	}
}

// Annotations of the IdempotencyKey.
func (IdempotencyKey) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the IdempotencyKey.
func (IdempotencyKey) Policy() ent.Policy { return systemOnlyPolicy() }
