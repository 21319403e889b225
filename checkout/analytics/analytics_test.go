package analytics_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/analytics"
	"github.com/merchd/merchd/checkout/analytics/analyticstest"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/viewer"
)

var (
	from, to = analyticstest.From, analyticstest.To
	day      = analyticstest.Day
	// now is a day after the period: open stock-outs count to its end.
	now = to.Add(24 * time.Hour)
)

func seeded(t *testing.T, dialect string) (*analytics.Service, analyticstest.Fixture, *entdb.DB) {
	t.Helper()
	db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, dialect)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fx, err := analyticstest.Seed(context.Background(), db.Client)
	if err != nil {
		t.Fatal(err)
	}
	return analytics.New(db, func() time.Time { return now }), fx, db
}

func staff() context.Context {
	return viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Staff, StaffID: 1, Rank: viewer.RankStaff})
}

func report(t *testing.T, s *analytics.Service, req analytics.Request) *analytics.Report {
	t.Helper()
	r, err := s.Report(staff(), req)
	if err != nil {
		t.Fatalf("report %+v: %v", req, err)
	}
	return r
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func ratio(t *testing.T, what string, got analytics.Ratio, part, whole int) {
	t.Helper()
	want := 0.0
	if whole > 0 {
		want = float64(part) / float64(whole)
	}
	if got.Part != part || got.Whole != whole || math.Abs(got.Rate-want) > 1e-12 {
		t.Errorf("%s = %d/%d (%v), want %d/%d", what, got.Part, got.Whole, got.Rate, part, whole)
	}
}

func sales(t *testing.T, r *analytics.Report, want ...analytics.Sales) {
	t.Helper()
	if len(r.Sales) != len(want) {
		t.Fatalf("sales %+v, want %+v", r.Sales, want)
	}
	for i := range want {
		eq(t, "sales["+want[i].Currency+"]", r.Sales[i], want[i])
	}
}

// TestReportByHand checks every figure of the seeded shop (see
// analyticstest.Seed) against values worked out by hand, on SQLite and
// PostgreSQL.
func TestReportByHand(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			s, fx, _ := seeded(t, d)

			t.Run("shop", func(t *testing.T) {
				r := report(t, s, analytics.Request{From: from, To: to})
				eq(t, "bucket", r.Bucket, analytics.Day)
				// EUR: o6 5.00 (at From: the start is inside) + o1 20.00 + o2
				// 10.00 + o3 30.00 + the hub sale 12.00 = 77.00 in 5 orders,
				// 15.40 each. o4 (paid at To), o4b (before From), the pending
				// and the canceled order and the CONFLICT hub sale are out;
				// USD is apart: o8 25.00.
				sales(t, r, analytics.Sales{Currency: "EUR", Revenue: 7700, Orders: 5, AverageOrder: 1540},
					analytics.Sales{Currency: "USD", Revenue: 2500, Orders: 1, AverageOrder: 2500})
				// 11 lines held in the period, 7 ended in a paid order.
				ratio(t, "conversion", r.Conversion, 7, 11)
				// o1 (tee + poster) and o3 (tee + pin) of 5 paid orders.
				ratio(t, "attach", r.Attach, 2, 5)
				// c1 (o1, o3) and c3 (o6, o8) of c1, c2, c3.
				ratio(t, "repeat", r.Repeat, 2, 3)
				// o1 collected in time; o2 collected after its escalation;
				// o8 escalated, never collected. o3 was shipped.
				ratio(t, "pickups within SLA", r.PickupsWithinSLA, 1, 3)
				// 24 h (o1) + 96 h (o2) + 24 h (o3 delivered) = 48 h each.
				eq(t, "fulfilled", r.Fulfilled, analytics.Fulfilled{Count: 3, AverageSeconds: 48 * 3600})

				if len(r.Drops) != 2 {
					t.Fatalf("drops %+v, want the tour drop and the poster drop", r.Drops)
				}
				d1, d2 := r.Drops[0], r.Drops[1]
				eq(t, "drop", d1.DropID, fx.Drop)
				eq(t, "drop sold", d1.Sold, 4)
				eq(t, "drop sell-through", d1.SellThrough, 1.0)
				eq(t, "drop starts", d1.StartsAt, day(1, 10, 0))
				if d1.SoldOutAt == nil || !d1.SoldOutAt.Equal(day(3, 9, 0)) || *d1.TimeToSellOut != 47*time.Hour {
					t.Errorf("drop sold out at %v after %v, want %v after 47h", d1.SoldOutAt, d1.TimeToSellOut, day(3, 9, 0))
				}
				eq(t, "drop 2", d2.DropID, fx.Drop2)
				eq(t, "drop 2 sold", d2.Sold, 0)
				eq(t, "drop 2 cap", d2.Cap, 10)
				if d2.SoldOutAt != nil || d2.TimeToSellOut != nil {
					t.Errorf("drop 2 sold out at %v", d2.SoldOutAt)
				}

				// TEE-M at central: 30 min (from an interval begun before the
				// period) + 90 min; POSTER at popup-1: the last 15 minutes,
				// still out. PIN's interval ended before the period.
				if len(r.StockOuts) != 2 {
					t.Fatalf("stock-outs %+v, want 2", r.StockOuts)
				}
				eq(t, "stock-out 0", r.StockOuts[0], analytics.StockOut{VariantID: fx.TeeM, SKU: "TEE-M", LocationID: fx.Central, Location: "central", Intervals: 2, Seconds: 120 * 60})
				eq(t, "stock-out 1", r.StockOuts[1], analytics.StockOut{VariantID: fx.Poster, SKU: "POSTER", LocationID: fx.Popup, Location: "popup-1", Intervals: 1, Seconds: 15 * 60})
				eq(t, "stock-out minutes", r.StockOuts[0].Minutes(), 120.0)

				// Cohort 0: box carried o1 (2 units) and o3 (3), one returned
				// (o3's return was canceled); mailer o2 (1), none back.
				// Cohort 1: o8 in a mailer, returned.
				want := []analytics.ReturnCohort{
					{Start: from, Packaging: "box", Sold: 5, Returned: 1, Rate: 0.2},
					{Start: from, Packaging: "mailer", Sold: 1, Returned: 0, Rate: 0},
					{Start: from.Add(analytics.CohortLength), Packaging: "mailer", Sold: 1, Returned: 1, Rate: 1},
				}
				if len(r.Returns) != len(want) {
					t.Fatalf("returns %+v, want %+v", r.Returns, want)
				}
				for i := range want {
					if !r.Returns[i].Start.Equal(want[i].Start) || r.Returns[i].Packaging != want[i].Packaging ||
						r.Returns[i].Sold != want[i].Sold || r.Returns[i].Returned != want[i].Returned || r.Returns[i].Rate != want[i].Rate {
						t.Errorf("returns[%d] = %+v, want %+v", i, r.Returns[i], want[i])
					}
				}

				// 60 days × EUR, USD; the buckets add up to the totals.
				if len(r.Series) != 120 {
					t.Fatalf("%d points, want 120", len(r.Series))
				}
				got := map[string]analytics.Point{}
				var sum int64
				for _, p := range r.Series {
					if p.Revenue != 0 {
						got[p.At.Format("Jan 2 ")+p.Currency] = p
					}
					if p.Currency == "EUR" {
						sum += p.Revenue
					}
				}
				eq(t, "EUR over the series", sum, 7700)
				for k, w := range map[string][2]int64{"Mar 1 EUR": {500, 1}, "Mar 2 EUR": {3000, 2}, "Mar 4 EUR": {3000, 1}, "Mar 5 EUR": {1200, 1}, "Apr 5 USD": {2500, 1}} {
					if p := got[k]; p.Revenue != w[0] || int64(p.Orders) != w[1] {
						t.Errorf("point %s = %+v, want %d in %d orders", k, p, w[0], w[1])
					}
				}
				if len(got) != 5 {
					t.Errorf("points with revenue %v, want 5", got)
				}
			})

			t.Run("drop", func(t *testing.T) {
				r := report(t, s, analytics.Request{From: from, To: to, Scope: analytics.Scope{DropID: fx.Drop}})
				// The drop's lines: o1 10.00, o2 10.00, o3 20.00.
				sales(t, r, analytics.Sales{Currency: "EUR", Revenue: 4000, Orders: 3, AverageOrder: 1333})
				ratio(t, "conversion", r.Conversion, 3, 4) // one expired hold
				ratio(t, "attach", r.Attach, 2, 3)         // o1's poster, o3's pin
				ratio(t, "repeat", r.Repeat, 1, 2)         // c1 twice, c2 once
				ratio(t, "pickups", r.PickupsWithinSLA, 1, 2)
				eq(t, "fulfilled", r.Fulfilled.Count, 3)
				if len(r.Drops) != 1 || r.Drops[0].DropID != fx.Drop {
					t.Errorf("drops %+v, want only the tour drop", r.Drops)
				}
				if len(r.StockOuts) != 1 || r.StockOuts[0].SKU != "TEE-M" {
					t.Errorf("stock-outs %+v, want TEE-M's only", r.StockOuts)
				}
				if len(r.Returns) != 2 || r.Returns[0].Sold != 3 || r.Returns[0].Returned != 0 || r.Returns[1].Sold != 1 {
					t.Errorf("returns %+v, want box 0/3 and mailer 0/1", r.Returns)
				}
			})

			t.Run("stream", func(t *testing.T) {
				r := report(t, s, analytics.Request{From: from, To: to, Scope: analytics.Scope{StreamID: fx.Stream}})
				sales(t, r, analytics.Sales{Currency: "EUR", Revenue: 3000, Orders: 1, AverageOrder: 3000})
				ratio(t, "conversion", r.Conversion, 2, 2)
				ratio(t, "attach", r.Attach, 0, 1) // both of o3's lines are the stream's
				eq(t, "drops", len(r.Drops), 0)
			})

			t.Run("hub", func(t *testing.T) {
				r := report(t, s, analytics.Request{From: from, To: to, Scope: analytics.Scope{LocationID: fx.Popup}})
				// o6's pin came from popup-1's stock, plus its hub sale.
				sales(t, r, analytics.Sales{Currency: "EUR", Revenue: 1700, Orders: 2, AverageOrder: 850})
				ratio(t, "conversion", r.Conversion, 1, 1)
				if len(r.StockOuts) != 1 || r.StockOuts[0].SKU != "POSTER" {
					t.Errorf("stock-outs %+v, want POSTER's at popup-1", r.StockOuts)
				}
			})

			t.Run("hourly", func(t *testing.T) {
				r := report(t, s, analytics.Request{From: day(1, 0, 0), To: day(2, 0, 0)})
				eq(t, "bucket", r.Bucket, analytics.Hour)
				sales(t, r, analytics.Sales{Currency: "EUR", Revenue: 3000, Orders: 2, AverageOrder: 1500})
				if len(r.Series) != 24 {
					t.Fatalf("%d points, want 24", len(r.Series))
				}
				eq(t, "10:00", r.Series[10], analytics.Point{At: day(1, 10, 0), Currency: "EUR", Revenue: 2000, Orders: 1})
				eq(t, "11:00", r.Series[11], analytics.Point{At: day(1, 11, 0), Currency: "EUR", Revenue: 1000, Orders: 1})
				eq(t, "12:00", r.Series[12].Revenue, 0)
			})
		})
	}
}

// TestReportRefusals: only owners and staff read analytics; the period is
// bounded and the scope is one thing.
func TestReportRefusals(t *testing.T) {
	s, fx, _ := seeded(t, "sqlite")
	ok := analytics.Request{From: from, To: to}
	for _, tc := range []struct {
		name string
		v    viewer.Viewer
		want error
	}{
		{"anonymous", viewer.Viewer{}, checkout.ErrUnauthenticated},
		{"customer", viewer.Viewer{Role: viewer.Customer, CustomerID: fx.Customers[0]}, checkout.ErrForbidden},
		{"clerk", viewer.Viewer{Role: viewer.Staff, StaffID: 3, Rank: viewer.RankClerk, Location: "popup-1"}, checkout.ErrForbidden},
		{"hub token", viewer.Viewer{Role: viewer.HubToken, Hub: "popup-1"}, checkout.ErrForbidden},
	} {
		if _, err := s.Report(viewer.NewContext(context.Background(), tc.v), ok); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := s.Report(viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Staff, Rank: viewer.RankOwner}), ok); err != nil {
		t.Errorf("owner: %v", err)
	}
	for name, req := range map[string]analytics.Request{
		"401 days":     {From: from, To: from.Add(401 * 24 * time.Hour)},
		"backwards":    {From: to, To: from},
		"empty":        {From: from, To: from},
		"two scopes":   {From: from, To: to, Scope: analytics.Scope{DropID: fx.Drop, StreamID: fx.Stream}},
		"no start":     {To: to},
		"unknown drop": {From: from, To: to, Scope: analytics.Scope{DropID: fx.Stream}},
	} {
		_, err := s.Report(staff(), req)
		if !errors.Is(err, checkout.ErrBadInput) && !errors.Is(err, checkout.ErrNotFound) {
			t.Errorf("%s: %v, want bad input or not found", name, err)
		}
	}
	if _, err := s.Report(staff(), analytics.Request{From: from, To: from.Add(400 * 24 * time.Hour)}); err != nil {
		t.Errorf("400 days: %v", err)
	}
}

// TestQueryPlans: the period's orders and hub sales are found through the
// (status, paid_at) and (status, sold_at) indexes,
// never a scan of every order (SQLite's plan).
func TestQueryPlans(t *testing.T) {
	_, _, db := seeded(t, "sqlite")
	plan := analytics.SalesPlan(context.Background(), db.SQL, analytics.Request{From: from, To: to})
	if !strings.Contains(plan, "USING INDEX order_status_paid_at (status=? AND paid_at>? AND paid_at<?)") || !strings.Contains(plan, "USING INDEX hubsale_status_sold_at") {
		t.Errorf("the sales query does not use the paid_at index:\n%s", plan)
	}
}
