package shop_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/merchd/merchd/checkout/accounts"
	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/delivery"
	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/checkout/shop"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	entfulfillment "github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/fulfillmentevent"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/wallet"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const lateCredit = 500

// config is a central shop's on db with a late-delivery credit.
func config(db *entdb.DB, now func() time.Time) shop.Config {
	return shop.Config{DB: db, Currencies: []string{"EUR"}, Now: now, Log: quiet,
		Accounts: accounts.Config{SessionTTL: time.Hour, Password: accounts.PasswordParams{Time: 1, Memory: 64, Threads: 1},
			Throttle: accounts.DefaultThrottle()},
		Cart: carts.DefaultConfig(), Wallet: wallets.DefaultConfig(),
		Fulfillment: fulfillment.Config{LateCredit: lateCredit, PickupGrace: 20 * time.Hour}}
}

// newShop builds a central shop on a fresh database of dialectName.
func newShop(t *testing.T, dialectName string) (*shop.Shop, *entdb.DB) {
	t.Helper()
	db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, dialectName)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := shop.New(context.Background(), config(db, time.Now))
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

// paidOrders makes n paid orders of one buyer, each with its fulfilment
// opened the way the PAID transaction opens it, then given method.
func paidOrders(t *testing.T, s *shop.Shop, db *ent.Client, n int, method entfulfillment.Method) (customerID int, ids []int) {
	t.Helper()
	ctx := viewer.SystemContext(context.Background())
	c := db.Customer.Create().SetEmail(fmt.Sprintf("buyer-%d-%s@example.com", time.Now().UnixNano(), method)).
		SetPasswordHash("x").SaveX(ctx)
	cart := db.Cart.Create().SetCustomerID(c.ID).SetCurrency("EUR").SaveX(ctx)
	for i := range n {
		o := db.Order.Create().SetNumber(fmt.Sprintf("%s-%d-%d", method, c.ID, i)).SetCustomerID(c.ID).SetCartID(cart.ID).
			SetStatus("PAID").SetTotalAmount(1000).SetCurrency("EUR").SetPaymentDueAt(time.Now()).SetPaidAt(time.Now()).SaveX(ctx)
		if _, err := txn.Do(ctx, db, "open", func(tx *ent.Tx) (int, error) { return 0, s.Fulfillment.Open(ctx, tx, o.ID, c.ID) }); err != nil {
			t.Fatal(err)
		}
		f := db.Fulfillment.Query().Where(entfulfillment.OrderID(o.ID)).OnlyX(ctx)
		if method != entfulfillment.MethodPICKUP {
			due := time.Now().Add(8 * time.Hour).UTC()
			f = f.Update().SetMethod(method).SetDueAt(due).SaveX(ctx)
		}
		ids = append(ids, f.ID)
	}
	return c.ID, ids
}

func balance(t *testing.T, db *ent.Client, customerID int) int64 {
	t.Helper()
	w, err := db.Wallet.Query().Where(wallet.CustomerID(customerID)).Only(viewer.SystemContext(context.Background()))
	if ent.IsNotFound(err) {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	return w.Balance
}

func slaEvents(t *testing.T, db *ent.Client, id int) int {
	t.Helper()
	return db.FulfillmentEvent.Query().Where(fulfillmentevent.FulfillmentID(id), fulfillmentevent.Scan("SLA")).
		CountX(viewer.SystemContext(context.Background()))
}

// TestSLATimersOnTheClock runs the shop's own background jobs on a fake
// clock (testing/synctest: no sleeps in real time): a late same-day
// delivery credits its buyer once when its deadline passes, not before; a
// pickup nobody collects goes on the late list after its grace (20 h
// here); a
// shipment handed to the courier in time never escalates.
func TestSLATimersOnTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, db := newShop(t, "sqlite")
		sys := viewer.SystemContext(context.Background())
		staff := viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Staff, StaffID: 1})
		buyer, deliveries := paidOrders(t, s, db.Client, 2, entfulfillment.MethodLOCAL_DELIVERY)
		_, pickups := paidOrders(t, s, db.Client, 1, entfulfillment.MethodPICKUP)
		_, ships := paidOrders(t, s, db.Client, 1, entfulfillment.MethodSHIPPING)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { s.Run(ctx, 2*time.Minute) })
		defer func() { cancel(); wg.Wait() }()

		// One delivery arrives in time; the shipment is handed over.
		for _, st := range []entfulfillment.Status{entfulfillment.StatusPACKED, entfulfillment.StatusHANDED_TO_COURIER} {
			for _, id := range []int{deliveries[1], ships[0]} {
				if _, err := s.Fulfillment.Advance(staff, id, st, "", fmt.Sprint("k", id, st)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := s.Fulfillment.Advance(staff, deliveries[1], entfulfillment.StatusDELIVERED, "", "kd"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(8*time.Hour - 3*time.Minute)
		synctest.Wait()
		if got := balance(t, db.Client, buyer); got != 0 {
			t.Fatalf("credited %d before the deadline", got)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if got := balance(t, db.Client, buyer); got != lateCredit {
			t.Fatalf("late delivery credited %d, want %d once", got, lateCredit)
		}
		// Hours of sweeps later, still once; the delivered one never fired.
		time.Sleep(10 * time.Hour)
		synctest.Wait()
		if got := balance(t, db.Client, buyer); got != lateCredit {
			t.Fatalf("late delivery credited %d after more sweeps, want %d once", got, lateCredit)
		}
		if n := slaEvents(t, db.Client, deliveries[0]); n != 1 {
			t.Fatalf("late delivery escalated %d times", n)
		}
		if n := slaEvents(t, db.Client, deliveries[1]) + slaEvents(t, db.Client, ships[0]); n != 0 {
			t.Fatalf("on-time fulfilments escalated %d times", n)
		}
		if f := db.Client.Fulfillment.GetX(sys, pickups[0]); f.EscalatedAt != nil {
			t.Fatal("pickup escalated before its grace")
		}
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		late, err := s.Fulfillment.Late(staff, 50)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int]bool{}
		for _, f := range late {
			got[f.ID] = true
		}
		if !got[pickups[0]] || !got[deliveries[0]] || got[deliveries[1]] || got[ships[0]] || len(late) != 2 {
			t.Fatalf("late list %v: want the uncollected pickup and the late delivery", got)
		}
		if n := slaEvents(t, db.Client, pickups[0]); n != 1 {
			t.Fatalf("pickup escalated %d times", n)
		}
	})
}

// TestSLATimersAcrossReplicas: two replicas sweep one PostgreSQL database
// at once over 200 overdue deliveries; every timer fires exactly once (one
// credit, one SLA event each), however the sweeps interleave.
func TestSLATimersAcrossReplicas(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			url := entdbtest.DatabaseURL(t, d)
			var shops [2]*shop.Shop
			var dbs [2]*entdb.DB
			clock := time.Now()
			for i := range shops {
				db, err := entdb.Open(context.Background(), entdb.Config{URL: url})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				dbs[i] = db
				if shops[i], err = shop.New(context.Background(), config(db, func() time.Time { return clock })); err != nil {
					t.Fatal(err)
				}
			}
			const n = 200
			buyer, ids := paidOrders(t, shops[0], dbs[0].Client, n, entfulfillment.MethodLOCAL_DELIVERY)
			clock = clock.Add(9 * time.Hour)
			var wg sync.WaitGroup
			fired := make([]int, 2*3)
			for i := range fired {
				wg.Go(func() {
					for {
						k, err := shops[i%2].Fulfillment.Sweep(context.Background())
						if err != nil {
							t.Error(err)
							return
						}
						fired[i] += k
						if k == 0 {
							return
						}
					}
				})
			}
			wg.Wait()
			total := 0
			for _, k := range fired {
				total += k
			}
			if total != n {
				t.Fatalf("timers fired %d times in all, want %d (once each)", total, n)
			}
			if got := balance(t, dbs[0].Client, buyer); got != n*lateCredit {
				t.Fatalf("credited %d, want %d", got, n*lateCredit)
			}
			for _, id := range ids {
				if k := slaEvents(t, dbs[0].Client, id); k != 1 {
					t.Fatalf("fulfilment %d escalated %d times", id, k)
				}
			}
		})
	}
}

// TestRaceRerouteWhileCollecting: the SLA timer of a pickup fires (moving
// it on to the next window, taking a place there) while a clerk hands the
// same pickup over. Whoever commits first wins; the other finds its guard
// false. Every pickup ends COLLECTED exactly once, and the next window
// holds a place for exactly the reroutes that committed (a reroute that
// lost gave its place back by rolling back).
func TestRaceRerouteWhileCollecting(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			s, db := newShop(t, d)
			sys := viewer.SystemContext(context.Background())
			staff := viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Staff, StaffID: 1})
			kind := delivery.PointKind("CENTRAL")
			pt, err := s.Delivery.CreatePickupPoint(staff, delivery.PointInput{Code: "central", Kind: kind,
				Name: ptr("Central counter"), Address: &delivery.Address{Name: "Shop", Line1: "Torstraße 1", City: "Berlin", Postcode: "10119", Country: "DE"}}, "pp")
			if err != nil {
				t.Fatal(err)
			}
			next, err := s.Delivery.CreatePickupWindow(staff, delivery.WindowInput{PickupPointID: pt.ID,
				StartsAt: time.Now().Add(24 * time.Hour), EndsAt: time.Now().Add(26 * time.Hour), Capacity: 100}, "w")
			if err != nil {
				t.Fatal(err)
			}
			const n = 8
			_, ids := paidOrders(t, s, db.Client, n, entfulfillment.MethodPICKUP)
			for _, id := range ids {
				for _, st := range []entfulfillment.Status{entfulfillment.StatusPACKED, entfulfillment.StatusREADY_FOR_PICKUP} {
					if _, err := s.Fulfillment.Advance(staff, id, st, "", fmt.Sprint(id, st)); err != nil {
						t.Fatal(err)
					}
				}
				db.Client.Fulfillment.UpdateOneID(id).SetDueAt(time.Now().Add(-time.Minute).UTC()).ExecX(sys)
			}
			var wg sync.WaitGroup
			for _, id := range ids {
				f := db.Client.Fulfillment.GetX(sys, id)
				wg.Go(func() {
					if _, err := s.Fulfillment.Collect(staff, f.PickupCode, fmt.Sprint("collect-", id)); err != nil {
						t.Errorf("collect %d: %v", id, err)
					}
				})
			}
			wg.Go(func() {
				if _, err := s.Fulfillment.Sweep(context.Background()); err != nil {
					t.Error(err)
				}
			})
			wg.Wait()
			rerouted := 0
			for _, id := range ids {
				f := db.Client.Fulfillment.GetX(sys, id)
				if f.Status != entfulfillment.StatusCOLLECTED || f.CollectedAt == nil {
					t.Fatalf("fulfilment %d ended %s", id, f.Status)
				}
				collected := db.Client.FulfillmentEvent.Query().Where(fulfillmentevent.FulfillmentID(id),
					fulfillmentevent.To(string(entfulfillment.StatusCOLLECTED))).CountX(sys)
				if collected != 1 {
					t.Fatalf("fulfilment %d collected %d times", id, collected)
				}
				rerouted += f.Reroutes
			}
			if w := db.Client.PickupWindow.GetX(sys, next.ID); w.Taken != rerouted {
				t.Fatalf("next window holds %d places for %d committed reroutes", w.Taken, rerouted)
			}
			t.Logf("%d of %d pickups were rerouted before the clerk's handover", rerouted, n)
		})
	}
}

func ptr[T any](v T) *T { return &v }
