package returns

import (
	"cmp"
	"context"
	"slices"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/orderreturn"
	"github.com/merchd/merchd/ent/viewer"
)

// Rate is how often orders shipped in one packaging variant come back.
type Rate struct {
	// PackagingVariant is nil for fulfilments with none recorded.
	PackagingVariant *string
	// Fulfillments reached their buyer (collected or delivered).
	Fulfillments int
	// Returns were asked for (not canceled), covering ReturnedOrders
	// orders and Units units.
	Returns, ReturnedOrders, Units int
	// Rate is ReturnedOrders / Fulfillments (0 with no fulfilments).
	Rate float64
}

// Rates measures returns per packaging variant: of the fulfilments that
// reached their buyer (created since `since`, if given), how many orders
// came back. Two grouped counts, no scan of rows into Go.
func (s *Service) Rates(ctx context.Context, since *time.Time) ([]Rate, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	fq := s.db.Fulfillment.Query().Where(fulfillment.StatusIn(fulfillment.StatusCOLLECTED, fulfillment.StatusDELIVERED))
	rq := s.db.OrderReturn.Query().Where(orderreturn.StatusNEQ(orderreturn.StatusCANCELED))
	if since != nil {
		fq = fq.Where(fulfillment.CreatedAtGTE(*since))
		rq = rq.Where(orderreturn.CreatedAtGTE(*since))
	}
	var fs []struct {
		Variant *string `json:"packaging_variant"`
		Count   int     `json:"count"`
	}
	if err := fq.GroupBy(fulfillment.FieldPackagingVariant).Aggregate(ent.Count()).Scan(sys, &fs); err != nil {
		return nil, err
	}
	var rs []struct {
		Variant *string `json:"packaging_variant"`
		Count   int     `json:"count"`
		Orders  int     `json:"orders"`
		Units   int     `json:"units"`
	}
	if err := rq.GroupBy(orderreturn.FieldPackagingVariant).Aggregate(ent.Count(),
		func(sel *sql.Selector) string {
			return sql.As(sql.Count(sql.Distinct(sel.C(orderreturn.FieldOrderID))), "orders")
		},
		ent.As(ent.Sum(orderreturn.FieldUnits), "units"),
	).Scan(sys, &rs); err != nil {
		return nil, err
	}
	by := map[string]*Rate{}
	get := func(v *string) *Rate {
		k := "\x00none"
		if v != nil {
			k = *v
		}
		if by[k] == nil {
			by[k] = &Rate{PackagingVariant: v}
		}
		return by[k]
	}
	for _, f := range fs {
		if f.Variant != nil && *f.Variant == "" {
			f.Variant = nil // a fulfilment with no packaging recorded
		}
		get(f.Variant).Fulfillments += f.Count
	}
	for _, r := range rs {
		x := get(r.Variant)
		x.Returns += r.Count
		x.ReturnedOrders += r.Orders
		x.Units += r.Units
	}
	out := make([]Rate, 0, len(by))
	for _, x := range by {
		if x.Fulfillments > 0 {
			x.Rate = float64(x.ReturnedOrders) / float64(x.Fulfillments)
		}
		out = append(out, *x)
	}
	// Named variants by name, the unnamed last.
	slices.SortFunc(out, func(a, b Rate) int {
		switch {
		case a.PackagingVariant == nil:
			return 1
		case b.PackagingVariant == nil:
			return -1
		}
		return cmp.Compare(*a.PackagingVariant, *b.PackagingVariant)
	})
	return out, nil
}
