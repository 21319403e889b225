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
type serialWriter struct {
	dialect.Driver
	mu *sync.Mutex
}

func (d serialWriter) Tx(ctx context.Context) (dialect.Tx, error) {
	if err := lockCtx(ctx, d.mu); err != nil {
		return nil, err
	}
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		d.mu.Unlock()
		return nil, err
	}
	return &serialTx{Tx: tx, unlock: sync.OnceFunc(d.mu.Unlock)}, nil
}

// lockCtx takes mu unless ctx ends first.
func lockCtx(ctx context.Context, mu *sync.Mutex) error {
	if mu.TryLock() {
		return nil
	}
	done := make(chan struct{})
	go func() {
		mu.Lock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		go func() { <-done; mu.Unlock() }() // hand it back once we get it
		return ctx.Err()
	}
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
