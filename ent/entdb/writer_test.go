package entdb_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
)

// TestSQLiteWriterQueue: SQLite's write transactions queue in the process.
// A writer waiting for the slot leaves when its context ends, without
// leaking the slot; the next one gets it once the holder commits. The
// queue runs inside a testing/synctest bubble, where a waiter must be
// durably blocked: if it were not (a sync.Mutex waiter is not), the
// bubble's clock could never move while someone waits, and the sleep
// below would never return — the hang TestSLATimersOnTheClock once showed.
func TestSQLiteWriterQueue(t *testing.T) {
	url := entdbtest.DatabaseURL(t, "sqlite")
	synctest.Test(t, func(t *testing.T) {
		db, err := entdb.Open(context.Background(), entdb.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		holder, err := db.Client.Tx(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := db.Client.Tx(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a writer waiting past its deadline: %v, want context.DeadlineExceeded", err)
		}
		got := make(chan error, 1)
		go func() {
			tx, err := db.Client.Tx(context.Background())
			if err == nil {
				err = tx.Rollback()
			}
			got <- err
		}()
		time.Sleep(time.Minute) // the waiter is parked; the clock moves on
		synctest.Wait()
		select {
		case err := <-got:
			t.Fatalf("a second writer got in while the first held the slot (err %v)", err)
		default:
		}
		if err := holder.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("the waiting writer after the commit: %v", err)
		}
	})
}
