package txn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
)

// Do runs fn in one transaction: committed if fn succeeds, rolled back
// otherwise. Never call the network inside fn: a transaction PostgreSQL
// aborts as a deadlock victim (or a serialization failure) is run again
// from the start, up to a few times, so fn's only effects are its writes.
func Do[T any](ctx context.Context, db *ent.Client, op string, fn func(tx *ent.Tx) (T, error)) (T, error) {
	return retried(ctx, func() (T, error) { return do(ctx, db, op, fn) })
}

// retried runs attempt until it succeeds, fails for good, or has run
// maxAttempts times: a transaction PostgreSQL aborted (Retryable) is run
// again after a short jittered wait.
func retried[T any](ctx context.Context, attempt func() (T, error)) (T, error) {
	var zero T
	for n := 1; ; n++ {
		res, err := attempt()
		if err == nil || !Retryable(err) || n == maxAttempts || ctx.Err() != nil {
			return res, err
		}
		if !backoff(ctx, n) {
			return zero, err
		}
	}
}

func do[T any](ctx context.Context, db *ent.Client, op string, fn func(tx *ent.Tx) (T, error)) (T, error) {
	var zero T
	tx, err := db.Tx(ctx)
	if err != nil {
		return zero, fmt.Errorf("txn: %s: begin: %w", op, err)
	}
	res, err := fn(tx)
	if err != nil {
		_ = tx.Rollback()
		return zero, wrapOp(op, err)
	}
	if err := tx.Commit(); err != nil {
		return zero, fmt.Errorf("txn: %s: commit: %w", op, err)
	}
	return res, nil
}

// maxAttempts bounds how often a transaction PostgreSQL aborted is run.
const maxAttempts = 4

// Retryable reports whether err is PostgreSQL aborting a transaction that
// would succeed if run again: a deadlock victim (40P01) or a
// serialization failure (40001). Two transactions that lock the same rows
// in opposite orders (swapping pickup windows, say) deadlock; PostgreSQL
// aborts one, and running it again is the documented answer.
func Retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

// backoff waits a few random milliseconds, growing with attempt, so the
// transactions that deadlocked do not meet again in step; false if ctx
// ended first.
func backoff(ctx context.Context, attempt int) bool {
	d := time.Duration(1+rand.IntN(5*attempt)) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// wrapOp adds the operation to unexpected errors; refusals (the error
// table's) pass unchanged so their client-facing message stays clean.
func wrapOp(op string, err error) error {
	if _, refusal := checkout.CodeOf(err); refusal {
		return err
	}
	return fmt.Errorf("txn: %s: %w", op, checkout.NotFoundAs(err, "record"))
}
