package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

func timeNow() time.Time { return time.Now() }

// Customer is a shopper with an account.
type Customer struct{ ent.Schema }

// Mixin of the Customer.
func (Customer) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Customer.
func (Customer) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").Unique().NotEmpty().MaxLen(254),
		field.String("name").Default("").MaxLen(200),
		field.String("password_hash").Sensitive().NotEmpty().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("stripe_customer_id").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// email_verified: the customer opened the link sent to email
		// (verifyEmail); it is for this address only.
		field.Bool("email_verified").Default(false).Annotations(skipInputs),
	}
}

// Edges of the Customer.
func (Customer) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("sessions", CustomerSession.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
		edge.To("account_tokens", AccountToken.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations of the Customer.
func (Customer) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

// Policy of the Customer.
func (Customer) Policy() ent.Policy { return customerPolicy() }

// CustomerSession is a signed-in customer's bearer token, stored as a SHA-256 hash.
type CustomerSession struct{ ent.Schema }

// Fields of the CustomerSession.
func (CustomerSession) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("token_hash").Unique().Sensitive().Immutable(),
		field.Int("customer_id").Immutable(),
		field.Time("created_at").Default(timeNow).Immutable(),
		field.Time("expires_at"),
	}
}

// Edges of the CustomerSession.
func (CustomerSession) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("customer", Customer.Type).Ref("sessions").Field("customer_id").Unique().Required().Immutable(),
	}
}

// Indexes of the CustomerSession.
func (CustomerSession) Indexes() []ent.Index {
	return []ent.Index{index.Fields("expires_at")}
}

// Annotations of the CustomerSession.
func (CustomerSession) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the CustomerSession.
func (CustomerSession) Policy() ent.Policy { return systemOnlyPolicy() }

// AccountToken is a one-time link sent by email: a password reset or an
// email verification. Only its SHA-256 is stored; it is used once (a
// guarded update sets used_at) and only before expires_at.
type AccountToken struct{ ent.Schema }

// Fields of the AccountToken.
func (AccountToken) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("token_hash").Unique().Sensitive().Immutable(),
		field.Int("customer_id").Immutable(),
		field.Enum("purpose").Values("PASSWORD_RESET", "EMAIL_VERIFICATION").Immutable(),
		// email is the address it was sent to: verifying it verifies that
		// address, not whatever the account's is by then.
		field.String("email").Immutable(),
		field.Time("created_at").Default(timeNow).Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
	}
}

// Edges of the AccountToken.
func (AccountToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("customer", Customer.Type).Ref("account_tokens").Field("customer_id").Unique().Required().Immutable(),
	}
}

// Indexes of the AccountToken.
func (AccountToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("expires_at")}
}

// Annotations of the AccountToken.
func (AccountToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the AccountToken.
func (AccountToken) Policy() ent.Policy { return systemOnlyPolicy() }

// Staff is a shop operator.
type Staff struct{ ent.Schema }

// Mixin of the Staff.
func (Staff) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// staffRoles, widest first: an owner does everything (tokens, settings,
// staff, webhooks); staff run the catalog, drops, orders, fulfilment,
// customers, streams and refunds; a clerk works the till, pickups and
// returns intake at one location.
var staffRoles = []string{"OWNER", "STAFF", "CLERK"}

// Fields of the Staff.
func (Staff) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").Unique().NotEmpty().MaxLen(254),
		field.String("name").Default("").MaxLen(200),
		// role defaults to OWNER: staff who existed before roles had
		// tokens that could do everything, and keep doing so.
		field.Enum("role").Values(staffRoles...).Default("OWNER"),
		// location is the code of the one location a clerk works at.
		field.String("location").Default("").MaxLen(64),
		// password_hash is argon2id, as for customers; "" means the
		// member signs in with API tokens only.
		field.String("password_hash").Default("").Sensitive(),
		// disabled_at: a disabled member cannot sign in and none of their
		// tokens is accepted, whatever its own state.
		field.Time("disabled_at").Optional().Nillable(),
	}
}

// Edges of the Staff.
func (Staff) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("tokens", StaffToken.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations of the Staff.
func (Staff) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the Staff.
func (Staff) Policy() ent.Policy { return systemOnlyPolicy() }

// StaffToken is a staff API token, issued by `merchd staff create-token`, stored hashed.
type StaffToken struct{ ent.Schema }

// Fields of the StaffToken.
func (StaffToken) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("token_hash").Unique().Sensitive().Immutable(),
		field.String("label").Default("").MaxLen(200),
		field.Int("staff_id").Immutable(),
		// Hub, when set, scopes the token to one pop-up hub's business
		// (recording its sales, reading its allocation, card payments):
		// a stolen hub box is not a staff login.
		field.String("hub").Optional().Immutable().MaxLen(40),
		field.Time("created_at").Default(timeNow).Immutable(),
		field.Time("revoked_at").Optional().Nillable(),
		// expires_at, when set, ends the token by itself (a hub's token for
		// one weekend's pop-up).
		field.Time("expires_at").Optional().Nillable(),
		// role, when set, narrows what the token may do below its staff
		// member's role (a clerk's till tablet signed in by the owner);
		// it never widens it.
		field.Enum("role").Values(staffRoles...).Optional().Nillable().Immutable(),
	}
}

// Indexes of the StaffToken.
func (StaffToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("staff_id")}
}

// Edges of the StaffToken.
func (StaffToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("staff", Staff.Type).Ref("tokens").Field("staff_id").Unique().Required().Immutable(),
	}
}

// Annotations of the StaffToken.
func (StaffToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the StaffToken.
func (StaffToken) Policy() ent.Policy { return systemOnlyPolicy() }
