package wallets_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/giftlot"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/wallet"
	"github.com/merchd/merchd/ent/walletentry"
)

type ledger struct {
	db  *entdb.DB
	w   *wallets.Service
	now time.Time
	mu  sync.Mutex
}

func newLedger(t *testing.T, dialect string) (*ledger, int) {
	t.Helper()
	db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, dialect)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l := &ledger{db: db, now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	l.w, err = wallets.New(db.Client, db.Dialect, wallets.DefaultConfig(), nil, l.clock)
	if err != nil {
		t.Fatal(err)
	}
	c := db.Client.Customer.Create().SetEmail("ledger@example.com").SetPasswordHash("x").SaveX(viewer.SystemContext(context.Background()))
	return l, c.ID
}

func (l *ledger) clock() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now
}

func (l *ledger) post(customerID int, p wallets.Posting) error {
	ctx := viewer.SystemContext(context.Background())
	p.CustomerID, p.Currency = customerID, "EUR"
	tx, err := l.db.Client.Tx(ctx)
	if err != nil {
		return err
	}
	if _, err := l.w.Post(ctx, tx, p); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// check asserts the ledger's invariants: the balance is the sum of the
// entries, never negative, each entry's balanceAfter follows from the one
// before, and unspent gift credit never exceeds the balance.
func (l *ledger) check(t *testing.T) int64 {
	t.Helper()
	ctx := viewer.SystemContext(context.Background())
	w, err := l.db.Client.Wallet.Query().Only(ctx)
	if ent.IsNotFound(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	entries := l.db.Client.WalletEntry.Query().Where(walletentry.WalletID(w.ID)).Order(ent.Asc(walletentry.FieldID)).AllX(ctx)
	var sum int64
	for _, e := range entries {
		sum += e.Amount
		if e.BalanceAfter != sum {
			t.Fatalf("entry %d (%s %d): balanceAfter %d, but the entries so far add up to %d", e.ID, e.Kind, e.Amount, e.BalanceAfter, sum)
		}
	}
	if w.Balance != sum || w.Balance < 0 {
		t.Fatalf("balance %d, entries sum %d", w.Balance, sum)
	}
	lots := l.db.Client.GiftLot.Query().Where(giftlot.WalletID(w.ID)).AllX(ctx)
	var unspent int64
	for _, g := range lots {
		unspent += g.Remaining
	}
	if unspent > w.Balance {
		t.Fatalf("unspent gift credit %d exceeds the balance %d", unspent, w.Balance)
	}
	return w.Balance
}

// TestWalletConcurrency: 200 goroutines top up and spend one wallet at
// once. The balance never goes below zero, every refused spend says
// ErrInsufficientFunds, and at the end balance == sum of entries.
func TestWalletConcurrency(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			l, c := newLedger(t, d)
			if err := l.post(c, wallets.Posting{Amount: 1000, Kind: walletentry.KindTOP_UP}); err != nil {
				t.Fatal(err)
			}
			var credited, spent, refused atomic.Int64
			var wg sync.WaitGroup
			for i := range 200 {
				wg.Go(func() {
					if i%4 == 0 {
						if err := l.post(c, wallets.Posting{Amount: 300, Kind: walletentry.KindTOP_UP}); err != nil {
							t.Errorf("top-up: %v", err)
							return
						}
						credited.Add(300)
						return
					}
					err := l.post(c, wallets.Posting{Amount: -150, Kind: walletentry.KindSPEND})
					switch {
					case err == nil:
						spent.Add(150)
					case errors.Is(err, checkout.ErrInsufficientFunds):
						refused.Add(1)
					default:
						t.Errorf("spend: %v", err)
					}
				})
			}
			wg.Wait()
			bal := l.check(t)
			if want := 1000 + credited.Load() - spent.Load(); bal != want {
				t.Fatalf("balance %d, want %d", bal, want)
			}
			t.Logf("%d spends refused, balance %d", refused.Load(), bal)
			if refused.Load() == 0 {
				t.Fatal("no spend was refused: the test did not reach the empty wallet")
			}
		})
	}
}

// TestLedgerProperty: random sequences of top-ups, spends, refunds, gifts
// (some expiring), adjustments and expiries keep every ledger invariant.
func TestLedgerProperty(t *testing.T) {
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 42))
			l, c := newLedger(t, "sqlite")
			var model int64 // what the balance must be
			for step := range 40 {
				amt := int64(rng.IntN(2000) + 1)
				var err error
				switch op := rng.IntN(7); op {
				case 0:
					err = l.post(c, wallets.Posting{Amount: amt, Kind: walletentry.KindTOP_UP})
				case 1:
					err = l.post(c, wallets.Posting{Amount: amt, Kind: walletentry.KindREFUND})
				case 2:
					exp := l.clock().Add(time.Duration(rng.IntN(120)+1) * time.Minute)
					err = l.post(c, wallets.Posting{Amount: amt, Kind: walletentry.KindGIFT, ExpiresAt: &exp})
				case 3:
					err = l.post(c, wallets.Posting{Amount: amt, Kind: walletentry.KindGIFT})
				case 4, 5:
					err = l.post(c, wallets.Posting{Amount: -amt, Kind: walletentry.KindSPEND})
					if errors.Is(err, checkout.ErrInsufficientFunds) {
						if amt <= model {
							t.Fatalf("step %d: spend %d refused with balance %d", step, amt, model)
						}
						continue
					}
					amt = -amt
				case 6:
					l.mu.Lock()
					l.now = l.now.Add(time.Duration(rng.IntN(90)) * time.Minute)
					l.mu.Unlock()
					before := l.check(t)
					if _, err := l.w.ExpireGifts(context.Background()); err != nil {
						t.Fatal(err)
					}
					model = l.check(t)
					if model > before {
						t.Fatalf("expiry raised the balance from %d to %d", before, model)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				model += amt
				if got := l.check(t); got != model {
					t.Fatalf("step %d: balance %d, model %d", step, got, model)
				}
			}
		})
	}
}

// TestLedgerIsAppendOnly: entries cannot be edited or deleted, even by the
// system, and a negative balance is impossible even in raw SQL.
func TestLedgerIsAppendOnly(t *testing.T) {
	l, c := newLedger(t, "sqlite")
	if err := l.post(c, wallets.Posting{Amount: 500, Kind: walletentry.KindTOP_UP}); err != nil {
		t.Fatal(err)
	}
	ctx := viewer.SystemContext(context.Background())
	if err := l.db.Client.WalletEntry.Update().Where(walletentry.KindEQ(walletentry.KindTOP_UP)).Exec(ctx); err == nil {
		t.Fatal("an entry was updated")
	}
	if _, err := l.db.Client.WalletEntry.Delete().Exec(ctx); err == nil {
		t.Fatal("an entry was deleted")
	}
	if _, err := l.db.SQL.Exec("UPDATE wallets SET balance = -1"); err == nil {
		t.Fatal("raw SQL made a balance negative")
	}
	if n := l.db.Client.Wallet.Query().Where(wallet.Balance(500)).CountX(ctx); n != 1 {
		t.Fatal("balance changed")
	}
	// Spends draw gift credit first: only the unspent part expires.
	exp := l.clock().Add(time.Hour)
	if err := l.post(c, wallets.Posting{Amount: 300, Kind: walletentry.KindGIFT, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	if err := l.post(c, wallets.Posting{Amount: -200, Kind: walletentry.KindSPEND}); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.now = l.now.Add(2 * time.Hour)
	l.mu.Unlock()
	if n, err := l.w.ExpireGifts(context.Background()); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	if bal := l.check(t); bal != 500 {
		t.Fatalf("after expiry: balance %d, want 500 (500 + 300 gift − 200 spent − 100 unspent gift)", bal)
	}
	if n, _ := l.w.ExpireGifts(context.Background()); n != 0 {
		t.Fatalf("expired again: %d", n)
	}
}
