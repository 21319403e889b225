package graph

import (
	"context"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/analytics"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/graph/model"
)

// analyticsReport runs a report for the API: central only (a hub has no
// analytics), the caller's role checked by the service.
func (r *Resolver) analyticsReport(ctx context.Context, in model.AnalyticsInput) (*analytics.Report, error) {
	if r.Analytics == nil {
		if err := checkout.RequireStaff(ctx); err != nil {
			return nil, err
		}
		return nil, checkout.ErrForbidden.Detail("analytics are read on central, not at a hub")
	}
	return r.Analytics.Report(ctx, analytics.Request{From: in.From, To: in.To, Scope: analytics.Scope{
		DropID: deref(in.DropID), StreamID: deref(in.StreamID), LocationID: deref(in.LocationID)}})
}

// analyticsModel is a report as the API shows it.
func analyticsModel(rep *analytics.Report) *model.AnalyticsReport {
	money := func(amount int64, currency string) *ent.Money { return &ent.Money{Amount: amount, Currency: currency} }
	ratio := func(x analytics.Ratio) *model.AnalyticsRatio {
		return &model.AnalyticsRatio{Part: x.Part, Whole: x.Whole, Rate: x.Rate}
	}
	out := &model.AnalyticsReport{
		From: rep.From, To: rep.To, Bucket: model.AnalyticsBucket(rep.Bucket),
		Conversion: ratio(rep.Conversion), Attach: ratio(rep.Attach), RepeatPurchase: ratio(rep.Repeat),
		PickupsWithinSLA: ratio(rep.PickupsWithinSLA), Fulfilled: rep.Fulfilled.Count,
		AverageMinutesToFulfilled: rep.Fulfilled.AverageMinutes(),
		Sales:                     []*model.AnalyticsSales{}, Drops: []*model.AnalyticsDrop{}, StockOuts: []*model.AnalyticsStockOut{},
		Returns: []*model.AnalyticsReturnCohort{}, Series: make([]*model.AnalyticsPoint, 0, len(rep.Series)),
	}
	for _, s := range rep.Sales {
		out.Sales = append(out.Sales, &model.AnalyticsSales{Revenue: money(s.Revenue, s.Currency), Orders: s.Orders,
			AverageOrder: money(s.AverageOrder, s.Currency)})
	}
	for _, d := range rep.Drops {
		x := &model.AnalyticsDrop{DropID: d.DropID, Title: d.Title, Cap: d.Cap, Sold: d.Sold, SellThrough: d.SellThrough,
			StartsAt: d.StartsAt, SoldOutAt: d.SoldOutAt}
		if d.TimeToSellOut != nil {
			m := d.TimeToSellOut.Minutes()
			x.MinutesToSellOut = &m
		}
		out.Drops = append(out.Drops, x)
	}
	for _, s := range rep.StockOuts {
		out.StockOuts = append(out.StockOuts, &model.AnalyticsStockOut{Sku: s.SKU, Location: s.Location, Intervals: s.Intervals, Minutes: s.Minutes()})
	}
	for _, c := range rep.Returns {
		out.Returns = append(out.Returns, &model.AnalyticsReturnCohort{CohortStart: c.Start, PackagingVariant: c.Packaging,
			UnitsSold: c.Sold, UnitsReturned: c.Returned, Rate: c.Rate})
	}
	for _, p := range rep.Series {
		out.Series = append(out.Series, &model.AnalyticsPoint{At: p.At.In(time.UTC), Revenue: money(p.Revenue, p.Currency), Orders: p.Orders})
	}
	return out
}
