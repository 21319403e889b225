package fulfillment_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
)

// openFulfilments fills a fresh database with n paid orders, each with an
// open SHIPPING fulfilment due one second after the one before, from t0.
func openFulfilments(tb testing.TB, dialectName string, n int, t0 time.Time) *entdb.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := entdb.Open(ctx, entdb.Config{URL: entdbtest.DatabaseURL(tb, dialectName)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	dollar := func(q string) string {
		if db.Dialect == dialect.Postgres {
			for i := 1; strings.Contains(q, "?"); i++ {
				q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
			}
		}
		return q
	}
	exec := func(q string, args ...any) {
		tb.Helper()
		if _, err := db.SQL.ExecContext(ctx, dollar(q), args...); err != nil {
			tb.Fatal(err)
		}
	}
	ids := func(q string, args ...any) []int {
		tb.Helper()
		rows, err := db.SQL.QueryContext(ctx, dollar(q), args...)
		if err != nil {
			tb.Fatal(err)
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				tb.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	now := t0.Add(-time.Hour)
	customer := ids(`INSERT INTO customers (created_at, updated_at, email, name, password_hash) VALUES (?, ?, 'b@example.com', '', 'x') RETURNING id`, now, now)[0]
	cart := ids(`INSERT INTO carts (created_at, updated_at, customer_id, status, currency) VALUES (?, ?, ?, 'CHECKED_OUT', 'EUR') RETURNING id`, now, now, customer)[0]
	const batch = 1000
	for i := 0; i < n; i += batch {
		var orders, fuls []string
		var oargs, fargs []any
		for j := i; j < i+batch && j < n; j++ {
			orders = append(orders, "(?, ?, ?, ?, ?, 'PAID', 1000, 0, 'EUR', ?, ?)")
			oargs = append(oargs, now, now, fmt.Sprintf("B-%07d", j), customer, cart, now, now)
		}
		oids := ids(`INSERT INTO orders (created_at, updated_at, number, customer_id, cart_id, status, total_amount, refunded_amount, currency, payment_due_at, paid_at) VALUES `+
			strings.Join(orders, ",")+" RETURNING id", oargs...)
		for k, oid := range oids {
			j := i + k
			fuls = append(fuls, "(?, ?, ?, ?, 'SHIPPING', 'PACKED', ?, ?, 0, '')")
			fargs = append(fargs, now, now, oid, customer, fmt.Sprintf("C%06d", j), t0.Add(time.Duration(j)*time.Second).UTC())
		}
		exec(`INSERT INTO fulfillments (created_at, updated_at, order_id, customer_id, method, status, pickup_code, due_at, reroutes, packaging_variant) VALUES `+strings.Join(fuls, ","), fargs...)
	}
	if db.Dialect == dialect.Postgres {
		exec("ANALYZE fulfillments")
	} else {
		exec("ANALYZE")
	}
	return db
}

// BenchmarkSLASweep: one SLA sweep over 100,000 open fulfilments, 100 of
// them newly overdue each time (the clock moves 100 s per sweep): the
// sweep reads the overdue ones from the partial index on due_at and
// escalates each with one conditional write.
func BenchmarkSLASweep(b *testing.B) {
	for _, d := range entdbtest.Dialects(b) {
		b.Run(d, func(b *testing.B) {
			const open = 100_000
			t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			db := openFulfilments(b, d, open, t0)
			clock := t0
			svc := fulfillment.New(db.Client, db.Dialect, nil, 0, func() time.Time { return clock })
			escalated := 0
			b.ResetTimer()
			for b.Loop() {
				clock = clock.Add(100 * time.Second)
				n, err := svc.Sweep(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				escalated += n
			}
			b.ReportMetric(float64(escalated)/float64(b.N), "escalated/op")
		})
	}
}

// TestSLASweepReadsTheIndex: the sweep's query is answered from the
// partial index on due_at, never by a scan of the fulfilments (asked of
// each database's own planner, over 5,000 rows).
func TestSLASweepReadsTheIndex(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			db := openFulfilments(t, d, 5_000, t0)
			plan := fulfillment.SweepPlan(context.Background(), db.SQL, db.Dialect, t0.Add(time.Minute))
			if !strings.Contains(plan, "fulfillment_due_at") || strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "SCAN fulfillments") {
				t.Fatalf("the sweep's plan does not read the due_at index:\n%s", plan)
			}
		})
	}
}
