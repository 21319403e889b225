package schema

import (
	"context"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/entql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/merchd/merchd/ent/privacy"
	"github.com/merchd/merchd/ent/schema/types"
	"github.com/merchd/merchd/ent/viewer"
)

// Delivery methods chosen at checkout (checkout/delivery): pickup points
// with windows of limited capacity, local delivery zones, shipping rates,
// the customer's saved addresses, and each cart's choice, which becomes
// the order's once it is placed.

// PickupPoint is a place where buyers collect their orders: central, a
// hub, a partner's counter or a locker bank. It is a stock location too
// (location_id), so a fulfilment names where it is picked up the same way
// a hold names where its units sit.
type PickupPoint struct{ ent.Schema }

// Mixin of the PickupPoint.
func (PickupPoint) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the PickupPoint.
func (PickupPoint) Fields() []ent.Field {
	return []ent.Field{
		field.Int("location_id").Unique().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("kind").Values("CENTRAL", "HUB", "PARTNER_COUNTER", "LOCKER"),
		field.String("name").NotEmpty().MaxLen(200),
		// Served as Address (graph/delivery.graphqls).
		field.JSON("address", types.Address{}).Annotations(entgql.Skip(entgql.SkipAll)),
		field.JSON("opening_hours", []types.OpeningHours{}).Optional().Annotations(entgql.Skip(entgql.SkipAll)),
		// Pickup is free unless staff set a price.
		field.Int64("price_amount").NonNegative().Default(0).Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Match(currencyRE).Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("active").Default(true),
	}
}

// Edges of the PickupPoint.
func (PickupPoint) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("location", Location.Type).Field("location_id").Unique().Required().Immutable(),
		edge.To("windows", PickupWindow.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations of the PickupPoint.
func (PickupPoint) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{"pickup_point_price_non_negative": "price_amount >= 0"}),
	}
}

// Policy of the PickupPoint.
func (PickupPoint) Policy() ent.Policy { return catalogPolicy() }

// PickupWindow is a slot at a pickup point with room for capacity orders.
// taken counts the places held by carts and sold to orders; it moves only
// with conditional updates (`taken = taken + 1 WHERE taken < capacity`),
// and the CHECK makes more than capacity impossible whatever the code does.
type PickupWindow struct{ ent.Schema }

// Mixin of the PickupWindow.
func (PickupWindow) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the PickupWindow.
func (PickupWindow) Fields() []ent.Field {
	return []ent.Field{
		field.Int("pickup_point_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("starts_at"),
		field.Time("ends_at"),
		field.Int("capacity").Positive(),
		field.Int("taken").NonNegative().Default(0),
	}
}

// Edges of the PickupWindow.
func (PickupWindow) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("pickup_point", PickupPoint.Type).Ref("windows").Field("pickup_point_id").Unique().Required().Immutable(),
	}
}

// Indexes of the PickupWindow.
func (PickupWindow) Indexes() []ent.Index {
	return []ent.Index{index.Fields("pickup_point_id", "starts_at"), index.Fields("ends_at")}
}

// Annotations of the PickupWindow.
func (PickupWindow) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{
			"pickup_window_taken_within_capacity": "taken >= 0 AND taken <= capacity",
			"pickup_window_ends_after_start":      "ends_at > starts_at",
		}),
	}
}

// Policy of the PickupWindow.
func (PickupWindow) Policy() ent.Policy { return catalogPolicy() }

// DeliveryZone is where the shop delivers locally: a list of postcodes
// (exact, or prefixes) or a radius around a point, with a same-day cutoff
// in the zone's local time and a price.
type DeliveryZone struct{ ent.Schema }

// Mixin of the DeliveryZone.
func (DeliveryZone) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the DeliveryZone.
func (DeliveryZone) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200),
		// ISO 3166-1 alpha-2: the zone's postcodes are this country's.
		field.String("country").NotEmpty().MaxLen(2),
		field.JSON("postcodes", []string{}).Optional(),
		field.JSON("postcode_prefixes", []string{}).Optional(),
		field.Float("center_lat").Optional().Nillable(),
		field.Float("center_lng").Optional().Nillable(),
		field.Float("radius_km").Optional().Nillable(),
		// Orders placed before this local time of day ("HH:MM") are
		// delivered the same day.
		field.String("same_day_cutoff").Default("14:00"),
		// IANA time zone of the cutoff, e.g. Europe/Berlin.
		field.String("timezone").Default("UTC"),
		field.Int64("price_amount").NonNegative().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Match(currencyRE).Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("active").Default(true),
	}
}

// Annotations of the DeliveryZone.
func (DeliveryZone) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{"delivery_zone_price_non_negative": "price_amount >= 0"}),
	}
}

// Policy of the DeliveryZone.
func (DeliveryZone) Policy() ent.Policy { return catalogPolicy() }

// ShippingRate is what shipping to a country costs: flat (no band), or for
// carts whose weight lies in [min_grams, max_grams].
type ShippingRate struct{ ent.Schema }

// Mixin of the ShippingRate.
func (ShippingRate) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the ShippingRate.
func (ShippingRate) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200),
		field.String("country").NotEmpty().MaxLen(2),
		field.Int("min_grams").Optional().Nillable().NonNegative(),
		field.Int("max_grams").Optional().Nillable().NonNegative(),
		field.Int64("price_amount").NonNegative().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Match(currencyRE).Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("active").Default(true),
	}
}

// Indexes of the ShippingRate.
func (ShippingRate) Indexes() []ent.Index {
	return []ent.Index{index.Fields("country", "active")}
}

// Annotations of the ShippingRate.
func (ShippingRate) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{
			"shipping_rate_price_non_negative": "price_amount >= 0",
			"shipping_rate_band":               "min_grams IS NULL OR max_grams IS NULL OR min_grams <= max_grams",
		}),
	}
}

// Policy of the ShippingRate.
func (ShippingRate) Policy() ent.Policy { return catalogPolicy() }

// CustomerAddress is an address a customer saved for checkout. Only its
// owner reads or writes it: the privacy policy below, not the service,
// says so.
type CustomerAddress struct{ ent.Schema }

// Mixin of the CustomerAddress.
func (CustomerAddress) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the CustomerAddress.
func (CustomerAddress) Fields() []ent.Field {
	return []ent.Field{
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("label").Default("").MaxLen(100),
		// Served as Address (graph/delivery.graphqls).
		field.JSON("address", types.Address{}).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the CustomerAddress.
func (CustomerAddress) Indexes() []ent.Index {
	return []ent.Index{index.Fields("customer_id")}
}

// Policy of the CustomerAddress.
func (CustomerAddress) Policy() ent.Policy { return ownerWritesPolicy() }

// DeliveryChoice is how a cart's order reaches its buyer: one per cart,
// chosen by the customer, and the order's own once the cart is checked
// out (order_id), frozen there as a snapshot (method, place, window,
// address, price). A PICKUP choice holds a place in its window (place
// HELD) for as long as the cart holds stock, gives it back with the
// cart's last hold (RELEASED, EXPIRED) and keeps it for good once the
// order is paid (SOLD).
type DeliveryChoice struct{ ent.Schema }

// Mixin of the DeliveryChoice.
func (DeliveryChoice) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the DeliveryChoice.
func (DeliveryChoice) Fields() []ent.Field {
	return []ent.Field{
		field.Int("cart_id").Unique().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("order_id").Optional().Nillable().Unique().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("method").Values("PICKUP", "LOCAL_DELIVERY", "SHIPPING"),
		field.Int("pickup_point_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		// The pickup point's location, for the fulfilment.
		field.Int("location_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("window_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("zone_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("rate_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		// What was chosen, as the buyer read it: the point's, zone's or
		// rate's name at the time.
		field.String("label").Default(""),
		field.Time("window_starts_at").Optional().Nillable(),
		field.Time("window_ends_at").Optional().Nillable(),
		// Where to deliver (LOCAL_DELIVERY, SHIPPING): a copy, not a link.
		field.JSON("address", &types.Address{}).Optional().Annotations(entgql.Skip(entgql.SkipAll)),
		field.JSON("contact", types.Contact{}).Optional().Annotations(entgql.Skip(entgql.SkipAll)),
		// Same-day delivery: the order was placed before the zone's cutoff.
		field.Bool("same_day").Default(false),
		field.Enum("place").Values("NONE", "HELD", "RELEASED", "EXPIRED", "SOLD").Default("NONE"),
		field.Int64("price_amount").NonNegative().Default(0).Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Match(currencyRE).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the DeliveryChoice.
func (DeliveryChoice) Indexes() []ent.Index {
	return []ent.Index{index.Fields("window_id", "place"), index.Fields("customer_id")}
}

// Annotations of the DeliveryChoice.
func (DeliveryChoice) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{"delivery_choice_price_non_negative": "price_amount >= 0"}),
	}
}

// Policy of the DeliveryChoice.
func (DeliveryChoice) Policy() ent.Policy { return ownedPolicy() }

// ownerWritesPolicy: a customer reads and writes only their own rows
// (staff and the system all); anyone else sees none and writes none. A
// create must name the viewer as its owner; updates and deletes are
// filtered to the viewer's rows, so another's id is simply not found.
func ownerWritesPolicy() ent.Policy {
	ownerFilter := privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		if v.Role != viewer.Customer {
			return privacy.Denyf("sign in to see your own records")
		}
		cf, ok := f.(customerIDFilter)
		if !ok {
			return privacy.Denyf("%T has no owner", f)
		}
		cf.WhereCustomerID(entql.IntEQ(v.CustomerID))
		return privacy.Allow
	})
	ownCreate := privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		if !m.Op().Is(ent.OpCreate) {
			return privacy.Skip
		}
		v := viewer.FromContext(ctx)
		if id, ok := m.Field("customer_id"); v.Role == viewer.Customer && ok && id == v.CustomerID {
			return privacy.Allow
		}
		return privacy.Denyf("a customer creates only their own records")
	})
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{allowStaff, ownCreate, ownerFilter},
		Query:    privacy.QueryPolicy{clerkScope, allowStaff, ownerFilter},
	}
}
