package txn

import (
	"context"
	"fmt"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
)

// Do runs fn in one transaction: committed if fn succeeds, rolled back
// otherwise. Never call the network inside fn.
func Do[T any](ctx context.Context, db *ent.Client, op string, fn func(tx *ent.Tx) (T, error)) (T, error) {
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

// wrapOp adds the operation to unexpected errors; refusals (the error
// table's) pass unchanged so their client-facing message stays clean.
func wrapOp(op string, err error) error {
	if _, refusal := checkout.CodeOf(err); refusal {
		return err
	}
	return fmt.Errorf("txn: %s: %w", op, checkout.NotFoundAs(err, "record"))
}
