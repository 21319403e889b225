package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/viewer"
)

// MaxPeriod is the longest period one report covers.
const MaxPeriod = 400 * 24 * time.Hour

// HourlyUpTo is the longest period whose time series is hourly; longer
// ones are daily.
const HourlyUpTo = 48 * time.Hour

// CohortLength is the span of one return-rate cohort.
const CohortLength = 30 * 24 * time.Hour

// Bucket is the step of a report's time series.
type Bucket string

// Buckets.
const (
	Hour Bucket = "HOUR"
	Day  Bucket = "DAY"
)

// Duration is the bucket's length.
func (b Bucket) Duration() time.Duration {
	if b == Hour {
		return time.Hour
	}
	return 24 * time.Hour
}

// Scope narrows a report to one drop, one stream or one location (a hub,
// or any stock location); the zero Scope is the whole shop. At most one
// is set.
type Scope struct {
	DropID, StreamID, LocationID int
}

// Request is what a report covers: [From, To) and a scope.
type Request struct {
	From, To time.Time
	Scope
}

// Ratio is Part of Whole; Rate is Part/Whole, 0 when Whole is 0.
type Ratio struct {
	Part, Whole int
	Rate        float64
}

func ratio(part, whole int) Ratio {
	r := Ratio{Part: part, Whole: whole}
	if whole > 0 {
		r.Rate = float64(part) / float64(whole)
	}
	return r
}

// Sales is revenue in one currency, in minor units.
type Sales struct {
	Currency string
	// Revenue is what the orders (or, scoped, their lines) charged.
	Revenue int64
	Orders  int
	// AverageOrder is Revenue / Orders, rounded half away from zero to
	// the minor unit (0 without orders).
	AverageOrder int64
}

// DropSales is how far one drop sold.
type DropSales struct {
	DropID int
	Title  string
	// Cap is the drop's hard cap: the units it offers.
	Cap int
	// Sold is the units of the drop's lines in paid orders (whenever
	// paid: a drop sells through over its whole life).
	Sold int
	// SellThrough is Sold / Cap.
	SellThrough float64
	// StartsAt is when the drop first sold: its early access, else its
	// opening.
	StartsAt time.Time
	// SoldOutAt, once Sold reaches Cap, is when the last unit was paid;
	// TimeToSellOut is SoldOutAt − StartsAt.
	SoldOutAt     *time.Time
	TimeToSellOut *time.Duration
}

// StockOut is how long one variant was out of stock at one location
// within the period.
type StockOut struct {
	VariantID  int
	SKU        string
	LocationID int
	Location   string // the location's code
	// Intervals overlapping the period; Seconds of them inside it (an
	// interval still open counts up to the end of the period or now).
	Intervals int
	Seconds   int64
}

// Minutes is Seconds in minutes.
func (s StockOut) Minutes() float64 { return float64(s.Seconds) / 60 }

// ReturnCohort is the return rate of the units sold in one 30-day cohort
// and shipped in one packaging variant.
type ReturnCohort struct {
	// Start is the cohort's first instant: From + n × 30 days, n ≥ 0.
	Start time.Time
	// Packaging is the fulfilment's packaging variant ("" not recorded).
	Packaging string
	// Sold: units of paid orders in the cohort carried by fulfilments in
	// this packaging; Returned: units of those orders in returns not
	// canceled (whenever asked for). Rate = Returned / Sold.
	Sold, Returned int
	Rate           float64
}

// Point is one bucket of the time series in one currency.
type Point struct {
	At       time.Time
	Currency string
	Revenue  int64
	Orders   int
}

// Fulfilled is how long paid orders took to reach their buyers.
type Fulfilled struct {
	// Count: fulfilments collected or delivered within the period.
	Count int
	// AverageSeconds from the order's payment to that handover.
	AverageSeconds int64
}

// Report is every figure of a period and scope. Definitions:
//
//   - A paid order is one with paid_at in [From, To) and status PAID,
//     PARTIALLY_REFUNDED or REFUNDED (refunds are not subtracted);
//     PENDING_PAYMENT, PAYMENT_FAILED and CANCELED orders never count.
//   - Sales: per currency, revenue and orders of paid orders (total with
//     delivery) and of hub sales recorded on central (APPLIED or
//     SHORTFALL, sold_at in the period; what was paid: total less
//     shortfall; a CONFLICT sale is not counted). Scoped to a drop or a
//     stream, an order counts with its lines of that drop or stream only
//     (quantity × unit price, no delivery); scoped to a location, with
//     its lines whose stock came from there, plus that hub's sales.
//   - Conversion: cart lines created in the period (held; hub till lines
//     excluded) → those whose order is paid.
//   - Attach: paid orders with a line in scope → those that also hold a
//     line of another product. Unscoped: paid orders → those with two or
//     more products. (Hub sales have no order lines and are left out.)
//   - Repeat: customers with a paid order (in scope) → those with two or
//     more.
//   - Drops: the scoped drop, else every drop selling in the period
//     (early access or opening before To, closing after From).
//   - StockOuts: stock-out intervals (ent StockOut, recorded by
//     checkout/inventory) overlapping the period, per SKU and location.
//   - Returns: per 30-day cohort of the sale and packaging variant (the
//     model has one: fulfilments and returns record it).
//   - PickupsWithinSLA: pickups decided in the period — collected then,
//     or escalated by the SLA sweep then and not collected — → collected
//     and never escalated (the deadline is cleared once collected, the
//     escalation is what records a miss).
//   - Fulfilled: handovers (a fulfilment event to COLLECTED or DELIVERED)
//     in the period, timed from the order's payment.
//   - Series: Sales per Bucket (hourly up to 48 hours, else daily), every
//     bucket of the period present for every currency of Sales.
type Report struct {
	From, To         time.Time
	Scope            Scope
	Bucket           Bucket
	Sales            []Sales
	Conversion       Ratio
	Attach           Ratio
	Repeat           Ratio
	PickupsWithinSLA Ratio
	Fulfilled        Fulfilled
	Drops            []DropSales
	StockOuts        []StockOut
	Returns          []ReturnCohort
	Series           []Point
}

// Service computes reports.
type Service struct {
	db      *ent.Client
	sql     *sql.DB
	dialect string
	now     func() time.Time
}

// New returns the analytics of db. The aggregates run on its pool
// outside any transaction (a read takes no write lock).
func New(db *entdb.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db.Client, sql: db.SQL, dialect: db.Dialect, now: now}
}

// Validate checks a request before anything is read.
func (r Request) Validate() error {
	switch {
	case r.From.IsZero() || r.To.IsZero():
		return checkout.BadInput("from", "a period needs a start and an end")
	case !r.To.After(r.From):
		return checkout.BadInput("to", "the period must end after it starts")
	case r.To.Sub(r.From) > MaxPeriod:
		return checkout.BadInput("to", "a period covers at most %d days", int(MaxPeriod/(24*time.Hour)))
	}
	n := 0
	for _, id := range []int{r.DropID, r.StreamID, r.LocationID} {
		if id < 0 {
			return checkout.BadInput("scope", "unknown id")
		}
		if id > 0 {
			n++
		}
	}
	if n > 1 {
		return checkout.BadInput("scope", "choose one drop, one stream or one location, not several")
	}
	return nil
}

// Report computes every figure of req. Owners and staff only.
func (s *Service) Report(ctx context.Context, req Request) (*Report, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	// Whole seconds: the figures bucket rows by their time in whole
	// seconds (epoch), so a period's ends must fall on whole seconds too
	// or a row in the period's last fraction lands past its last bucket.
	req.From, req.To = req.From.UTC().Truncate(time.Second), req.To.UTC().Truncate(time.Second)
	if err := req.Validate(); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	q, err := s.scoped(sys, req)
	if err != nil {
		return nil, err
	}
	rep := &Report{From: req.From, To: req.To, Scope: req.Scope, Bucket: Day}
	if req.To.Sub(req.From) <= HourlyUpTo {
		rep.Bucket = Hour
	}
	steps := []struct {
		name string
		run  func(context.Context, *query, *Report) error
	}{
		{"sales", s.sales}, {"series", s.series}, {"conversion", s.conversion}, {"attach", s.attach},
		{"repeat", s.repeat}, {"drops", s.drops}, {"stock-outs", s.stockOuts}, {"returns", s.returns},
		{"pickups", s.pickups}, {"fulfilled", s.fulfilled},
	}
	for _, st := range steps {
		if err := st.run(sys, q, rep); err != nil {
			return nil, fmt.Errorf("analytics: %s: %w", st.name, err)
		}
	}
	return rep, nil
}

// query is a request resolved into SQL fragments.
type query struct {
	Request
	hub    string // the location's hub code, for its hub sales ("" none)
	now    time.Time
	epochF int64 // From in Unix seconds
}

// scoped checks the scope exists and resolves it.
func (s *Service) scoped(ctx context.Context, req Request) (*query, error) {
	q := &query{Request: req, now: s.now().UTC(), epochF: req.From.Unix()}
	switch {
	case req.DropID > 0:
		if _, err := s.db.Drop.Get(ctx, req.DropID); err != nil {
			return nil, checkout.NotFoundAs(err, "drop")
		}
	case req.StreamID > 0:
		if _, err := s.db.Stream.Get(ctx, req.StreamID); err != nil {
			return nil, checkout.NotFoundAs(err, "stream")
		}
	case req.LocationID > 0:
		loc, err := s.db.Location.Get(ctx, req.LocationID)
		if err != nil {
			return nil, checkout.NotFoundAs(err, "location")
		}
		if loc.Kind == location.KindHUB {
			q.hub = loc.Code
		}
	}
	return q, nil
}

// paidSQL is "order o is paid within the period"; two args: From, To.
const paidSQL = "o.paid_at >= ? AND o.paid_at < ? AND o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')"

func (q *query) paidArgs() []any { return []any{q.From, q.To} }

// lineIn is "order line <l> is in scope", with its args; "" unscoped.
func (q *query) lineIn(l string) (string, []any) {
	switch {
	case q.DropID > 0:
		return "COALESCE(" + l + ".drop_id, 0) = ?", []any{q.DropID}
	case q.StreamID > 0:
		return "EXISTS (SELECT 1 FROM cart_lines c WHERE c.id = " + l + ".cart_line_id AND c.stream_id = ?)", []any{q.StreamID}
	case q.LocationID > 0:
		return "EXISTS (SELECT 1 FROM cart_lines c WHERE c.id = " + l + ".cart_line_id AND c.location_id = ?)", []any{q.LocationID}
	}
	return "", nil
}

// orderIn is "order o has a line in scope" ("TRUE"-like when unscoped).
func (q *query) orderIn() (string, []any) {
	in, args := q.lineIn("l")
	if in == "" {
		return "1 = 1", nil
	}
	return "EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id AND " + in + ")", args
}

// salesSQL is one row per sale in the period: currency, amount, at.
func (q *query) salesSQL() (string, []any) {
	var b strings.Builder
	var args []any
	if in, inArgs := q.lineIn("l"); in == "" {
		b.WriteString("SELECT o.currency AS currency, o.total_amount AS amount, o.paid_at AS at FROM orders o WHERE " + paidSQL)
		args = append(args, q.paidArgs()...)
	} else {
		b.WriteString("SELECT o.currency AS currency, SUM(l.quantity * l.unit_amount) AS amount, o.paid_at AS at" +
			" FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE " + paidSQL + " AND " + in +
			" GROUP BY o.id, o.currency, o.paid_at")
		args = append(append(args, q.paidArgs()...), inArgs...)
	}
	if q.DropID == 0 && q.StreamID == 0 && (q.LocationID == 0 || q.hub != "") {
		b.WriteString(" UNION ALL SELECT h.currency, h.total_amount - h.shortfall_amount, h.sold_at FROM hub_sales h" +
			" WHERE h.status IN ('APPLIED', 'SHORTFALL') AND h.sold_at >= ? AND h.sold_at < ?")
		args = append(args, q.From, q.To)
		if q.hub != "" {
			b.WriteString(" AND h.hub = ?")
			args = append(args, q.hub)
		}
	}
	return b.String(), args
}

// epoch is the SQL of a timestamp column in whole Unix seconds, rounded
// down on both databases. SQLite holds
// times as Go writes them ("2006-01-02 15:04:05.999999999 -0700 MST"):
// the first 19 characters are the local time and the offset follows the
// first space after them.
func (s *Service) epoch(col string) string {
	if s.dialect == dialect.Postgres {
		return "CAST(FLOOR(EXTRACT(EPOCH FROM " + col + ")) AS BIGINT)" // down, as SQLite's strftime
	}
	off := "substr(" + col + ", 20 + instr(substr(" + col + ", 20), ' '), 5)"
	return "(CAST(strftime('%s', substr(" + col + ", 1, 19)) AS INTEGER) - " +
		"(CASE substr(" + off + ", 1, 1) WHEN '-' THEN -1 ELSE 1 END) * " +
		"(CAST(substr(" + off + ", 2, 2) AS INTEGER) * 3600 + CAST(substr(" + off + ", 4, 2) AS INTEGER) * 60))"
}

// rows runs a query written with ? placeholders.
func (s *Service) rows(ctx context.Context, sqlText string, args []any, scan func(scan func(...any) error) error) error {
	if s.dialect == dialect.Postgres {
		sqlText = txn.ToDollar(sqlText)
	}
	rs, err := s.sql.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		if err := scan(rs.Scan); err != nil {
			return err
		}
	}
	return rs.Err()
}

// one runs a query that returns one row.
func (s *Service) one(ctx context.Context, sqlText string, args []any, dest ...any) error {
	found := false
	err := s.rows(ctx, sqlText, args, func(scan func(...any) error) error {
		found = true
		return scan(dest...)
	})
	if err == nil && !found {
		err = errors.New("no row")
	}
	return err
}

func (s *Service) sales(ctx context.Context, q *query, r *Report) error {
	sub, args := q.salesSQL()
	return s.rows(ctx, "SELECT s.currency, CAST(SUM(s.amount) AS BIGINT), COUNT(*) FROM ("+sub+") s GROUP BY s.currency ORDER BY s.currency",
		args, func(scan func(...any) error) error {
			var x Sales
			if err := scan(&x.Currency, &x.Revenue, &x.Orders); err != nil {
				return err
			}
			x.AverageOrder = divRound(x.Revenue, int64(x.Orders))
			r.Sales = append(r.Sales, x)
			return nil
		})
}

// divRound is a/b rounded half away from zero (0 when b is 0).
func divRound(a, b int64) int64 {
	if b == 0 {
		return 0
	}
	if (a < 0) != (b < 0) {
		return -divRound(-a, b)
	}
	return (a + b/2) / b
}

func (s *Service) series(ctx context.Context, q *query, r *Report) error {
	step := r.Bucket.Duration()
	n := int((q.To.Sub(q.From) + step - 1) / step)
	currencies := make([]string, len(r.Sales))
	for i, x := range r.Sales {
		currencies[i] = x.Currency
	}
	r.Series = make([]Point, 0, n*len(currencies))
	for i := range n {
		for _, c := range currencies {
			r.Series = append(r.Series, Point{At: q.From.Add(time.Duration(i) * step), Currency: c})
		}
	}
	if len(currencies) == 0 {
		return nil
	}
	sub, args := q.salesSQL()
	args = append([]any{q.epochF, int64(step / time.Second)}, args...)
	return s.rows(ctx, "SELECT ("+s.epoch("s.at")+" - ?) / ?, s.currency, CAST(SUM(s.amount) AS BIGINT), COUNT(*) FROM ("+sub+") s GROUP BY 1, 2",
		args, func(scan func(...any) error) error {
			var (
				i      int
				c      string
				amount int64
				orders int
			)
			if err := scan(&i, &c, &amount, &orders); err != nil {
				return err
			}
			k := slices.Index(currencies, c)
			if i < 0 || i >= n || k < 0 {
				return fmt.Errorf("bucket %d of %s outside the period", i, c)
			}
			p := &r.Series[i*len(currencies)+k]
			p.Revenue, p.Orders = amount, orders
			return nil
		})
}

func (s *Service) conversion(ctx context.Context, q *query, r *Report) error {
	where := "c.created_at >= ? AND c.created_at < ? AND c.status <> 'HUB_SOLD'"
	args := []any{q.From, q.To}
	switch {
	case q.DropID > 0:
		where += " AND c.drop_id = ?"
		args = append(args, q.DropID)
	case q.StreamID > 0:
		where += " AND c.stream_id = ?"
		args = append(args, q.StreamID)
	case q.LocationID > 0:
		where += " AND c.location_id = ?"
		args = append(args, q.LocationID)
	}
	var held, paid int
	err := s.one(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN o.paid_at IS NOT NULL AND o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED') THEN 1 ELSE 0 END), 0)"+
		" FROM cart_lines c LEFT JOIN orders o ON o.id = c.order_id WHERE "+where, args, &held, &paid)
	r.Conversion = ratio(paid, held)
	return err
}

func (s *Service) attach(ctx context.Context, q *query, r *Report) error {
	in, inArgs := q.lineIn("x")
	var attached string
	var args []any
	if in == "" {
		attached = "(SELECT COUNT(DISTINCT v.product_id) FROM order_lines l JOIN variants v ON v.id = l.variant_id WHERE l.order_id = o.id) >= 2"
	} else {
		inY, yArgs := q.lineIn("y")
		attached = "EXISTS (SELECT 1 FROM order_lines x JOIN variants xv ON xv.id = x.variant_id WHERE x.order_id = o.id AND NOT (" + in + ")" +
			" AND xv.product_id NOT IN (SELECT yv.product_id FROM order_lines y JOIN variants yv ON yv.id = y.variant_id WHERE y.order_id = o.id AND " + inY + "))"
		args = append(append(args, inArgs...), yArgs...)
	}
	oin, oArgs := q.orderIn()
	args = append(append(args, q.paidArgs()...), oArgs...)
	var orders, with int
	err := s.one(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN "+attached+" THEN 1 ELSE 0 END), 0) FROM orders o WHERE "+paidSQL+" AND "+oin,
		args, &orders, &with)
	r.Attach = ratio(with, orders)
	return err
}

func (s *Service) repeat(ctx context.Context, q *query, r *Report) error {
	oin, oArgs := q.orderIn()
	var customers, repeat int
	err := s.one(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN t.n >= 2 THEN 1 ELSE 0 END), 0) FROM"+
		" (SELECT o.customer_id, COUNT(*) AS n FROM orders o WHERE "+paidSQL+" AND "+oin+" GROUP BY o.customer_id) t",
		append(q.paidArgs(), oArgs...), &customers, &repeat)
	r.Repeat = ratio(repeat, customers)
	return err
}

func (s *Service) drops(ctx context.Context, q *query, r *Report) error {
	paidAny := "o.paid_at IS NOT NULL AND o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')"
	where, args := "COALESCE(d.early_access_at, d.opens_at) < ? AND d.closes_at > ?", []any{q.To, q.From}
	if q.DropID > 0 {
		where, args = "d.id = ?", []any{q.DropID}
	} else if q.StreamID > 0 || q.LocationID > 0 {
		return nil // drops are not per stream or location
	}
	sold := "FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE l.drop_id = d.id AND " + paidAny
	return s.rows(ctx, "SELECT d.id, d.title, d.cap, "+s.epoch("COALESCE(d.early_access_at, d.opens_at)")+","+
		" COALESCE((SELECT CAST(SUM(l.quantity) AS BIGINT) "+sold+"), 0),"+
		" (SELECT "+s.epoch("MAX(o.paid_at)")+" "+sold+")"+
		" FROM drops d WHERE "+where+" ORDER BY d.opens_at, d.id", args,
		func(scan func(...any) error) error {
			var (
				x      DropSales
				starts int64
				last   *int64
			)
			if err := scan(&x.DropID, &x.Title, &x.Cap, &starts, &x.Sold, &last); err != nil {
				return err
			}
			x.StartsAt = time.Unix(starts, 0).UTC()
			if x.Cap > 0 {
				x.SellThrough = float64(x.Sold) / float64(x.Cap)
			}
			if x.Sold >= x.Cap && last != nil {
				at := time.Unix(*last, 0).UTC()
				d := at.Sub(x.StartsAt)
				x.SoldOutAt, x.TimeToSellOut = &at, &d
			}
			r.Drops = append(r.Drops, x)
			return nil
		})
}

func (s *Service) stockOuts(ctx context.Context, q *query, r *Report) error {
	end := q.To
	if q.now.Before(end) {
		end = q.now
	}
	if !end.After(q.From) {
		return nil
	}
	e0, e1 := q.From.Unix(), end.Unix()
	sqlText := "SELECT so.variant_id, v.sku, so.location_id, lc.code, COUNT(*), CAST(SUM(" +
		"(CASE WHEN so.ended_at IS NULL OR so.ended_at > ? THEN CAST(? AS BIGINT) ELSE " + s.epoch("so.ended_at") + " END) - " +
		"(CASE WHEN so.started_at < ? THEN CAST(? AS BIGINT) ELSE " + s.epoch("so.started_at") + " END)) AS BIGINT)" +
		" FROM stock_outs so JOIN variants v ON v.id = so.variant_id JOIN locations lc ON lc.id = so.location_id" +
		" WHERE so.started_at < ? AND (so.ended_at IS NULL OR so.ended_at > ?)"
	args := []any{end, e1, q.From, e0, end, q.From}
	switch {
	case q.LocationID > 0:
		sqlText += " AND so.location_id = ?"
		args = append(args, q.LocationID)
	case q.DropID > 0:
		sqlText += " AND so.variant_id IN (SELECT dv.variant_id FROM drop_variants dv WHERE dv.drop_id = ?)"
		args = append(args, q.DropID)
	}
	sqlText += " GROUP BY so.variant_id, v.sku, so.location_id, lc.code ORDER BY 6 DESC, v.sku, lc.code"
	return s.rows(ctx, sqlText, args, func(scan func(...any) error) error {
		var x StockOut
		if err := scan(&x.VariantID, &x.SKU, &x.LocationID, &x.Location, &x.Intervals, &x.Seconds); err != nil {
			return err
		}
		r.StockOuts = append(r.StockOuts, x)
		return nil
	})
}

func (s *Service) returns(ctx context.Context, q *query, r *Report) error {
	in, inArgs := q.lineIn("l")
	scope := ""
	if in != "" {
		scope = " AND " + in
	}
	cohort := "(" + s.epoch("o.paid_at") + " - ?) / ?"
	span := int64(CohortLength / time.Second)
	type key struct {
		n int
		p string
	}
	by := map[key]*ReturnCohort{}
	get := func(k key) *ReturnCohort {
		if by[k] == nil {
			by[k] = &ReturnCohort{Start: q.From.Add(time.Duration(k.n) * CohortLength), Packaging: k.p}
		}
		return by[k]
	}
	args := append(append([]any{q.epochF, span}, q.paidArgs()...), inArgs...)
	err := s.rows(ctx, "SELECT "+cohort+", f.packaging_variant, CAST(SUM(fl.quantity) AS BIGINT) FROM orders o"+
		" JOIN order_lines l ON l.order_id = o.id JOIN fulfillment_lines fl ON fl.order_line_id = l.id"+
		" JOIN fulfillments f ON f.id = fl.fulfillment_id WHERE "+paidSQL+scope+" GROUP BY 1, 2", args,
		func(scan func(...any) error) error {
			var k key
			var n int
			if err := scan(&k.n, &k.p, &n); err != nil {
				return err
			}
			get(k).Sold += n
			return nil
		})
	if err != nil {
		return err
	}
	err = s.rows(ctx, "SELECT "+cohort+", COALESCE(r.packaging_variant, ''), COUNT(*) FROM orders o"+
		" JOIN order_returns r ON r.order_id = o.id JOIN return_lines rl ON rl.return_id = r.id"+
		" JOIN order_lines l ON l.id = rl.order_line_id WHERE "+paidSQL+" AND r.status <> 'CANCELED'"+scope+" GROUP BY 1, 2", args,
		func(scan func(...any) error) error {
			var k key
			var n int
			if err := scan(&k.n, &k.p, &n); err != nil {
				return err
			}
			get(k).Returned += n
			return nil
		})
	if err != nil {
		return err
	}
	for _, x := range by {
		if x.Sold > 0 {
			x.Rate = float64(x.Returned) / float64(x.Sold)
		}
		r.Returns = append(r.Returns, *x)
	}
	slices.SortFunc(r.Returns, func(a, b ReturnCohort) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Packaging, b.Packaging)
	})
	return nil
}

// fulfilmentIn is "fulfilment f is in scope".
func (q *query) fulfilmentIn() (string, []any) {
	if q.LocationID > 0 {
		return " AND f.location_id = ?", []any{q.LocationID}
	}
	in, args := q.lineIn("l")
	if in == "" {
		return "", nil
	}
	return " AND EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = f.order_id AND " + in + ")", args
}

func (s *Service) pickups(ctx context.Context, q *query, r *Report) error {
	scope, sArgs := q.fulfilmentIn()
	var all, within int
	err := s.one(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN f.collected_at IS NOT NULL AND f.escalated_at IS NULL THEN 1 ELSE 0 END), 0)"+
		" FROM fulfillments f WHERE f.method = 'PICKUP' AND ((f.collected_at >= ? AND f.collected_at < ?)"+
		" OR (f.collected_at IS NULL AND f.escalated_at >= ? AND f.escalated_at < ?))"+scope,
		append([]any{q.From, q.To, q.From, q.To}, sArgs...), &all, &within)
	r.PickupsWithinSLA = ratio(within, all)
	return err
}

func (s *Service) fulfilled(ctx context.Context, q *query, r *Report) error {
	scope, sArgs := q.fulfilmentIn()
	var n int
	var total int64
	err := s.one(ctx, "SELECT COUNT(*), CAST(COALESCE(SUM("+s.epoch("e.at")+" - "+s.epoch("o.paid_at")+"), 0) AS BIGINT)"+
		" FROM fulfillment_events e JOIN fulfillments f ON f.id = e.fulfillment_id JOIN orders o ON o.id = f.order_id"+
		` WHERE e."to" IN ('COLLECTED', 'DELIVERED') AND e."from" <> e."to" AND e.at >= ? AND e.at < ? AND o.paid_at IS NOT NULL`+scope,
		append([]any{q.From, q.To}, sArgs...), &n, &total)
	r.Fulfilled = Fulfilled{Count: n, AverageSeconds: divRound(total, int64(n))}
	return err
}
