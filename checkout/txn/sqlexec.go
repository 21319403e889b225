package txn

import (
	"context"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/ent"
)

// Exec runs a statement written with ? placeholders inside tx and
// returns the rows it affected: how conditional updates say "refused".
func Exec(ctx context.Context, tx *ent.Tx, dialectName, query string, args ...any) (int64, error) {
	if dialectName == dialect.Postgres {
		query = ToDollar(query)
	}
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ToDollar rewrites ? placeholders as PostgreSQL's $1, $2, …
func ToDollar(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ClaimEvent records an external event id (a Stripe event) in tx, once:
// false if it was claimed before, so its handler applies it exactly once
// however often it is delivered.
func ClaimEvent(ctx context.Context, tx *ent.Tx, dialectName, id, typ string, now time.Time) (bool, error) {
	n, err := Exec(ctx, tx, dialectName, `INSERT INTO stripe_events (event_id, type, created_at) VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
		id, typ, now)
	return n == 1, err
}
