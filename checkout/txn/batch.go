package txn

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/ent"
)

// Claim is one idempotent request's key, to be claimed inside a shared
// (group-commit) transaction.
type Claim struct {
	Op, Key, Scope string
	Hash           []byte
}

// ClaimAll claims every key in tx with one statement and returns each
// claim's row id, 0 for a key that is claimed already (committed, or
// claimed by a transaction that committed while we waited on it): that
// request is not this transaction's to run — alone, it replays the record.
// Keys must be distinct.
func ClaimAll(ctx context.Context, tx *ent.Tx, dialectName string, claims []Claim, now time.Time) ([]int, error) {
	ids := make([]int, len(claims))
	if len(claims) == 0 {
		return ids, nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO idempotency_keys (scope, "key", operation, request_hash, response, created_at) VALUES `)
	args := make([]any, 0, 6*len(claims))
	at := map[[2]string]int{}
	for i, c := range claims {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
		args = append(args, c.Scope, c.Key, c.Op, c.Hash, []byte{}, now.UTC())
		at[[2]string{c.Scope, c.Key}] = i
	}
	b.WriteString(` ON CONFLICT (scope, "key") DO NOTHING RETURNING id, scope, "key"`)
	q := b.String()
	if dialectName == dialect.Postgres {
		q = ToDollar(q)
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("txn: claim idempotency keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id         int
			scope, key string
		)
		if err := rows.Scan(&id, &scope, &key); err != nil {
			return nil, err
		}
		i, ok := at[[2]string{scope, key}]
		if !ok {
			return nil, fmt.Errorf("txn: claim returned unknown key %s/%s", scope, key)
		}
		ids[i] = id
	}
	return ids, rows.Err()
}

// RecordAll records results[i] under the claim with row id ids[i] (0: skip)
// with one statement.
func RecordAll[T any](ctx context.Context, tx *ent.Tx, dialectName string, ids []int, results []T) error {
	cast := "BLOB"
	if dialectName == dialect.Postgres {
		cast = "BYTEA"
	}
	var b, in strings.Builder
	var args, inArgs []any
	b.WriteString(`UPDATE idempotency_keys SET response = CASE id`)
	for i, id := range ids {
		if id == 0 {
			continue
		}
		out, err := json.Marshal(results[i])
		if err != nil {
			return fmt.Errorf("txn: encode result: %w", err)
		}
		b.WriteString(" WHEN ? THEN CAST(? AS " + cast + ")")
		args = append(args, id, out)
		if len(inArgs) > 0 {
			in.WriteString(", ")
		}
		in.WriteString("?")
		inArgs = append(inArgs, id)
	}
	if len(inArgs) == 0 {
		return nil
	}
	b.WriteString(" END WHERE id IN (" + in.String() + ")")
	n, err := Exec(ctx, tx, dialectName, b.String(), append(args, inArgs...)...)
	if err != nil {
		return fmt.Errorf("txn: record idempotency results: %w", err)
	}
	if n != int64(len(inArgs)) {
		return fmt.Errorf("txn: recorded %d idempotency results of %d", n, len(inArgs))
	}
	return nil
}

// UnclaimAll frees the claims with these row ids (0s are skipped): their
// requests were refused, and a refusal records nothing, so the client may
// retry with the same key.
func UnclaimAll(ctx context.Context, tx *ent.Tx, dialectName string, ids []int) error {
	var in strings.Builder
	var args []any
	for _, id := range ids {
		if id == 0 {
			continue
		}
		if len(args) > 0 {
			in.WriteString(", ")
		}
		in.WriteString("?")
		args = append(args, id)
	}
	if len(args) == 0 {
		return nil
	}
	_, err := Exec(ctx, tx, dialectName, "DELETE FROM idempotency_keys WHERE id IN ("+in.String()+")", args...)
	return err
}

// Placeholders is n comma-separated ? placeholders.
func Placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
