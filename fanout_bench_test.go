package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/graph/graphtest"
)

// BenchmarkFanout: one stock change delivered to 10,000 subscribers of a
// real `merchd serve` process (SQLite), over websockets and over SSE.
// Reports delivery p50/p99 (from sending the mutation to each subscriber
// reading the event) and the server's resident memory per idle subscriber.
//
//	go test -run '^$' -bench Fanout -benchtime 1x .
func BenchmarkFanout(b *testing.B) {
	n := 10_000
	if s := os.Getenv("MERCHD_FANOUT_SUBSCRIBERS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	bin := graphtest.BuildMerchd(b)
	for _, transport := range []string{"websocket", "sse"} {
		b.Run(transport, func(b *testing.B) {
			db := filepath.Join(b.TempDir(), "fanout.db")
			var tok bytes.Buffer
			if err := run(context.Background(), []string{"staff", "create-token", "--database", db, "--email", "bench@example.com"}, &tok, io.Discard); err != nil {
				b.Fatal(err)
			}
			staff := strings.TrimSpace(tok.String())
			// Port 0: merchd binds it and logs the address it got.
			p := graphtest.StartCommand(b, bin, nil, "serve", "--addr", "127.0.0.1:0", "--database", db, "--debug-addr", "127.0.0.1:0")
			base, pid, debug := p.URL, p.Cmd.Process.Pid, p.DebugAddr
			if debug == "" {
				b.Fatal("merchd logged no debug address")
			}
			variant := fanoutVariant(b, base, staff)
			goBefore := goMemKiB(b, debug)
			before := rssKiB(b, pid)

			recv := make([]time.Time, n)
			var ready, got atomic.Int64
			start := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			sem := make(chan struct{}, 200)
			for i := range n {
				wg.Go(func() {
					sem <- struct{}{}
					var next func() error
					var err error
					if transport == "websocket" {
						next, err = wsSubscriber(ctx, base, variant)
					} else {
						next, err = sseSubscriber(ctx, base, variant)
					}
					<-sem
					if err != nil {
						b.Errorf("subscriber %d: %v", i, err)
						ready.Add(1)
						return
					}
					ready.Add(1)
					<-start
					if err := next(); err == nil {
						recv[i] = time.Now()
						got.Add(1)
					}
				})
			}
			for deadline := time.Now().Add(5 * time.Minute); ready.Load() < int64(n); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					close(start) // the ready ones give up on the cancelled context
					cancel()
					b.Fatalf("only %d of %d subscribers ready after 5 minutes", ready.Load(), n)
				}
			}
			time.Sleep(2 * time.Second) // let the server settle, then weigh it
			goAfter := goMemKiB(b, debug)
			after := rssKiB(b, pid)
			perSub := float64(after-before) / float64(n)
			perSubGo := float64(goAfter-goBefore) / float64(n)

			close(start)
			t0 := time.Now()
			mutate(b, base, staff, fmt.Sprintf(`mutation { setStock(input: {variantId: %q, available: 1, idempotencyKey: "fan"}) { available } }`, variant))
			deadline := time.Now().Add(60 * time.Second)
			for got.Load() < int64(n) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			delivered := got.Load()
			cancel()
			wg.Wait()
			var lat []time.Duration
			for _, r := range recv {
				if !r.IsZero() {
					lat = append(lat, r.Sub(t0))
				}
			}
			if delivered != int64(n) {
				b.Fatalf("%d of %d subscribers got the change", delivered, n)
			}
			b.ReportMetric(float64(n), "subscribers")
			graphtest.ReportPercentiles(b, lat, 0.50, 0.99)
			b.ReportMetric(perSub, "RSS-KiB/idle-sub")
			b.ReportMetric(perSubGo, "heap+stack-KiB/idle-sub")
		})
	}
}

// goMemKiB runs a GC in the server (pprof's heap?gc=1) and returns its
// in-use heap plus goroutine stacks.
func goMemKiB(b *testing.B, debugAddr string) int64 {
	resp, err := http.Get("http://" + debugAddr + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var heap, stack int64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[0] == "#" && f[1] == "HeapInuse" {
			heap, _ = strconv.ParseInt(f[3], 10, 64)
		}
		if len(f) >= 4 && f[0] == "#" && f[1] == "Stack" {
			stack, _ = strconv.ParseInt(f[3], 10, 64)
		}
	}
	time.Sleep(time.Second) // let the scavenger return what the GC freed
	return (heap + stack) / 1024
}

func rssKiB(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skipf("no /proc to weigh the server: %v", err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func mutate(b *testing.B, base, token, q string) graphtest.Response {
	b.Helper()
	r := graphtest.Post(b, base+"/query", token, map[string]any{"query": q})
	if len(r.Errors) > 0 {
		b.Fatalf("%s: %+v", q, r.Errors)
	}
	return r
}

func fanoutVariant(b *testing.B, base, staff string) string {
	var p struct {
		CreateProduct struct{ Product struct{ ID string } }
	}
	mutate(b, base, staff, `mutation { createProduct(input: {title: "Fan tee", slug: "fan-tee"}) { product { id } } }`).Decode(b, &p)
	var v struct {
		CreateVariant struct{ Variant struct{ ID string } }
	}
	mutate(b, base, staff, fmt.Sprintf(`mutation { createVariant(input: {productId: %q, sku: "FAN", title: "M", price: {amount: 1000, currency: "EUR"}}) { variant { id } } }`,
		p.CreateProduct.Product.ID)).Decode(b, &v)
	id := v.CreateVariant.Variant.ID
	mutate(b, base, staff, fmt.Sprintf(`mutation { setStock(input: {variantId: %q, available: 500, idempotencyKey: "init"}) { available } }`, id))
	return id
}

func subQuery(variant string) string {
	return fmt.Sprintf(`subscription { stockChanged(variantIds: [%q]) { available } }`, variant)
}

// wsSubscriber subscribes over graphql-transport-ws, reads the first value,
// and returns a function that waits for the next one.
func wsSubscriber(ctx context.Context, base, variant string) (func() error, error) {
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 30 * time.Second,
		NetDialContext: (&net.Dialer{}).DialContext, ReadBufferSize: 512, WriteBufferSize: 512}
	c, _, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/query", nil)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { c.Close() })
	c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{}})
	c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": subQuery(variant)}})
	next := func() error {
		for {
			var m struct{ Type string }
			if err := c.ReadJSON(&m); err != nil {
				return err
			}
			if m.Type == "next" {
				return nil
			}
		}
	}
	if err := next(); err != nil { // the current value
		return nil, err
	}
	return next, nil
}

// sseSubscriber does the same over Server-Sent Events.
func sseSubscriber(ctx context.Context, base, variant string) (func() error, error) {
	body, _ := json.Marshal(map[string]any{"query": subQuery(variant)})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := sseClient.Do(req)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	next := func() error {
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") {
				return nil
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	if err := next(); err != nil {
		return nil, err
	}
	return next, nil
}

var sseClient = &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 0, DisableKeepAlives: true}}
