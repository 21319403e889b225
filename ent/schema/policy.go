package schema

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	gen "github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/predicate"
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
			clerkScope,
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

// Filters entql generates for types with a customer_id or an order edge.
type (
	customerIDFilter interface{ WhereCustomerID(entql.IntP) }
	orderOwnedFilter interface {
		WhereHasOrderWith(...predicate.Order)
	}
)

// ownedPolicy: carts, orders and their parts belong to one customer, who
// alone (with staff) can see them; writes go through checkout's services.
func ownedPolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{allowStaff, privacy.AlwaysDenyRule()},
		Query: privacy.QueryPolicy{
			clerkScope,
			allowStaff,
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v := viewer.FromContext(ctx)
				if v.Role != viewer.Customer {
					return privacy.Denyf("sign in to see carts and orders")
				}
				switch f := f.(type) {
				case customerIDFilter:
					f.WhereCustomerID(entql.IntEQ(v.CustomerID))
				case orderOwnedFilter:
					f.WhereHasOrderWith(order.CustomerID(v.CustomerID))
				default:
					return privacy.Denyf("%T has no owner", f)
				}
				return privacy.Allow
			}),
		},
	}
}

// staffOnlyPolicy: staff read and write; customers and hub tokens
// (viewer.HubToken, which reach central's hub records through checkout's
// services only) see nothing.
func staffOnlyPolicy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{allowStaff, privacy.AlwaysDenyRule()},
		Query:    privacy.QueryPolicy{clerkScope, allowStaff, privacy.AlwaysDenyRule()},
	}
}
