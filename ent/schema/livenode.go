package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// LiveNode is one `merchd serve` process carrying live streams on
// PostgreSQL: nodes find each other and each other's load here. A row
// whose heartbeat is older than a few seconds is a dead node: ignored, and
// deleted by whichever node notices.
type LiveNode struct{ ent.Schema }

// Fields of the LiveNode.
func (LiveNode) Fields() []ent.Field {
	return []ent.Field{
		// node is random per process start.
		field.String("node").NotEmpty().MaxLen(64).Immutable(),
		// url is the node's base URL as viewers and other nodes reach it.
		field.String("url").NotEmpty().MaxLen(500),
		// pull_key is the node's secret for pulling streams from other
		// nodes: a pull presents node and key, and the origin finds them
		// here (random per process start; never leaves the database).
		field.String("pull_key").Sensitive().Default("").MaxLen(64),
		field.Time("started_at").Immutable(),
		field.Time("heartbeat_at"),
		// viewers is connected WHEP viewers across the node's streams;
		// capacity is how many it takes before it sends new ones elsewhere.
		field.Int("viewers").NonNegative(),
		field.Int("capacity").NonNegative(),
	}
}

// Indexes of the LiveNode.
func (LiveNode) Indexes() []ent.Index {
	return []ent.Index{index.Fields("node").Unique(), index.Fields("heartbeat_at")}
}

// Annotations of the LiveNode.
func (LiveNode) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the LiveNode.
func (LiveNode) Policy() ent.Policy { return systemOnlyPolicy() }

// LiveNodeStream is a stream a live node carries: as its ORIGIN (the
// publisher is connected there) or as a RELAY (pulled from the origin).
type LiveNodeStream struct{ ent.Schema }

// Fields of the LiveNodeStream.
func (LiveNodeStream) Fields() []ent.Field {
	return []ent.Field{
		field.String("node").NotEmpty().MaxLen(64).Immutable(),
		// stream is the stream's global id, as in /live/{stream}/whep.
		field.String("stream").NotEmpty().MaxLen(64).Immutable(),
		field.Enum("role").Values("ORIGIN", "RELAY"),
		// viewers is the stream's connected viewers on this node (a relay's
		// pull from the origin is not one).
		field.Int("viewers").NonNegative(),
	}
}

// Indexes of the LiveNodeStream.
func (LiveNodeStream) Indexes() []ent.Index {
	return []ent.Index{index.Fields("node", "stream").Unique(), index.Fields("stream")}
}

// Annotations of the LiveNodeStream.
func (LiveNodeStream) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the LiveNodeStream.
func (LiveNodeStream) Policy() ent.Policy { return systemOnlyPolicy() }
