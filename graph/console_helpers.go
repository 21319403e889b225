package graph

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/predicate"
	"github.com/merchd/merchd/ent/viewer"
)

// maxSearchCustomers bounds how many matching customers an order search
// looks through (the newest ones): a search is a lookup, not a report.
const maxSearchCustomers = 200

// orderSearch is the predicate of searchOrders for term: the order with
// that number (its unique index), or orders of the customers whose email
// or name contains it (the orders' customer_id index). An empty term
// matches every order (nil).
func (r *Resolver) orderSearch(ctx context.Context, raw string) (predicate.Order, error) {
	term := strings.TrimSpace(raw)
	if len(term) > 100 {
		return nil, checkout.BadInput("search", "at most 100 characters")
	}
	if term == "" {
		return nil, nil
	}
	ids, err := r.Client.Customer.Query().
		Where(customer.Or(customer.EmailEqualFold(term), customer.EmailContainsFold(term), customer.NameContainsFold(term))).
		Order(ent.Desc(customer.FieldCreatedAt), ent.Desc(customer.FieldID)).Limit(maxSearchCustomers).IDs(ctx)
	if err != nil {
		return nil, err
	}
	preds := []predicate.Order{order.Number(orderNumber(term))}
	if len(ids) > 0 {
		preds = append(preds, order.CustomerIDIn(ids...))
	}
	return order.Or(preds...), nil
}

// orderNumber writes a typed order number the way orders are numbered:
// upper case, no spaces, the dash after three characters ("k7q2mxd" →
// "K7Q-2MXD").
func orderNumber(s string) string {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if len(s) == 7 && !strings.Contains(s, "-") {
		s = s[:3] + "-" + s[3:]
	}
	return s
}

// clerkWatches lets a clerk watch only fulfilments at their location (the
// ones the privacy rules show them); anything else is NOT_FOUND, as it
// would be read by id. Everybody else passes.
func (r *Resolver) clerkWatches(ctx context.Context, ids []int) error {
	if v := viewer.FromContext(ctx); v.Role != viewer.Staff || v.Rank != viewer.RankClerk {
		return nil
	}
	want := len(slices.Compact(slices.Sorted(slices.Values(ids))))
	n, err := r.Client.Fulfillment.Query().Where(fulfillment.IDIn(ids...)).Count(ctx)
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%w: a clerk watches the fulfilments at their own location", checkout.ErrNotFound)
	}
	return nil
}
