package schema

import (
	"context"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/merchd/merchd/ent/privacy"
	"github.com/merchd/merchd/ent/viewer"
)

// TimeMixin adds created_at and updated_at.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT"), skipInputs),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now).
			Annotations(entgql.OrderField("UPDATED_AT"), skipInputs),
	}
}

// skipInputs keeps server-maintained fields out of generated mutation inputs.
var skipInputs = entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)

// allowStaff lets staff and the system through; other viewers fall to the next rule.
var allowStaff = privacy.ContextQueryMutationRule(func(ctx context.Context) error {
	if viewer.FromContext(ctx).IsStaff() {
		return privacy.Allow
	}
	return privacy.Skip
})

// allowSystem lets only merchd itself through.
var allowSystem = privacy.ContextQueryMutationRule(func(ctx context.Context) error {
	if viewer.FromContext(ctx).Role == viewer.System {
		return privacy.Allow
	}
	return privacy.Skip
})

// catalogPolicy: everybody reads, only staff write.
func catalogPolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{allowStaff, privacy.AlwaysDenyRule()},
		Query:    privacy.QueryPolicy{privacy.AlwaysAllowRule()},
	}
}

// systemOnlyPolicy guards secrets (token hashes): only merchd itself touches them.
func systemOnlyPolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{allowSystem, privacy.AlwaysDenyRule()},
		Query:    privacy.QueryPolicy{allowSystem, privacy.AlwaysDenyRule()},
	}
}
