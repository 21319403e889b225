package entdb

import (
	"context"
	stdsql "database/sql"
	"errors"
	"sync"

	"entgo.io/ent/dialect"
)

// serialWriter queues write transactions in the process. SQLite admits one
// writer at a time; without this, concurrent BEGIN IMMEDIATEs wait in
// SQLite's busy handler, which polls with growing sleeps — latency spikes
// of tens of milliseconds under load. A Go mutex hands the lock over the
// moment it is free. (Other processes on the same file still meet the busy
// timeout.)
//
// The lock is a channel of one slot, not a sync.Mutex: waiters queue in
// arrival order, a waiter whose context ends just leaves, and a goroutine
// waiting here is durably blocked in a testing/synctest bubble. (With a
// mutex it was not, so a bubble whose other writer sat in SQLite's busy
// handler — a sleep on the bubble's clock — could never advance its clock:
// TestSLATimersOnTheClock hung about once in 40 runs.)
type serialWriter struct {
	dialect.Driver
	slot chan struct{}
}

func newSerialWriter(drv dialect.Driver) serialWriter {
	return serialWriter{Driver: drv, slot: make(chan struct{}, 1)}
}

func (d serialWriter) Tx(ctx context.Context) (dialect.Tx, error) {
	select {
	case d.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	unlock := func() { <-d.slot }
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		unlock()
		return nil, err
	}
	return &serialTx{Tx: tx, unlock: sync.OnceFunc(unlock)}, nil
}

type serialTx struct {
	dialect.Tx
	unlock func()
}

func (t *serialTx) Commit() error {
	defer t.unlock()
	return t.Tx.Commit()
}

func (t *serialTx) Rollback() error {
	defer t.unlock()
	return t.Tx.Rollback()
}

// ExecContext and QueryContext pass raw statements through (ent's
// ExecContext on a transaction looks for them).
func (t *serialTx) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	ex, ok := t.Tx.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	})
	if !ok {
		return nil, errors.New("entdb: the transaction does not support ExecContext")
	}
	return ex.ExecContext(ctx, query, args...)
}

// QueryContext passes a raw query through.
func (t *serialTx) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	q, ok := t.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	})
	if !ok {
		return nil, errors.New("entdb: the transaction does not support QueryContext")
	}
	return q.QueryContext(ctx, query, args...)
}
