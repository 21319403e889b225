package carts_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/drops"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/viewer"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// shop is a database with one variant in stock at central, customers to
// buy it, and the cart service over it.
type shop struct {
	db        *ent.Client
	carts     *carts.Service
	variant   int
	customers []int
}

func newShop(t *testing.T, dialect string, units, customers int) *shop {
	t.Helper()
	db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, dialect)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sys := viewer.SystemContext(context.Background())
	c := db.Client
	loc := c.Location.Create().SetCode("central").SetName("Central").SetKind(location.KindCENTRAL).SaveX(sys)
	p := c.Product.Create().SetTitle("Tee").SetSlug("tee").SaveX(sys)
	v := c.Variant.Create().SetProductID(p.ID).SetSku("TEE").SetTitle("M").SetPriceAmount(1000).SetCurrency("EUR").SaveX(sys)
	c.Stock.Create().SetVariantID(v.ID).SetLocationID(loc.ID).SetAvailable(units).ExecX(sys)
	s := &shop{db: c, variant: v.ID}
	for i := range customers {
		s.customers = append(s.customers, c.Customer.Create().SetEmail(fmt.Sprintf("c%d@example.com", i)).SetPasswordHash("x").SaveX(sys).ID)
	}
	s.carts, err = carts.New(c, db.Dialect, carts.DefaultConfig(), time.Now, drops.New(c, db.Dialect, time.Now, nil, quiet), loc.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func as(customerID int) context.Context {
	return viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Customer, CustomerID: customerID})
}

func (s *shop) available(t *testing.T) int {
	t.Helper()
	return s.db.Stock.Query().Where(stock.VariantID(s.variant)).Select(stock.FieldAvailable).IntX(viewer.SystemContext(context.Background()))
}

func (s *shop) held(t *testing.T) int {
	t.Helper()
	return s.db.CartLine.Query().Where(cartline.StatusEQ(cartline.StatusHELD)).CountX(viewer.SystemContext(context.Background()))
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

// grab has every customer add the variant's last unit at once and returns
// the one line that got it.
func (s *shop) grab(t *testing.T, key string) (customerID, lineID int) {
	t.Helper()
	var mu sync.Mutex
	winners := 0
	race(len(s.customers), func(i int) {
		line, err := s.carts.AddToCart(as(s.customers[i]), carts.AddToCartInput{VariantID: s.variant, Quantity: 1, Key: key})
		switch {
		case err == nil:
			mu.Lock()
			winners++
			customerID, lineID = s.customers[i], line
			mu.Unlock()
		case !errors.Is(err, checkout.ErrOutOfStock):
			t.Errorf("customer %d: %v, want nil or ErrOutOfStock", s.customers[i], err)
		}
	})
	if winners != 1 {
		t.Fatalf("%d customers hold the last unit, want 1", winners)
	}
	if n := s.held(t); n != 1 {
		t.Fatalf("%d lines held, want 1", n)
	}
	if n := s.available(t); n != 0 {
		t.Fatalf("%d available with the unit held, want 0", n)
	}
	return customerID, lineID
}

// TestAddToCartLastUnit: 16 customers add the last unit at once; one holds
// it, the rest are ErrOutOfStock. Its owner removes the line 16 times at
// once (each a new request): the unit comes back exactly once, and the
// next race again has one winner.
func TestAddToCartLastUnit(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			s := newShop(t, d, 1, 16)
			owner, line := s.grab(t, "add-1")
			race(16, func(i int) {
				if _, err := s.carts.RemoveFromCart(as(owner), line, fmt.Sprintf("remove-%d", i)); err != nil {
					t.Errorf("remove %d: %v", i, err)
				}
			})
			if n := s.available(t); n != 1 {
				t.Fatalf("%d available after the hold was removed 16 times, want 1", n)
			}
			if st := s.db.CartLine.GetX(viewer.SystemContext(context.Background()), line).Status; st != cartline.StatusRELEASED {
				t.Fatalf("line is %s, want RELEASED", st)
			}
			s.grab(t, "add-2")
		})
	}
}

// TestReleaseOnce: 16 transactions release one held line at once, each
// from the same (by then stale) read of it. Exactly one moves it out of
// HELD and returns its unit; the others find it gone and return nothing.
func TestReleaseOnce(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			s := newShop(t, d, 1, 4)
			_, lineID := s.grab(t, "add")
			sys := viewer.SystemContext(context.Background())
			l := s.db.CartLine.GetX(sys, lineID)
			var released atomic.Int32
			race(16, func(i int) {
				ok, err := txn.Do(sys, s.db, "release", func(tx *ent.Tx) (bool, error) {
					return s.carts.Release(sys, tx, l, cartline.StatusEXPIRED)
				})
				if err != nil {
					t.Errorf("release %d: %v", i, err)
				}
				if ok {
					released.Add(1)
				}
			})
			if n := released.Load(); n != 1 {
				t.Fatalf("%d releases returned the unit, want 1", n)
			}
			if n := s.available(t); n != 1 {
				t.Fatalf("%d available, want 1", n)
			}
			if st := s.db.CartLine.GetX(sys, lineID).Status; st != cartline.StatusEXPIRED {
				t.Fatalf("line is %s, want EXPIRED", st)
			}
		})
	}
}
