package orders_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/drops"
	"github.com/merchd/merchd/checkout/orders"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/drop"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/viewer"
)

// fixture is a SQLite database with one variant in stock at central.
func fixture(t *testing.T, units int) (*ent.Client, int, int) {
	t.Helper()
	db, err := entdb.Open(context.Background(), entdb.Config{URL: filepath.Join(t.TempDir(), "m.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := viewer.SystemContext(context.Background())
	c := db.Client
	loc := c.Location.Create().SetCode("central").SetName("Central").SetKind(location.KindCENTRAL).SaveX(ctx)
	p := c.Product.Create().SetTitle("Tee").SetSlug("tee").SaveX(ctx)
	v := c.Variant.Create().SetProductID(p.ID).SetSku("TEE").SetTitle("M").SetPriceAmount(1000).SetCurrency("EUR").SaveX(ctx)
	c.Stock.Create().SetVariantID(v.ID).SetLocationID(loc.ID).SetAvailable(units).ExecX(ctx)
	return c, v.ID, loc.ID
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestDropTransitionsOnTheClock: the scheduler changes a drop's state at
// the exact instant of each transition, with no request needed.
func TestDropTransitionsOnTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, v, _ := fixture(t, 10)
		dropSvc := drops.New(db, "sqlite3", time.Now, nil, quiet)
		type change struct {
			state drop.State
			at    time.Duration
		}
		var mu sync.Mutex
		var got []change
		t0 := time.Now()
		dropSvc.Changed = func(_ int, st drop.State) {
			mu.Lock()
			got = append(got, change{st, time.Since(t0)})
			mu.Unlock()
		}
		staff := viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Staff, StaffID: 1})
		early, opens, closes, capUnits := t0.Add(30*time.Minute), t0.Add(time.Hour), t0.Add(2*time.Hour), 5
		title := "Clockwork"
		if _, err := dropSvc.CreateDrop(staff, drops.DropInput{Title: &title, VariantIDs: []int{v}, Cap: &capUnits,
			OpensAt: &opens, ClosesAt: &closes, EarlyAccessAt: &early}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { dropSvc.RunScheduler(ctx); close(done) }()
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		cancel()
		<-done
		want := []change{{drop.StateEARLY_ACCESS, 30 * time.Minute}, {drop.StateOPEN, time.Hour}, {drop.StateCLOSED, 2 * time.Hour}}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != len(want) {
			t.Fatalf("transitions %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("transition %d: %v, want %v", i, got[i], want[i])
			}
		}
		if st := db.Drop.Query().OnlyX(viewer.SystemContext(context.Background())).State; st != drop.StateCLOSED {
			t.Fatalf("persisted state %s", st)
		}
	})
}

// TestHoldsExpireOnTheClock: the sweeper returns an expired hold's units
// once, right after it expires, with nobody asking.
func TestHoldsExpireOnTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, v, loc := fixture(t, 10)
		sys := viewer.SystemContext(context.Background())
		cust := db.Customer.Create().SetEmail("a@b.example").SetPasswordHash("x").SaveX(sys)
		dropSvc := drops.New(db, "sqlite3", time.Now, nil, quiet)
		cfg := carts.DefaultConfig()
		cfg.HoldTTL = time.Minute
		cartSvc, err := carts.New(db, "sqlite3", cfg, time.Now, dropSvc, loc)
		if err != nil {
			t.Fatal(err)
		}
		orderSvc := orders.New(db, "sqlite3", cartSvc, nil, nil, nil, time.Now, quiet, nil)
		ctx := viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Customer, CustomerID: cust.ID})
		if _, err := cartSvc.AddToCart(ctx, carts.AddToCartInput{VariantID: v, Quantity: 4, Key: "k"}); err != nil {
			t.Fatal(err)
		}
		avail := func() int {
			return db.Stock.Query().Where(stock.VariantID(v)).Select(stock.FieldAvailable).IntX(sys)
		}
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { orderSvc.RunSweeper(runCtx, time.Second); close(done) }()
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if got := avail(); got != 6 {
			t.Fatalf("before expiry: %d available, want 6", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := avail(); got != 10 {
			t.Fatalf("after expiry: %d available, want 10", got)
		}
		time.Sleep(time.Minute) // more sweeps: nothing comes back twice
		synctest.Wait()
		cancel()
		<-done
		if got := avail(); got != 10 {
			t.Fatalf("after more sweeps: %d available, want 10", got)
		}
	})
}
