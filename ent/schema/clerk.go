package schema

import (
	"context"

	"entgo.io/ent/dialect/sql"

	gen "github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/deliverychoice"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/fulfillmentevent"
	"github.com/merchd/merchd/ent/fulfillmentline"
	"github.com/merchd/merchd/ent/hubsale"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/orderevent"
	"github.com/merchd/merchd/ent/orderline"
	"github.com/merchd/merchd/ent/orderreturn"
	"github.com/merchd/merchd/ent/payment"
	"github.com/merchd/merchd/ent/predicate"
	"github.com/merchd/merchd/ent/privacy"
	"github.com/merchd/merchd/ent/refund"
	"github.com/merchd/merchd/ent/returnline"
	"github.com/merchd/merchd/ent/viewer"
)

// clerkScope narrows what a clerk reads to their location's work: the
// orders with a fulfilment at their location or a return dropped off
// there (with those orders' lines, payments, refunds, history and
// returns), the fulfilments at their location, and the customers behind
// them. Everything else of a buyer's (other orders, wallets, top-ups) does
// not exist for a clerk (empty lists, NOT_FOUND by id), like a customer
// reading another's order: addresses, carts other than their hub till's,
// hub sales of other hubs. Owners, staff and everybody else fall through
// to the next rule.
var clerkScope = privacy.QueryRuleFunc(func(ctx context.Context, q gen.Query) error {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Staff || v.Rank != viewer.RankClerk {
		return privacy.Skip
	}
	code := v.Location
	switch q := q.(type) {
	case *gen.OrderQuery:
		q.Where(clerkOrders(code))
	case *gen.OrderLineQuery:
		q.Where(orderline.HasOrderWith(clerkOrders(code)))
	case *gen.OrderEventQuery:
		q.Where(orderevent.HasOrderWith(clerkOrders(code)))
	case *gen.PaymentQuery:
		q.Where(payment.HasOrderWith(clerkOrders(code)))
	case *gen.RefundQuery:
		q.Where(refund.HasOrderWith(clerkOrders(code)))
	case *gen.FulfillmentQuery:
		q.Where(fulfillmentAt(code))
	case *gen.FulfillmentEventQuery:
		q.Where(fulfillmentevent.HasFulfillmentWith(fulfillmentAt(code)))
	case *gen.FulfillmentLineQuery:
		q.Where(fulfillmentline.HasFulfillmentWith(fulfillmentAt(code)))
	case *gen.OrderReturnQuery:
		q.Where(orderreturn.HasOrderWith(clerkOrders(code)))
	case *gen.ReturnLineQuery:
		q.Where(returnline.HasOrderReturnWith(orderreturn.HasOrderWith(clerkOrders(code))))
	case *gen.CustomerQuery:
		q.Where(clerkCustomers(code))
	case *gen.WalletQuery:
		q.Where(none)
	case *gen.WalletEntryQuery:
		q.Where(none)
	case *gen.TopUpQuery:
		q.Where(none)
	case *gen.CustomerAddressQuery:
		q.Where(none) // pickups and returns need no buyer's address book
	case *gen.CartQuery:
		q.Where(ownedByTill[predicate.Cart](code)) // the till's own cart at their hub, no buyer's
	case *gen.CartLineQuery:
		q.Where(ownedByTill[predicate.CartLine](code))
	case *gen.DeliveryChoiceQuery:
		q.Where(func(s *sql.Selector) { s.Where(sql.In(s.C(deliverychoice.FieldOrderID), clerkOrderIDs(code))) })
	case *gen.HubSaleQuery:
		q.Where(hubsale.Hub(code)) // their own hub's sales only
	default:
		return privacy.Skip
	}
	return privacy.Allow
})

// none matches no row: what a clerk never needs (wallets, top-ups) is
// invisible, as another buyer's is to a customer.
func none(s *sql.Selector) { s.Where(sql.False()) }

// locationIDs selects the id of the location with code.
func locationIDs(code string) *sql.Selector {
	t := sql.Table(location.Table)
	return sql.Select(t.C(location.FieldID)).From(t).Where(sql.EQ(t.C(location.FieldCode), code))
}

// fulfillmentAt: fulfilments whose pickup (or dispatch) location is code.
func fulfillmentAt(code string) predicate.Fulfillment {
	return func(s *sql.Selector) {
		s.Where(sql.In(s.C(fulfillment.FieldLocationID), locationIDs(code)))
	}
}

// returnAt: returns dropped off at the location code.
func returnAt(code string) predicate.OrderReturn {
	return func(s *sql.Selector) {
		s.Where(sql.In(s.C(orderreturn.FieldReceivedLocationID), locationIDs(code)))
	}
}

// clerkOrders: orders with a fulfilment at code or a return dropped off there.
func clerkOrders(code string) predicate.Order {
	return order.Or(order.HasFulfillmentsWith(fulfillmentAt(code)), order.HasReturnsWith(returnAt(code)))
}

// clerkOrderIDs selects the ids of clerkOrders(code).
func clerkOrderIDs(code string) *sql.Selector {
	t := sql.Table(order.Table)
	sel := sql.Select(t.C(order.FieldID)).From(t)
	clerkOrders(code)(sel)
	return sel
}

// ownedByTill: rows whose customer_id is the till account of the hub
// code (viewer.TillEmail), the only cart a clerk works with.
func ownedByTill[P ~func(*sql.Selector)](code string) P {
	return func(s *sql.Selector) {
		c := sql.Table(customer.Table)
		s.Where(sql.In(s.C("customer_id"), sql.Select(c.C(customer.FieldID)).From(c).
			Where(sql.EQ(c.C(customer.FieldEmail), viewer.TillEmail(code)))))
	}
}

// clerkCustomers: the buyers of clerkOrders (by the customer_id the
// fulfilments and returns carry).
func clerkCustomers(code string) predicate.Customer {
	return func(s *sql.Selector) {
		f, r := sql.Table(fulfillment.Table), sql.Table(orderreturn.Table)
		s.Where(sql.Or(
			sql.In(s.C(customer.FieldID), sql.Select(f.C(fulfillment.FieldCustomerID)).From(f).
				Where(sql.In(f.C(fulfillment.FieldLocationID), locationIDs(code)))),
			sql.In(s.C(customer.FieldID), sql.Select(r.C(orderreturn.FieldCustomerID)).From(r).
				Where(sql.In(r.C(orderreturn.FieldReceivedLocationID), locationIDs(code)))),
		))
	}
}
