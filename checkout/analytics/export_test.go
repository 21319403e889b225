package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// SalesPlan is SQLite's plan for a request's sales query.
func SalesPlan(ctx context.Context, db *sql.DB, req Request) string {
	q := &query{Request: req}
	sub, args := q.salesSQL()
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+sub, args...)
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
