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

// Cart is a customer's basket. Each line is a hold on stock.
type Cart struct{ ent.Schema }

// Mixin of the Cart.
func (Cart) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Cart.
func (Cart) Fields() []ent.Field {
	return []ent.Field{
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("status").Values("OPEN", "CHECKED_OUT").Default("OPEN"),
		field.String("currency").Match(currencyRE),
	}
}

// Edges of the Cart.
func (Cart) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("lines", CartLine.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Cart.
func (Cart) Indexes() []ent.Index {
	return []ent.Index{
		// One open cart per customer.
		index.Fields("customer_id").Unique().Annotations(entsql.IndexWhere("status = 'OPEN'")),
	}
}

// Policy of the Cart.
func (Cart) Policy() ent.Policy { return ownedPolicy() }

// CartLine is a hold: units taken from stock (and a drop pool) when added,
// returned exactly once when released or expired, or kept when sold.
type CartLine struct{ ent.Schema }

// Fields of the CartLine.
func (CartLine) Fields() []ent.Field {
	return []ent.Field{
		field.Int("cart_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("variant_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("drop_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("location_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("channel").GoType(types.Channel("")).Immutable().Annotations(entgql.Type("Channel")),
		field.Int("quantity").Positive().Immutable(),
		field.Int64("unit_amount").NonNegative().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		// HUB_SOLD: rung up at a hub's till (hubSell fromTill); the hub sale carries it.
		field.Enum("status").Values("HELD", "RELEASED", "EXPIRED", "SOLD", "HUB_SOLD").Default("HELD"),
		field.Time("expires_at"),
		field.Time("created_at").Default(timeNow).Immutable(),
		field.Int("order_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("stream_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the CartLine.
func (CartLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("cart", Cart.Type).Ref("lines").Field("cart_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("variant", Variant.Type).Field("variant_id").Unique().Required().Immutable(),
		edge.To("drop", Drop.Type).Field("drop_id").Unique().Immutable(),
	}
}

// Indexes of the CartLine.
func (CartLine) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status", "expires_at"),  // the sweeper's scan
		index.Fields("customer_id", "status"), // a customer's holds, counted against the caps
		index.Fields("cart_id"),
		index.Fields("order_id"),
		index.Fields("created_at"), // analytics: holds made in a period
	}
}

// Annotations of the CartLine.
func (CartLine) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{"cart_line_quantity_positive": "quantity > 0"}),
	}
}

// Policy of the CartLine.
func (CartLine) Policy() ent.Policy { return ownedPolicy() }

// Order is what a checkout produces. Its number is short and human-readable.
type Order struct{ ent.Schema }

// Mixin of the Order.
func (Order) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Order.
func (Order) Fields() []ent.Field {
	return []ent.Field{
		field.String("number").Unique().Immutable(),
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("cart_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("status").Values("PENDING_PAYMENT", "PAID", "PAYMENT_FAILED", "CANCELED", "REFUNDED", "PARTIALLY_REFUNDED").
			Default("PENDING_PAYMENT"),
		field.Int64("total_amount").NonNegative().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		// The delivery price (checkout/delivery), part of total_amount.
		field.Int64("delivery_amount").NonNegative().Default(0).Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("refunded_amount").NonNegative().Default(0).Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		// Holds stay reserved until then while the payment is in flight.
		field.Time("payment_due_at").Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("paid_at").Optional().Nillable(),
	}
}

// Edges of the Order.
func (Order) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("lines", OrderLine.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("payments", Payment.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("history", OrderEvent.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("refunds", Refund.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("fulfillments", Fulfillment.Type).Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
		edge.To("returns", OrderReturn.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Order.
func (Order) Indexes() []ent.Index {
	return []ent.Index{index.Fields("customer_id", "created_at"), index.Fields("status", "payment_due_at"),
		index.Fields("status", "paid_at")} // analytics: orders paid in a period
}

// Annotations of the Order.
func (Order) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
		entsql.Checks(map[string]string{
			"order_refund_within_total":   "refunded_amount >= 0 AND refunded_amount <= total_amount",
			"order_delivery_within_total": "delivery_amount >= 0 AND delivery_amount <= total_amount",
		}),
	}
}

// Policy of the Order.
func (Order) Policy() ent.Policy { return ownedPolicy() }

// OrderLine is what was bought, priced at checkout.
type OrderLine struct{ ent.Schema }

// Fields of the OrderLine.
func (OrderLine) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("variant_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("cart_line_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("drop_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("sku").Immutable(),
		field.String("title").Immutable(),
		field.Int("quantity").Positive().Immutable(),
		field.Int64("unit_amount").NonNegative().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		// refunded_quantity counts units refunded without coming back
		// (refundOrder by lines); returned_quantity units in returns not
		// canceled (refunded with the return). Both move with one
		// conditional update and together never exceed quantity.
		field.Int("refunded_quantity").NonNegative().Default(0),
		field.Int("returned_quantity").NonNegative().Default(0),
	}
}

// Edges of the OrderLine.
func (OrderLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("lines").Field("order_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("variant", Variant.Type).Field("variant_id").Unique().Required().Immutable(),
	}
}

// Indexes of the OrderLine: an order's lines, and a drop's (analytics).
func (OrderLine) Indexes() []ent.Index {
	return []ent.Index{index.Fields("order_id"), index.Fields("drop_id")}
}

// Annotations of the OrderLine.
func (OrderLine) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{
			"order_line_refund_within_quantity":  "refunded_quantity >= 0 AND refunded_quantity <= quantity",
			"order_line_returns_within_quantity": "returned_quantity >= 0 AND returned_quantity + refunded_quantity <= quantity",
		}),
	}
}

// Policy of the OrderLine.
func (OrderLine) Policy() ent.Policy { return ownedPolicy() }

// OrderEvent is one step of an order's status history.
type OrderEvent struct{ ent.Schema }

// Fields of the OrderEvent.
func (OrderEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("status").Immutable(),
		field.String("note").Default("").Immutable(),
		field.Time("created_at").Default(timeNow).Immutable(),
	}
}

// Edges of the OrderEvent.
func (OrderEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("history").Field("order_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Policy of the OrderEvent.
func (OrderEvent) Policy() ent.Policy { return ownedPolicy() }

// Payment is one way an order is paid: a Stripe PaymentIntent (card) or,
// with the wallet issue, wallet funds.
type Payment struct{ ent.Schema }

// Mixin of the Payment.
func (Payment) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Payment.
func (Payment) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("method").Values("CARD", "WALLET").Immutable(),
		field.Int64("amount").NonNegative().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		// refunded_amount is what went back to the card; it moves with one
		// conditional update (refunded_amount + n <= amount), never a
		// read-then-write.
		field.Int64("refunded_amount").NonNegative().Default(0).Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		// MISMATCH: Stripe captured money merchd could not accept (another
		// amount or currency); it is refunded automatically and staff look.
		field.Enum("status").Values("PENDING", "SUCCEEDED", "FAILED", "CANCELED", "MISMATCH").Default("PENDING"),
		field.String("stripe_payment_intent_id").Optional().Nillable().Unique().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("client_secret").Optional().Sensitive().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the Payment.
func (Payment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("payments").Field("order_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations of the Payment.
func (Payment) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{"payment_refund_within_amount": "refunded_amount >= 0 AND refunded_amount <= amount"}),
	}
}

// Policy of the Payment.
func (Payment) Policy() ent.Policy { return ownedPolicy() }

// Refund gives money back to the card (Stripe) or, with the wallet issue,
// as wallet credit.
type Refund struct{ ent.Schema }

// Mixin of the Refund.
func (Refund) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Refund.
func (Refund) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("payment_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("amount").Positive().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("to").Values("CARD", "WALLET").Immutable(),
		field.Enum("status").Values("PENDING", "SUCCEEDED", "FAILED").Default("PENDING"),
		field.String("reason").Default(""),
		field.String("stripe_refund_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		// Card refunds Stripe did not take are retried by the sweeper, the
		// least recently tried first, each backing off on its own: a few
		// that keep failing cannot starve new ones.
		field.Int("attempts").NonNegative().Default(0).Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("last_attempt_at").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("next_attempt_at").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Refund.
func (Refund) Indexes() []ent.Index {
	return []ent.Index{index.Fields("status", "next_attempt_at")}
}

// Edges of the Refund.
func (Refund) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("refunds").Field("order_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Policy of the Refund.
func (Refund) Policy() ent.Policy { return ownedPolicy() }

// StripeEvent records each processed webhook event id, so a redelivery is a no-op.
type StripeEvent struct{ ent.Schema }

// Fields of the StripeEvent.
func (StripeEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("event_id").Unique().Immutable(),
		field.String("type").Immutable(),
		field.Time("created_at").Default(timeNow).Immutable(),
	}
}

// Indexes of the StripeEvent.
func (StripeEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at")} // the retention sweep
}

// Annotations of the StripeEvent.
func (StripeEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the StripeEvent.
func (StripeEvent) Policy() ent.Policy { return systemOnlyPolicy() }
