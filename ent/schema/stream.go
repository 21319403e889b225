package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// Stream is a creator's livestream with its shoppable overlay.
type Stream struct{ ent.Schema }

// Mixin of the Stream.
func (Stream) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Stream.
func (Stream) Fields() []ent.Field {
	return []ent.Field{
		field.String("title").NotEmpty().MaxLen(200),
		field.Enum("state").Values("IDLE", "LIVE", "ENDED").Default("IDLE"),
		// The stream key, hashed (SHA-256); shown once when created or rotated.
		field.Bytes("key_hash").Sensitive().Annotations(entgql.Skip(entgql.SkipAll)),
		// Pinned products, in overlay order.
		field.JSON("pinned_product_ids", []int{}).Optional().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("highlighted_product_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("started_at").Optional().Nillable(),
		field.Time("ended_at").Optional().Nillable(),
	}
}

// Annotations of the Stream.
func (Stream) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.QueryField(), entgql.RelayConnection()}
}

// Policy of the Stream: everyone watches; staff run streams.
func (Stream) Policy() ent.Policy { return catalogPolicy() }
