package graph_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
)

// BenchmarkPickupCounter: a busy counter at the end of a drop. b.N paid
// orders wait; 32 clerks hand them over at once over real HTTP, each
// scanning the next buyer's pickup pass. Reports handovers/s and latency;
// fails unless every order was collected exactly once. Two loads:
//
//   - saturated: each clerk scans the next pass the moment the last one
//     is answered (no bag to hand over): the server's ceiling, where the
//     latency is queueing (p50 ≈ 32 / throughput);
//
//   - paced: each clerk scans every 250 ms (128 handovers/s at the
//     counter, several times what 32 people handing over bags can do):
//     the latency a clerk sees.
//
//     go test ./graph -run '^$' -bench PickupCounter -benchtime 2000x
func BenchmarkPickupCounter(b *testing.B) {
	for _, d := range graphtest.Dialects(b) {
		for _, load := range []struct {
			name string
			pace time.Duration
		}{{"saturated", 0}, {"paced", 250 * time.Millisecond}} {
			b.Run(d+"/"+load.name, func(b *testing.B) {
				e := graphtest.New(b, graphtest.Options{Dialect: d})
				v := newVariant(b, e, b.N, 1500, "EUR")
				tok, _ := e.SignUp(b, fmt.Sprintf("counter%d@bench.example", b.N))
				passes := make([]string, b.N)
				for i := range passes {
					passes[i] = *orderPickup(b, e, tok, paidOrder(b, e, tok, v, fmt.Sprint("o", i))).Node.PickupPass
				}
				client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 32, MaxIdleConnsPerHost: 32}}
				lat := make([]time.Duration, b.N)
				var collected, other atomic.Int64
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for clerk := range 32 {
					wg.Go(func() {
						tick := start.Add(time.Duration(clerk) * load.pace / 32) // clerks out of step
						for {
							if load.pace > 0 {
								time.Sleep(time.Until(tick))
								tick = tick.Add(load.pace)
							}
							i := int(next.Add(1)) - 1
							if i >= b.N {
								return
							}
							body := fmt.Sprintf(`{"query":%q,"variables":{"i":{"code":%q,"idempotencyKey":"scan-%d"}}}`, collectMutation, passes[i], i)
							req, _ := http.NewRequest(http.MethodPost, e.URL, strings.NewReader(body))
							req.Header.Set("Content-Type", "application/json")
							req.Header.Set("Authorization", "Bearer "+e.StaffToken)
							t1 := time.Now()
							resp, err := client.Do(req)
							if err != nil {
								other.Add(1)
								continue
							}
							raw, _ := io.ReadAll(resp.Body)
							resp.Body.Close()
							lat[i] = time.Since(t1)
							if strings.Contains(string(raw), `"COLLECTED"`) && !strings.Contains(string(raw), `"errors"`) {
								collected.Add(1)
							} else {
								other.Add(1)
							}
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				if collected.Load() != int64(b.N) || other.Load() != 0 {
					b.Fatalf("collected %d of %d, %d failed", collected.Load(), b.N, other.Load())
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "handovers/s")
				graphtest.ReportPercentiles(b, lat, 0.50, 0.99)
			})
		}
	}
}
