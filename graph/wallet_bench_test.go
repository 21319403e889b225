package graph_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/walletentry"
	"github.com/merchd/merchd/graph/graphtest"
)

// BenchmarkWalletCheckout: b.N customers, each with wallet credit and one
// held item, check out paying entirely from the wallet, 32 at a time, over
// real HTTP. Reports checkouts/s and latency; every order must be PAID.
//
//	go test ./graph -run '^$' -bench WalletCheckout -benchtime 2000x
func BenchmarkWalletCheckout(b *testing.B) {
	for _, d := range graphtest.Dialects(b) {
		b.Run(d, func(b *testing.B) {
			e := graphtest.New(b, graphtest.Options{Dialect: d})
			vid := newVariant(b, e, b.N+10, 1500, "EUR")
			v, _ := gid.Decode(vid)
			toks := customers(b, e, b.N, fmt.Sprintf("wb%d-", b.N))
			cartIDs := make([]string, b.N)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for i := range b.N {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					vw, err := e.Accounts.Authenticate(context.Background(), toks[i])
					if err != nil {
						b.Error(err)
						return
					}
					ctx := viewer.NewContext(context.Background(), vw)
					sys := viewer.SystemContext(ctx)
					tx, _ := e.Client.Tx(sys)
					if _, err := e.Wallets.Post(sys, tx, wallets.Posting{CustomerID: vw.CustomerID, Currency: "EUR", Amount: 5000, Kind: walletentry.KindGIFT}); err != nil {
						tx.Rollback()
						b.Error(err)
						return
					}
					tx.Commit()
					line, err := e.Carts.AddToCart(ctx, carts.AddToCartInput{VariantID: v, Quantity: 1, Key: "bench"})
					if err != nil {
						b.Error(err)
						return
					}
					l, _ := e.Client.CartLine.Get(sys, line)
					cartIDs[i] = gid.Encode(l.CartID)
				})
			}
			wg.Wait()
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 32, MaxIdleConnsPerHost: 32}}
			lat := make([]time.Duration, b.N)
			var paid, failed atomic.Int64
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			for range 32 {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						body := fmt.Sprintf(`{"query":%q,"variables":{"i":{"cartId":%q,"payWith":{"wallet":{"amount":1500,"currency":"EUR"}},"idempotencyKey":"co"}}}`, checkoutMutation, cartIDs[i])
						req, _ := http.NewRequest(http.MethodPost, e.URL, strings.NewReader(body))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Authorization", "Bearer "+toks[i])
						t1 := time.Now()
						resp, err := client.Do(req)
						if err != nil {
							failed.Add(1)
							continue
						}
						raw, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						lat[i] = time.Since(t1)
						if strings.Contains(string(raw), `"status":"PAID"`) {
							paid.Add(1)
						} else {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if paid.Load() != int64(b.N) {
				b.Fatalf("%d of %d checkouts paid, %d failed", paid.Load(), b.N, failed.Load())
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "checkouts/s")
			graphtest.ReportPercentiles(b, lat, 0.50, 0.99)
		})
	}
}
