package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// Setting is a value merchd keeps for itself, such as the secret that signs
// QR codes (generated once, so codes outlive restarts).
type Setting struct{ ent.Schema }

// Fields of the Setting.
func (Setting) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").Unique().Immutable(),
		field.Bytes("value").Sensitive(),
	}
}

// Annotations of the Setting.
func (Setting) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the Setting.
func (Setting) Policy() ent.Policy { return systemOnlyPolicy() }
