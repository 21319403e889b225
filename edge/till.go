package edge

import (
	"context"
	"fmt"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
)

// The till is a hub's counter: barcodes scanned there go into the till's
// own cart, holding the units at the hub like any cart, and hubSell with
// fromTill sells that cart. The till is a customer account of the hub's
// database that cannot sign in.

func (h *Sales) tillEmail() string { return viewer.TillEmail(h.code) }

// TillContext is ctx acting as the hub's till (a customer), created on
// first use.
func (h *Sales) TillContext(ctx context.Context) (context.Context, error) {
	if err := h.counter(ctx); err != nil {
		return nil, err
	}
	if h.code == "" {
		return nil, checkout.BadInput("hub", "this server is not a hub; run `merchd edge`")
	}
	sys := viewer.SystemContext(ctx)
	// "!" is no password hash: nobody signs in as the till.
	if err := h.db.Customer.Create().SetEmail(h.tillEmail()).SetName("Till " + h.code).SetPasswordHash("!").
		OnConflictColumns(customer.FieldEmail).Ignore().Exec(sys); err != nil {
		return nil, err
	}
	id, err := h.db.Customer.Query().Where(customer.Email(h.tillEmail())).OnlyID(sys)
	if err != nil {
		return nil, err
	}
	return viewer.NewContext(ctx, viewer.Viewer{Role: viewer.Customer, CustomerID: id}), nil
}

// ScanToTill adds one unit of the variant whose SKU (or barcode) is code to
// the till's cart, holding it at the hub; it returns the cart line.
func (h *Sales) ScanToTill(ctx context.Context, cs *carts.Service, code, key string) (int, error) {
	if err := h.counter(ctx); err != nil {
		return 0, err
	}
	sys := viewer.SystemContext(ctx)
	v, err := h.db.Variant.Query().Where(variant.Sku(code)).OnlyID(sys)
	if err != nil {
		return 0, checkout.NotFoundAs(err, "variant "+code)
	}
	till, err := h.TillContext(ctx)
	if err != nil {
		return 0, err
	}
	return cs.AddToCart(till, carts.AddToCartInput{VariantID: v, Quantity: 1, Channel: checkout.ChannelHub, Key: key})
}

// ringUpTill turns the till cart's held lines into the lines of a sale, in
// the sale's tx. The holds already took the units from the hub's stock, so
// the lines become HUB_SOLD without taking them again.
func (h *Sales) ringUpTill(ctx context.Context, tx *ent.Tx, hubID int) ([]hubs.SaleLine, string, int64, error) {
	tillID, err := tx.Customer.Query().Where(customer.Email(h.tillEmail())).OnlyID(ctx)
	if ent.IsNotFound(err) {
		return nil, "", 0, checkout.ErrEmptyCart
	} else if err != nil {
		return nil, "", 0, err
	}
	held, err := tx.CartLine.Query().Where(cartline.CustomerID(tillID), cartline.LocationID(hubID), cartline.StatusEQ(cartline.StatusHELD)).
		WithVariant().Order(cartline.ByID()).All(ctx)
	if err != nil {
		return nil, "", 0, err
	}
	if len(held) == 0 {
		return nil, "", 0, checkout.ErrEmptyCart
	}
	if len(held) > 50 {
		return nil, "", 0, checkout.BadInput("fromTill", "the till holds %d lines; a sale has at most 50", len(held))
	}
	var (
		lines    []hubs.SaleLine
		currency string
		total    int64
	)
	for _, l := range held {
		n, err := tx.CartLine.Update().Where(cartline.ID(l.ID), cartline.StatusEQ(cartline.StatusHELD)).SetStatus(cartline.StatusHUB_SOLD).Save(ctx)
		if err != nil {
			return nil, "", 0, err
		}
		if n == 0 {
			return nil, "", 0, fmt.Errorf("a till line changed while ringing up; try again: %w", checkout.ErrHoldExpired)
		}
		if currency == "" {
			currency = l.Currency
		} else if currency != l.Currency {
			return nil, "", 0, checkout.BadInput("fromTill", "one sale, one currency")
		}
		lines = append(lines, hubs.SaleLine{SKU: l.Edges.Variant.Sku, Quantity: l.Quantity, UnitAmount: l.UnitAmount})
	}
	total, err = hubs.SumLines(lines)
	if err != nil {
		return nil, "", 0, checkout.BadInput("fromTill", "the till's lines add up to more than can be paid")
	}
	h.AfterCommit(tx, checkout.CartTopic(tillID))
	return lines, currency, total, nil
}

// counter lets owners and staff work this hub's till and counter, and
// clerks whose location is this hub; a hub's token is not staff here.
func (h *Sales) counter(ctx context.Context) error {
	if v := viewer.FromContext(ctx); v.Role == viewer.Staff && v.Rank == viewer.RankClerk {
		return checkout.AtLocation(ctx, h.code)
	}
	return checkout.RequireStaff(ctx)
}
