package schema

import (
	"context"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/merchd/merchd/ent/privacy"
	"github.com/merchd/merchd/ent/viewer"
)

// AuditEntry records one staff or hub-token write: who (staff member,
// token, role, hub), what (the root mutation, its target and its input
// with secrets redacted, bounded) and how it ended (OK or the refusal
// code). Written by the GraphQL layer before every root mutation a staff
// or hub viewer runs (outcome PENDING) and completed once it has run;
// only the outcome ever changes, and only from PENDING.
type AuditEntry struct{ ent.Schema }

// Fields of the AuditEntry.
func (AuditEntry) Fields() []ent.Field {
	return []ent.Field{
		field.Time("at").Default(timeNow).Immutable().Annotations(entgql.OrderField("AT")),
		field.Int("staff_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("token_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("role").Immutable().MaxLen(20),
		// hub is the hub's code when the write came with a hub box's token
		// (role HUB); "" for staff.
		field.String("hub").Default("").Immutable().MaxLen(40),
		field.String("operation").Immutable().MaxLen(100),
		field.String("target_id").Default("").Immutable().MaxLen(100),
		// input is the mutation's arguments as JSON, passwords, secrets and
		// tokens replaced by "[redacted]", cut at 4 KiB.
		field.Text("input").Default("").Immutable(),
		// outcome is OK or the refusal's extensions.code; PENDING from the
		// moment the entry is written (before the mutation runs) until the
		// mutation ends. An entry left PENDING is a write whose end was
		// never recorded (the process stopped while it ran).
		field.String("outcome").MaxLen(40),
	}
}

// Indexes of the AuditEntry.
func (AuditEntry) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("staff_id", "at"),
		index.Fields("operation", "at"),
		index.Fields("at"),
	}
}

// Annotations of the AuditEntry.
func (AuditEntry) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}

// Policy of the AuditEntry: owners and staff read it (not clerks); only
// merchd writes it.
func (AuditEntry) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{allowSystem, privacy.AlwaysDenyRule()},
		Query: privacy.QueryPolicy{allowSystem, privacy.ContextQueryMutationRule(func(ctx context.Context) error {
			if v := viewer.FromContext(ctx); v.Role == viewer.Staff && v.Rank != viewer.RankClerk {
				return privacy.Allow
			}
			return privacy.Deny
		})},
	}
}
