package schema

import (
	"context"

	"entgo.io/ent"

	gen "github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/privacy"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
)

// productPolicy: staff see every product; everybody else sees only ACTIVE ones
// (drafts and archived products are invisible, not forbidden).
func productPolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{allowStaff, privacy.AlwaysDenyRule()},
		Query: privacy.QueryPolicy{
			allowStaff,
			privacy.ProductQueryRuleFunc(func(_ context.Context, q *gen.ProductQuery) error {
				q.Where(product.StatusEQ(product.StatusACTIVE))
				return privacy.Allow
			}),
		},
	}
}

// variantPolicy hides variants of products the viewer cannot see.
func variantPolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{allowStaff, privacy.AlwaysDenyRule()},
		Query: privacy.QueryPolicy{
			allowStaff,
			privacy.VariantQueryRuleFunc(func(_ context.Context, q *gen.VariantQuery) error {
				q.Where(variant.HasProductWith(product.StatusEQ(product.StatusACTIVE)))
				return privacy.Allow
			}),
		},
	}
}

// customerPolicy: a customer sees only their own account; others' accounts do
// not exist for them. Anonymous viewers see none. Writes go through services
// running as the system (sign-up) or staff.
func customerPolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{allowStaff, privacy.AlwaysDenyRule()},
		Query: privacy.QueryPolicy{
			allowStaff,
			privacy.CustomerQueryRuleFunc(func(ctx context.Context, q *gen.CustomerQuery) error {
				v := viewer.FromContext(ctx)
				if v.Role != viewer.Customer {
					return privacy.Denyf("customers are visible to themselves only")
				}
				q.Where(customer.ID(v.CustomerID))
				return privacy.Allow
			}),
		},
	}
}
