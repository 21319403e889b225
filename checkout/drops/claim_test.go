package drops_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/drops"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/dropcustomer"
	"github.com/merchd/merchd/ent/droppool"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/viewer"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a database with one open drop of limit per customer and the
// given units in each channel's pool, and the drop service over it.
type fixture struct {
	db    *ent.Client
	drops *drops.Service
	drop  int
}

func newFixture(t *testing.T, dialect string, limit int, pools map[checkout.Channel]int) *fixture {
	t.Helper()
	db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, dialect)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sys := viewer.SystemContext(context.Background())
	now := time.Now()
	capUnits := 0
	for _, n := range pools {
		capUnits += n
	}
	d := db.Client.Drop.Create().SetTitle("Drop").SetCap(capUnits).SetPerCustomerLimit(limit).
		SetOpensAt(now.Add(-time.Hour)).SetClosesAt(now.Add(time.Hour)).SaveX(sys)
	for ch, n := range pools {
		db.Client.DropPool.Create().SetDropID(d.ID).SetChannel(ch).SetAllocated(n).SetRemaining(n).ExecX(sys)
	}
	return &fixture{db: db.Client, drops: drops.New(db.Client, db.Dialect, time.Now, nil, quiet), drop: d.ID}
}

// claim runs one Claim in its own transaction, as a hold does.
func (f *fixture) claim(customerID int, ch checkout.Channel, units, limit int) error {
	sys := viewer.SystemContext(context.Background())
	_, err := txn.Do(sys, f.db, "claim", func(tx *ent.Tx) (struct{}, error) {
		return struct{}{}, f.drops.Claim(sys, tx, drops.Claim{DropID: f.drop, CustomerID: customerID, Channel: ch, Units: units, Limit: limit})
	})
	return err
}

func (f *fixture) unclaim(t *testing.T, customerID int, ch checkout.Channel, units int) {
	t.Helper()
	sys := viewer.SystemContext(context.Background())
	if _, err := txn.Do(sys, f.db, "unclaim", func(tx *ent.Tx) (struct{}, error) {
		return struct{}{}, f.drops.Unclaim(sys, tx, drops.Claim{DropID: f.drop, CustomerID: customerID, Channel: ch, Units: units})
	}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) remaining(t *testing.T, ch checkout.Channel) int {
	t.Helper()
	return f.db.DropPool.Query().Where(droppool.DropID(f.drop), droppool.ChannelEQ(ch)).
		Select(droppool.FieldRemaining).IntX(viewer.SystemContext(context.Background()))
}

// units is what the customer's allowance counter says they hold or bought.
func (f *fixture) units(t *testing.T, customerID int) int {
	t.Helper()
	n, err := f.db.DropCustomer.Query().Where(dropcustomer.DropID(f.drop), dropcustomer.CustomerID(customerID)).
		Select(dropcustomer.FieldUnits).Int(viewer.SystemContext(context.Background()))
	if ent.IsNotFound(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
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

// claimRace has n claims of one unit race, customer(i) making claim i, and
// returns how many succeeded; every refusal must be want.
func (f *fixture) claimRace(t *testing.T, n int, customer func(i int) int, ch checkout.Channel, limit int, want error) int {
	t.Helper()
	var ok atomic.Int32
	race(n, func(i int) {
		switch err := f.claim(customer(i), ch, 1, limit); {
		case err == nil:
			ok.Add(1)
		case !errors.Is(err, want):
			t.Errorf("claim %d: %v, want nil or %v", i, err, want)
		}
	})
	return int(ok.Load())
}

// TestClaimPerCustomerLimit: 16 concurrent one-unit claims of one customer
// against a limit of 3 get exactly 3 units; the rest are ErrLimitExceeded
// and take nothing from the pool. Unclaim gives one unit back to both the
// pool and the allowance, and the next race gets exactly that one.
func TestClaimPerCustomerLimit(t *testing.T) {
	const limit = 3
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			f := newFixture(t, d, limit, map[checkout.Channel]int{checkout.ChannelOnline: 100})
			one := func(int) int { return 7 }
			if got := f.claimRace(t, 16, one, checkout.ChannelOnline, limit, checkout.ErrLimitExceeded); got != limit {
				t.Fatalf("%d claims succeeded, want %d", got, limit)
			}
			if got := f.units(t, 7); got != limit {
				t.Fatalf("drop_customers.units = %d, want %d", got, limit)
			}
			if got := f.remaining(t, checkout.ChannelOnline); got != 100-limit {
				t.Fatalf("pool remaining %d, want %d (refused claims take nothing)", got, 100-limit)
			}

			f.unclaim(t, 7, checkout.ChannelOnline, 1)
			if u, r := f.units(t, 7), f.remaining(t, checkout.ChannelOnline); u != limit-1 || r != 100-limit+1 {
				t.Fatalf("after unclaiming 1: units %d, remaining %d; want %d and %d", u, r, limit-1, 100-limit+1)
			}
			if got := f.claimRace(t, 16, one, checkout.ChannelOnline, limit, checkout.ErrLimitExceeded); got != 1 {
				t.Fatalf("after unclaiming 1, %d claims succeeded, want 1", got)
			}
			if got := f.units(t, 7); got != limit {
				t.Fatalf("drop_customers.units = %d, want %d", got, limit)
			}
			// The limit is per customer: another one still has all of it.
			if err := f.claim(8, checkout.ChannelOnline, limit, limit); err != nil {
				t.Fatalf("another customer's first %d units: %v", limit, err)
			}
		})
	}
}

// TestClaimPools: 16 customers race for an ONLINE pool of 5 while 16 others
// race for a LIVE pool of 2. Each pool gives exactly its units, ends at 0,
// and refuses the rest with ErrOutOfStock; a pool never draws on another.
// Unclaim gives one unit back once: the next race gets exactly one.
func TestClaimPools(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			f := newFixture(t, d, 3, map[checkout.Channel]int{checkout.ChannelOnline: 5, checkout.ChannelLive: 2})
			var online, live int
			var wg sync.WaitGroup
			wg.Go(func() {
				online = f.claimRace(t, 16, func(i int) int { return 100 + i }, checkout.ChannelOnline, 3, checkout.ErrOutOfStock)
			})
			wg.Go(func() {
				live = f.claimRace(t, 16, func(i int) int { return 200 + i }, checkout.ChannelLive, 3, checkout.ErrOutOfStock)
			})
			wg.Wait()
			if online != 5 || live != 2 {
				t.Fatalf("%d ONLINE and %d LIVE claims succeeded, want 5 and 2", online, live)
			}
			for _, ch := range []checkout.Channel{checkout.ChannelOnline, checkout.ChannelLive} {
				if got := f.remaining(t, ch); got != 0 {
					t.Fatalf("%s pool remaining %d, want 0", ch, got)
				}
			}
			sys := viewer.SystemContext(context.Background())
			if got := f.db.DropCustomer.Query().Where(dropcustomer.DropID(f.drop)).
				Aggregate(ent.Sum(dropcustomer.FieldUnits)).IntX(sys); got != 7 {
				t.Fatalf("customers hold %d units in all, want 7", got)
			}
			// A channel without a pool sells nothing.
			if err := f.claim(300, checkout.ChannelHub, 1, 3); !errors.Is(err, checkout.ErrOutOfStock) {
				t.Fatalf("claim from a channel without a pool: %v, want ErrOutOfStock", err)
			}

			// Give back one ONLINE unit of a customer who has one.
			holder := f.db.DropCustomer.Query().Where(dropcustomer.DropID(f.drop), dropcustomer.Units(1), dropcustomer.CustomerIDLT(200)).
				FirstX(sys).CustomerID
			f.unclaim(t, holder, checkout.ChannelOnline, 1)
			if u, r := f.units(t, holder), f.remaining(t, checkout.ChannelOnline); u != 0 || r != 1 {
				t.Fatalf("after unclaiming: units %d, remaining %d; want 0 and 1", u, r)
			}
			if got := f.remaining(t, checkout.ChannelLive); got != 0 {
				t.Fatalf("an ONLINE unclaim changed the LIVE pool to %d", got)
			}
			if got := f.claimRace(t, 16, func(i int) int { return 400 + i }, checkout.ChannelOnline, 3, checkout.ErrOutOfStock); got != 1 {
				t.Fatalf("after one unit came back, %d claims succeeded, want 1", got)
			}
			if got := f.remaining(t, checkout.ChannelOnline); got != 0 {
				t.Fatalf("ONLINE pool remaining %d, want 0", got)
			}
		})
	}
}

// TestClaimFirstOverLimit: a customer's first claim is held to the limit
// too (the upsert's own check only runs on a second claim), and takes
// nothing when refused.
func TestClaimFirstOverLimit(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			f := newFixture(t, d, 3, map[checkout.Channel]int{checkout.ChannelOnline: 100})
			if err := f.claim(7, checkout.ChannelOnline, 5, 3); !errors.Is(err, checkout.ErrLimitExceeded) {
				t.Fatalf("first claim of 5 against a limit of 3: %v, want ErrLimitExceeded", err)
			}
			if got := f.remaining(t, checkout.ChannelOnline); got != 100 {
				t.Fatalf("pool remaining %d after a refused claim, want 100", got)
			}
		})
	}
}
