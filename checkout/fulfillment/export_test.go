package fulfillment

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/checkout/txn"
)

// SweepPlan is the database's own plan for the SLA sweep's query.
func SweepPlan(ctx context.Context, db *sql.DB, dialectName string, now time.Time) string {
	q := "EXPLAIN QUERY PLAN " + sweepSQL
	if dialectName == dialect.Postgres {
		q = "EXPLAIN " + txn.ToDollar(sweepSQL)
	}
	rows, err := db.QueryContext(ctx, q, now, 500)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err.Error()
		}
		fmt.Fprintln(&b, vals...)
	}
	return b.String()
}
