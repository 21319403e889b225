package txn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/viewer"
)

func open(t *testing.T, dialect string) *entdb.DB {
	db, _ := openCounting(t, dialect)
	return db
}

// openCounting opens a database whose every transaction, as it begins,
// sends on the returned channel (without blocking; it holds 64).
func openCounting(t *testing.T, dialectName string) (*entdb.DB, chan struct{}) {
	t.Helper()
	begun := make(chan struct{}, 64)
	db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, dialectName),
		Driver: func(d dialect.Driver) dialect.Driver { return beginNotifier{d, begun} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for len(begun) > 0 { // the migration's
		<-begun
	}
	return db, begun
}

// beginNotifier tells begun of each transaction before it begins (on
// SQLite, before it queues for the write lock).
type beginNotifier struct {
	dialect.Driver
	begun chan<- struct{}
}

func (d beginNotifier) Tx(ctx context.Context) (dialect.Tx, error) {
	select {
	case d.begun <- struct{}{}:
	default:
	}
	return d.Driver.Tx(ctx)
}

// race runs f(0) … f(n-1) in n goroutines released together.
func race(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { <-start; f(i) })
	}
	close(start)
	wg.Wait()
}

func customer(id int) context.Context {
	return viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Customer, CustomerID: id})
}

// result is what the work under test returns: which run of it this was,
// and the row that run wrote.
type result struct {
	Run      int32
	Location int
}

// work is an idempotent operation's body: it counts its runs and writes
// one row per run (in the caller's transaction), so a run that committed
// leaves a trace and one that rolled back does not.
type work struct {
	name string // names the rows it writes
	runs atomic.Int32
	hold func(run int32)       // nil: runs straight through
	fail func(run int32) error // nil: never fails
}

func (w *work) fn(ctx context.Context, tx *ent.Tx) (result, error) {
	run := w.runs.Add(1)
	if w.hold != nil {
		w.hold(run)
	}
	if w.fail != nil {
		if err := w.fail(run); err != nil {
			return result{}, err
		}
	}
	l, err := tx.Location.Create().SetCode(fmt.Sprintf("%s-%d", w.name, run)).SetName("run").
		SetKind(location.KindHUB).Save(viewer.SystemContext(ctx))
	if err != nil {
		return result{}, err
	}
	return result{Run: run, Location: l.ID}, nil
}

func locations(t *testing.T, db *entdb.DB) int {
	t.Helper()
	return db.Client.Location.Query().CountX(viewer.SystemContext(context.Background()))
}

type order struct {
	Variant, Quantity int
}

// TestIdempotentConcurrentDuplicates: 16 requests with one viewer, one key
// and one request at once run the work once; every one gets its result.
// The first run waits until all 16 have looked the key up, found nothing
// and begun their transactions, so every duplicate really is concurrent
// (on SQLite too, where a fast first run would otherwise commit before the
// others look). The key is the viewer's: another customer's same key is
// another request. The same key with a different request is refused, even
// concurrently.
func TestIdempotentConcurrentDuplicates(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			db, begun := openCounting(t, d)
			returned := make(chan struct{}) // closed by the first call to return
			var once sync.Once
			w := &work{name: "dup", hold: func(run int32) {
				if run != 1 {
					return
				}
				// Every call begins a transaction only after missing the
				// key; a call that returns before we commit did not wait.
				for range 16 {
					select {
					case <-begun:
					case <-returned:
						return
					}
				}
			}}
			res := make([]result, 16)
			race(16, func(i int) {
				var err error
				res[i], err = txn.Idempotent(customer(1), db.Client, "placeOrder", "k1", order{7, 1}, w.fn)
				once.Do(func() { close(returned) })
				if err != nil {
					t.Errorf("call %d: %v", i, err)
				}
			})
			if n := w.runs.Load(); n != 1 {
				t.Fatalf("the work ran %d times for one key, want once", n)
			}
			for i, r := range res {
				if r != res[0] || r.Run != 1 {
					t.Fatalf("call %d got %+v, call 0 %+v: want the first run's result for all", i, r, res[0])
				}
			}
			if n := locations(t, db); n != 1 {
				t.Fatalf("%d rows written, want 1", n)
			}

			// Another viewer's key of the same name is its own.
			r, err := txn.Idempotent(customer(2), db.Client, "placeOrder", "k1", order{7, 1}, w.fn)
			if err != nil || r.Run != 2 {
				t.Fatalf("customer 2's k1: %+v %v, want a second run", r, err)
			}

			// The same key with other requests: refused, and nothing runs.
			race(16, func(i int) {
				_, err := txn.Idempotent(customer(1), db.Client, "placeOrder", "k1", order{7, 2 + i}, w.fn)
				if !errors.Is(err, checkout.ErrIdempotencyKeyReused) {
					t.Errorf("k1 with another request: %v, want ErrIdempotencyKeyReused", err)
				}
			})
			if _, err := txn.Idempotent(customer(1), db.Client, "cancelOrder", "k1", order{7, 1}, w.fn); !errors.Is(err, checkout.ErrIdempotencyKeyReused) {
				t.Fatalf("k1 for another operation: %v, want ErrIdempotencyKeyReused", err)
			}
			if n := w.runs.Load(); n != 2 {
				t.Fatalf("the work ran %d times, want 2", n)
			}
			// Replays still answer with the first result.
			if r, err := txn.Idempotent(customer(1), db.Client, "placeOrder", "k1", order{7, 1}, w.fn); err != nil || r != res[0] {
				t.Fatalf("replay: %+v %v, want %+v", r, err, res[0])
			}
		})
	}
}

// TestIdempotentFailureFreesKey: a call whose work fails records nothing,
// so the key is free: a retry runs the work again. With 16 concurrent
// calls and the work failing on its first run only, exactly one call
// fails, the work runs exactly twice, and the other 15 get the second
// run's result.
func TestIdempotentFailureFreesKey(t *testing.T) {
	boom := errors.New("boom")
	failFirst := func(run int32) error {
		if run == 1 {
			return boom
		}
		return nil
	}
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			db := open(t, d)

			// One after another.
			w := &work{name: "seq", fail: failFirst}
			if _, err := txn.Idempotent(customer(1), db.Client, "placeOrder", "seq", order{1, 1}, w.fn); !errors.Is(err, boom) {
				t.Fatalf("first call: %v, want boom", err)
			}
			r, err := txn.Idempotent(customer(1), db.Client, "placeOrder", "seq", order{1, 1}, w.fn)
			if err != nil || r.Run != 2 {
				t.Fatalf("retry: %+v %v, want the second run's result", r, err)
			}
			if again, err := txn.Idempotent(customer(1), db.Client, "placeOrder", "seq", order{1, 1}, w.fn); err != nil || again != r {
				t.Fatalf("replay: %+v %v, want %+v", again, err, r)
			}
			if n := w.runs.Load(); n != 2 {
				t.Fatalf("the work ran %d times, want 2", n)
			}

			// All at once.
			w = &work{name: "par", fail: failFirst}
			var failed atomic.Int32
			res := make([]result, 16)
			race(16, func(i int) {
				var err error
				res[i], err = txn.Idempotent(customer(1), db.Client, "placeOrder", "par", order{1, 1}, w.fn)
				switch {
				case errors.Is(err, boom):
					failed.Add(1)
				case err != nil:
					t.Errorf("call %d: %v", i, err)
				case res[i].Run != 2:
					t.Errorf("call %d got run %d's result, want run 2's", i, res[i].Run)
				}
			})
			if n := w.runs.Load(); n != 2 || failed.Load() != 1 {
				t.Fatalf("the work ran %d times and %d calls failed, want 2 runs and 1 failure", n, failed.Load())
			}
			if n := locations(t, db); n != 2 {
				t.Fatalf("%d rows written, want 2 (one per successful key)", n)
			}
		})
	}
}

// TestExecRowsAffected: Exec takes ? placeholders on both dialects and
// reports the rows a conditional statement changed; zero is its refusal.
func TestExecRowsAffected(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			db := open(t, d)
			sys := viewer.SystemContext(context.Background())
			for _, code := range []string{"a", "b", "c"} {
				db.Client.Location.Create().SetCode(code).SetName("old").SetKind(location.KindHUB).ExecX(sys)
			}
			rename := func(to string, codes ...any) int64 {
				t.Helper()
				n, err := txn.Do(sys, db.Client, "rename", func(tx *ent.Tx) (int64, error) {
					return txn.Exec(sys, tx, db.Dialect,
						`UPDATE locations SET name = ? WHERE code IN (?, ?) AND name <> ?`, append(append([]any{to}, codes...), to)...)
				})
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := rename("new", "a", "b"); n != 2 {
				t.Fatalf("first rename changed %d rows, want 2", n)
			}
			if n := rename("new", "a", "b"); n != 0 {
				t.Fatalf("second rename changed %d rows, want 0 (already renamed)", n)
			}
			if n := rename("new", "b", "c"); n != 1 {
				t.Fatalf("third rename changed %d rows, want 1", n)
			}
			if n := db.Client.Location.Query().Where(location.Name("new")).CountX(sys); n != 3 {
				t.Fatalf("%d locations renamed, want 3", n)
			}
			// A refused statement inside a failed transaction leaves nothing.
			_, err := txn.Do(sys, db.Client, "rename", func(tx *ent.Tx) (int64, error) {
				if _, err := txn.Exec(sys, tx, db.Dialect, `UPDATE locations SET name = ? WHERE code = ?`, "gone", "a"); err != nil {
					return 0, err
				}
				return 0, checkout.ErrOutOfStock
			})
			if !errors.Is(err, checkout.ErrOutOfStock) {
				t.Fatalf("failed transaction: %v, want its refusal unchanged", err)
			}
			if n := db.Client.Location.Query().Where(location.Name("gone")).CountX(sys); n != 0 {
				t.Fatalf("a rolled-back rename left %d rows renamed", n)
			}
		})
	}
}

func TestToDollar(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ?", "a = $1"},
		{"UPDATE t SET n = n - ? WHERE id = ? AND n >= ?", "UPDATE t SET n = n - $1 WHERE id = $2 AND n >= $3"},
		{"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
		{"é = ?", "é = $1"},
	} {
		if got := txn.ToDollar(c.in); got != c.want {
			t.Errorf("ToDollar(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestDeadlockVictimRunsAgain: two transactions lock two rows in opposite
// orders, each waiting for the other (on PostgreSQL, a deadlock: it
// aborts one). Both Do and Idempotent run the victim again, so both
// callers succeed and each one's write is there once.
func TestDeadlockVictimRunsAgain(t *testing.T) {
	db := open(t, dialect.Postgres)
	ctx := viewer.SystemContext(context.Background())
	a := db.Client.Location.Create().SetCode("dl-a").SetName("a").SetKind(location.KindHUB).SaveX(ctx)
	b := db.Client.Location.Create().SetCode("dl-b").SetName("b").SetKind(location.KindHUB).SaveX(ctx)
	for _, idem := range []bool{false, true} {
		var (
			locked sync.WaitGroup // both hold their first row
			runs   atomic.Int32
		)
		locked.Add(2)
		swap := func(first, second *ent.Location, name string) func(ctx context.Context, tx *ent.Tx) (int, error) {
			return func(ctx context.Context, tx *ent.Tx) (int, error) {
				run := runs.Add(1)
				if err := tx.Location.UpdateOne(first).SetName(name).Exec(ctx); err != nil {
					return 0, err
				}
				if run <= 2 { // the first two runs meet; a run again goes straight through
					locked.Done()
					locked.Wait()
				}
				return 1, tx.Location.UpdateOne(second).SetName(name).Exec(ctx)
			}
		}
		errs := make([]error, 2)
		race(2, func(i int) {
			first, second := a, b
			if i == 1 {
				first, second = b, a
			}
			fn := swap(first, second, fmt.Sprint("tx-", i))
			if idem {
				_, errs[i] = txn.Idempotent(ctx, db.Client, "swap", fmt.Sprint("dl-", i), i, fn)
			} else {
				_, errs[i] = txn.Do(ctx, db.Client, "swap", func(tx *ent.Tx) (int, error) { return fn(ctx, tx) })
			}
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("idempotent=%v: transaction %d: %v", idem, i, err)
			}
		}
		if n := runs.Load(); n != 3 {
			t.Fatalf("idempotent=%v: %d runs, want 3 (the deadlock victim once more)", idem, n)
		}
		got := db.Client.Location.GetX(ctx, a.ID).Name
		if got2 := db.Client.Location.GetX(ctx, b.ID).Name; got != got2 {
			t.Fatalf("idempotent=%v: the rows disagree (%q, %q): a transaction half applied", idem, got, got2)
		}
	}
}

// TestRefusedTwinAnswersWithTheWinner: two copies of one request, one key.
// The first passes its precheck and is still writing when the second's
// precheck refuses (in a drop: the unit that came back went to the first).
// The second must answer the first's result, not its own refusal: the key
// has one answer.
func TestRefusedTwinAnswersWithTheWinner(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			db := open(t, d)
			inside, refused := make(chan struct{}), make(chan struct{})
			w := &work{name: "twin", hold: func(int32) {
				close(inside)
				<-refused
			}}
			var first result
			var firstErr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				first, firstErr = txn.IdempotentChecked(customer(1), db.Client, "hold", "k", order{1, 1}, func() error { return nil }, w.fn)
			}()
			<-inside
			second, err := txn.IdempotentChecked(customer(1), db.Client, "hold", "k", order{1, 1}, func() error {
				close(refused)
				return checkout.ErrOutOfStock
			}, w.fn)
			<-done
			if firstErr != nil {
				t.Fatal(firstErr)
			}
			if err != nil || second != first {
				t.Fatalf("the refused twin answered %+v, %v; want the first's %+v", second, err, first)
			}
			if n := w.runs.Load(); n != 1 {
				t.Fatalf("the work ran %d times, want once", n)
			}
			// Alone, a refusal is still a refusal (nothing to wait for).
			if _, err := txn.IdempotentChecked(customer(1), db.Client, "hold", "k2", order{1, 1}, func() error { return checkout.ErrOutOfStock }, w.fn); !errors.Is(err, checkout.ErrOutOfStock) {
				t.Fatalf("a lone refusal: %v", err)
			}
		})
	}
}
