package hubs_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/hubpassspend"
	"github.com/merchd/merchd/ent/viewer"
)

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

// booking is one sale's answer from TakeFromPass.
type booking struct{ took, paid int64 }

// TestTakeFromPassAcrossHubs: 16 sales with one wallet pass race at two
// hubs, 300 each against a limit of 2000 over every hub. Whole sales
// (partial=false) book 6 sales in full and refuse the rest, never part of
// one; partial sales (partial=true) book exactly the limit, the last one
// only what was left. Either way the bookings tile [0, total) with no
// overlap: each saw what the ones before it had paid.
func TestTakeFromPassAcrossHubs(t *testing.T) {
	const (
		want  = 300
		limit = 2000
	)
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, d)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			sys := viewer.SystemContext(context.Background())
			exp := time.Now().Add(24 * time.Hour).Unix()

			for _, c := range []struct {
				name      string
				partial   bool
				customer  int
				wantTotal int64
				wantFull  int
				wantSales int // sales that booked anything
			}{
				{"whole", false, 1, 6 * want, 6, 6},
				{"partial", true, 2, limit, 6, 7}, // 6 × 300 and the last 200
			} {
				t.Run(c.name, func(t *testing.T) {
					pass := hubs.WalletPass{Kind: "wallet", CustomerID: c.customer, Currency: "EUR", Expires: exp}
					got := make([]booking, 16)
					race(16, func(i int) {
						hub := []string{"north", "south"}[i%2]
						b, err := txn.Do(sys, db.Client, "hub sale", func(tx *ent.Tx) (booking, error) {
							took, paid, err := hubs.TakeFromPass(sys, tx, db.Dialect, pass, hub, want, limit, c.partial)
							return booking{took, paid}, err
						})
						if err != nil {
							t.Errorf("sale %d at %s: %v", i, hub, err)
						}
						got[i] = b
					})
					var total int64
					full := 0
					var booked []booking
					for _, b := range got {
						switch {
						case b.took == want:
							full++
						case b.took == 0:
						case !c.partial:
							t.Fatalf("a whole sale booked %d of %d", b.took, want)
						}
						if b.took > 0 {
							booked = append(booked, b)
						}
						total += b.took
					}
					if total != c.wantTotal || full != c.wantFull || len(booked) != c.wantSales {
						t.Fatalf("booked %d in all, %d sales in full, %d in part or full; want %d, %d and %d",
							total, full, len(booked), c.wantTotal, c.wantFull, c.wantSales)
					}
					slices.SortFunc(booked, func(a, b booking) int { return int(a.paid - b.paid) })
					var at int64
					for _, b := range booked {
						if b.paid != at {
							t.Fatalf("bookings %v: one saw %d paid where %d was", booked, b.paid, at)
						}
						at += b.took
					}
					spent := db.Client.HubPassSpend.Query().Where(hubpassspend.PassHash(hubs.PassKey(pass))).OnlyX(sys).Spent
					if spent != total {
						t.Fatalf("the pass's spent is %d, the bookings add up to %d", spent, total)
					}
					// Spent up: the next sale anywhere books nothing.
					b, err := txn.Do(sys, db.Client, "hub sale", func(tx *ent.Tx) (booking, error) {
						took, paid, err := hubs.TakeFromPass(sys, tx, db.Dialect, pass, "east", want, limit, true)
						return booking{took, paid}, err
					})
					if err != nil || b.took != min(want, limit-total) || b.paid != total {
						t.Fatalf("a later sale at a third hub: %+v %v, want took %d of paid %d", b, err, min(want, limit-total), total)
					}
				})
			}
		})
	}
}
