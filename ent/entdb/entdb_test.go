package entdb_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/viewer"
)

// TestConcurrentStart: replicas starting together migrate once and all come
// up, on SQLite and PostgreSQL.
func TestConcurrentStart(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			url := entdbtest.DatabaseURL(t, d)
			const replicas = 4
			var wg sync.WaitGroup
			errs := make([]error, replicas)
			dbs := make([]*entdb.DB, replicas)
			for i := range replicas {
				wg.Go(func() { dbs[i], errs[i] = entdb.Open(context.Background(), entdb.Config{URL: url}) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("replica %d: %v", i, err)
				}
				defer dbs[i].Close()
			}
			ctx := viewer.SystemContext(context.Background())
			if err := dbs[0].Client.Location.Create().SetCode("central").SetName("C").SetKind(location.KindCENTRAL).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if n := dbs[replicas-1].Client.Location.Query().CountX(ctx); n != 1 {
				t.Fatalf("replica %d sees %d locations", replicas-1, n)
			}
		})
	}
}

func TestSQLiteSettings(t *testing.T) {
	db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, "sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var fk int
	if err := db.SQL.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	if err := db.SQL.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v", fk, err)
	}
}

// TestStockCheckConstraint: the database itself refuses a negative stock
// count, whatever code writes it.
func TestStockCheckConstraint(t *testing.T) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			db, err := entdb.Open(context.Background(), entdb.Config{URL: entdbtest.DatabaseURL(t, d)})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := viewer.SystemContext(context.Background())
			c := db.Client
			loc := c.Location.Create().SetCode("central").SetName("C").SetKind(location.KindCENTRAL).SaveX(ctx)
			p := c.Product.Create().SetTitle("T").SetSlug("t").SaveX(ctx)
			v := c.Variant.Create().SetProductID(p.ID).SetSku("T-1").SetTitle("One").SetPriceAmount(100).SetCurrency("EUR").SaveX(ctx)
			s := c.Stock.Create().SetVariantID(v.ID).SetLocationID(loc.ID).SetAvailable(1).SaveX(ctx)
			if err := c.Stock.UpdateOneID(s.ID).AddAvailable(-2).Exec(ctx); err == nil {
				t.Fatal("stock went below zero")
			}
			if _, err := db.SQL.Exec("UPDATE stocks SET available = -1"); err == nil {
				t.Fatal("raw SQL set stock below zero")
			}
			if got := c.Stock.GetX(ctx, s.ID).Available; got != 1 {
				t.Fatalf("available = %d after refused updates", got)
			}
			if _, err := db.SQL.Exec("UPDATE variants SET price_amount = -5"); err == nil {
				t.Fatal("raw SQL set a negative price")
			}
		})
	}
}

func TestBadURLs(t *testing.T) {
	for _, u := range []string{"", "  ", ":memory:", "file::memory:?cache=shared", "postgres://", "/definitely/not/here/merchd.db"} {
		_, err := entdb.Open(context.Background(), entdb.Config{URL: u})
		if !errors.Is(err, entdb.ErrBadURL) {
			t.Errorf("Open(%q) = %v, want ErrBadURL", u, err)
		}
	}
	_, err := entdb.Open(context.Background(), entdb.Config{URL: "postgres://nobody:secret@127.0.0.1:1/none?connect_timeout=1"})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("unreachable postgres: %v (the password must not appear)", err)
	}
}
