package schema

import (
	"regexp"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

var (
	slugRE     = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Product is something the shop sells; what is bought is one of its variants.
type Product struct{ ent.Schema }

// Mixin of the Product.
func (Product) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Product.
func (Product) Fields() []ent.Field {
	return []ent.Field{
		field.String("title").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("TITLE")),
		field.String("slug").Unique().NotEmpty().MaxLen(120).Match(slugRE),
		field.Text("description").Default("").MaxLen(20000),
		field.Enum("status").Values("ACTIVE", "DRAFT", "ARCHIVED").Default("ACTIVE").
			Annotations(entgql.OrderField("STATUS")),
		field.String("vendor").Default("").MaxLen(200),
	}
}

// Edges of the Product.
func (Product) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("variants", Variant.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("images", Image.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.From("collections", Collection.Type).Ref("products"),
	}
}

// Indexes of the Product.
func (Product) Indexes() []ent.Index {
	return []ent.Index{index.Fields("status", "created_at")}
}

// Annotations of the Product.
func (Product) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// Policy of the Product.
func (Product) Policy() ent.Policy { return productPolicy() }

// Variant is a purchasable version of a product (size, colour…) with its own SKU and price.
type Variant struct{ ent.Schema }

// Mixin of the Variant.
func (Variant) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Variant.
func (Variant) Fields() []ent.Field {
	return []ent.Field{
		field.String("sku").Unique().NotEmpty().MaxLen(64).
			Annotations(entgql.OrderField("SKU")),
		field.String("title").NotEmpty().MaxLen(200),
		// Served to GraphQL as selectedOptions (see ent/template/money.tmpl).
		field.JSON("options", map[string]string{}).Optional().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("price_amount").NonNegative().
			Annotations(entgql.OrderField("PRICE"), entgql.Skip(entgql.SkipType)),
		field.String("currency").Match(currencyRE).
			Annotations(entgql.Skip(entgql.SkipType)),
		field.Int64("compare_at_amount").Optional().Nillable().NonNegative().
			Annotations(entgql.Skip(entgql.SkipType)),
		field.Int("position").Default(0).
			Annotations(entgql.OrderField("POSITION")),
		// What one unit weighs packed, for shipping rates by weight band.
		field.Int("weight_grams").NonNegative().Default(0),
		field.Int("product_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the Variant.
func (Variant) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("product", Product.Type).Ref("variants").Field("product_id").Unique().Required().Immutable(),
		edge.To("stocks", Stock.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
		edge.From("drops", Drop.Type).Ref("variants").Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Variant.
func (Variant) Indexes() []ent.Index {
	return []ent.Index{index.Fields("product_id", "position")}
}

// Annotations of the Variant.
func (Variant) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
		entsql.Checks(map[string]string{
			"variant_price_non_negative":      "price_amount >= 0",
			"variant_compare_at_non_negative": "compare_at_amount IS NULL OR compare_at_amount >= 0",
			"variant_weight_non_negative":     "weight_grams >= 0",
		}),
	}
}

// Policy of the Variant.
func (Variant) Policy() ent.Policy { return variantPolicy() }

// Image is a product picture: a URL and its alt text.
type Image struct{ ent.Schema }

// Fields of the Image.
func (Image) Fields() []ent.Field {
	return []ent.Field{
		field.String("url").NotEmpty().MaxLen(2048),
		field.String("alt").Default("").MaxLen(500),
		field.Int("position").Default(0),
		field.Int("product_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the Image.
func (Image) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("product", Product.Type).Ref("images").Field("product_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Image.
func (Image) Indexes() []ent.Index {
	return []ent.Index{index.Fields("product_id", "position")}
}

// Policy of the Image.
func (Image) Policy() ent.Policy { return catalogPolicy() }

// Collection groups products for merchandising ("Summer tour", "Under $20").
type Collection struct{ ent.Schema }

// Mixin of the Collection.
func (Collection) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Collection.
func (Collection) Fields() []ent.Field {
	return []ent.Field{
		field.String("title").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("TITLE")),
		field.String("slug").Unique().NotEmpty().MaxLen(120).Match(slugRE),
		field.Text("description").Default("").MaxLen(20000),
	}
}

// Edges of the Collection.
func (Collection) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("products", Product.Type).
			Annotations(entgql.RelayConnection()),
	}
}

// Annotations of the Collection.
func (Collection) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// Policy of the Collection.
func (Collection) Policy() ent.Policy { return catalogPolicy() }

// Location is where stock sits or orders are picked up: the central
// warehouse, a pop-up hub, a partner's counter or a locker bank.
type Location struct{ ent.Schema }

// Fields of the Location.
func (Location) Fields() []ent.Field {
	return []ent.Field{
		field.String("code").Unique().NotEmpty().MaxLen(64).Match(slugRE),
		field.String("name").NotEmpty().MaxLen(200),
		field.Enum("kind").Values("CENTRAL", "HUB", "PARTNER_COUNTER", "LOCKER"),
	}
}

// Edges of the Location.
func (Location) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("stocks", Stock.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Policy of the Location.
func (Location) Policy() ent.Policy { return catalogPolicy() }

// Stock is how many units of a variant can be sold at a location right now.
// It only moves through conditional atomic updates (see checkout.Catalog);
// the CHECK below makes a negative count impossible whatever the code does.
type Stock struct{ ent.Schema }

// Fields of the Stock.
func (Stock) Fields() []ent.Field {
	return []ent.Field{
		field.Int("available").NonNegative(),
		field.Int("variant_id").Immutable(),
		field.Int("location_id").Immutable(),
		field.Time("updated_at").Default(timeNow).UpdateDefault(timeNow),
		// At a hub's location on central: when central first leased this
		// variant to the hub. A hub sale of it cannot be older.
		field.Time("leased_at").Optional().Nillable(),
	}
}

// Edges of the Stock.
func (Stock) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("variant", Variant.Type).Ref("stocks").Field("variant_id").Unique().Required().Immutable(),
		edge.From("location", Location.Type).Ref("stocks").Field("location_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Stock.
func (Stock) Indexes() []ent.Index {
	return []ent.Index{index.Fields("variant_id", "location_id").Unique()}
}

// Annotations of the Stock.
func (Stock) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipAll),
		entsql.Checks(map[string]string{"stock_available_non_negative": "available >= 0"}),
	}
}

// Policy of the Stock.
func (Stock) Policy() ent.Policy { return catalogPolicy() }
