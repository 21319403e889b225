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

// OutboxEvent is a checkout.Event (an order paid, a pickup ready, a
// password reset asked for), recorded in the transaction of the change
// that caused it: it exists if and only if the change committed. Its
// deliveries (an email, one webhook per subscribed endpoint) are written
// with it and sent after, by checkout/notify's worker.
type OutboxEvent struct{ ent.Schema }

// Fields of the OutboxEvent.
func (OutboxEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("type").NotEmpty().MaxLen(64).Immutable(),
		field.Int("order_id").Default(0).Immutable(),
		field.Int("customer_id").Default(0).Immutable(),
		// data is the event's JSON object. Keys starting with "_" are for
		// the email only (a pickup pass, a reset link's token): never in a
		// webhook, and cleared once the email is sent or given up.
		field.Bytes("data").Sensitive(),
		field.Time("created_at").Default(timeNow).Immutable(),
	}
}

// Edges of the OutboxEvent.
func (OutboxEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("deliveries", NotificationDelivery.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the OutboxEvent.
func (OutboxEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at")}
}

// Annotations of the OutboxEvent.
func (OutboxEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the OutboxEvent.
func (OutboxEvent) Policy() ent.Policy { return systemOnlyPolicy() }

// NotificationDelivery is one message an event sends: the email to the
// buyer, or one signed POST to one webhook endpoint. A worker claims it
// with a guarded update (a lease: claimed_until), so replicas never send
// one delivery at once, and retries it with backoff until SENT, or DEAD
// after the last attempt. SKIPPED: an email with no SMTP configured.
type NotificationDelivery struct{ ent.Schema }

// Fields of the NotificationDelivery.
func (NotificationDelivery) Fields() []ent.Field {
	return []ent.Field{
		field.Int("event_id").Immutable(),
		field.Enum("kind").Values("MAIL", "WEBHOOK").Immutable(),
		field.Int("endpoint_id").Optional().Nillable().Immutable(),
		// order_id is the event's (0: none): an endpoint gets the events
		// of one order in the order they were recorded.
		field.Int("order_id").Default(0).Immutable(),
		field.Enum("status").Values("PENDING", "SENT", "DEAD", "SKIPPED").Default("PENDING"),
		field.Int("attempts").NonNegative().Default(0),
		field.Time("next_attempt_at"),
		// claimed_until is the lease of the worker sending it now; claim
		// is that worker's token, so only it records the outcome.
		field.Time("claimed_until").Optional().Nillable(),
		field.String("claim").Default(""),
		field.String("last_error").Default(""),
		field.Int("last_status_code").Default(0),
		field.String("last_response").Default(""),
		field.Time("sent_at").Optional().Nillable(),
		field.Time("created_at").Default(timeNow).Immutable(),
		field.Time("updated_at").Default(timeNow).UpdateDefault(timeNow),
	}
}

// Edges of the NotificationDelivery.
func (NotificationDelivery) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("event", OutboxEvent.Type).Ref("deliveries").Field("event_id").Unique().Required().Immutable(),
		edge.From("endpoint", WebhookEndpoint.Type).Ref("deliveries").Field("endpoint_id").Unique().Immutable(),
	}
}

// Indexes of the NotificationDelivery.
func (NotificationDelivery) Indexes() []ent.Index {
	return []ent.Index{
		// The worker's scan: what is due.
		index.Fields("status", "next_attempt_at"),
		// An endpoint's earlier pending delivery of the same order, and
		// an endpoint's recent deliveries.
		index.Fields("endpoint_id", "order_id", "status"),
	}
}

// Annotations of the NotificationDelivery.
func (NotificationDelivery) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the NotificationDelivery.
func (NotificationDelivery) Policy() ent.Policy { return systemOnlyPolicy() }

// WebhookEndpoint is a URL of the merchant's other systems that receives
// the events it subscribes to, each POST signed with its secret.
type WebhookEndpoint struct{ ent.Schema }

// Fields of the WebhookEndpoint.
func (WebhookEndpoint) Fields() []ent.Field {
	return []ent.Field{
		field.String("url").NotEmpty().MaxLen(2048).Immutable(),
		// events are the event types it receives.
		field.Strings("events").Immutable(),
		// secret signs every delivery (HMAC-SHA256); shown once, at creation.
		field.String("secret").Sensitive().Immutable(),
		field.Time("created_at").Default(timeNow).Immutable(),
	}
}

// Edges of the WebhookEndpoint.
func (WebhookEndpoint) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("deliveries", NotificationDelivery.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Annotations of the WebhookEndpoint.
func (WebhookEndpoint) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the WebhookEndpoint.
func (WebhookEndpoint) Policy() ent.Policy { return systemOnlyPolicy() }
