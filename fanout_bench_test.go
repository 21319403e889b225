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
	"os/exec"
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

// BenchmarkFanout: one stock change delivered to many subscribers of a
// real `merchd serve` process (SQLite), over websockets and over SSE.
// Reports delivery p50/p99 (from sending the mutation to each subscriber
// reading the event) and the server's memory per idle subscriber: Go heap
// in use plus goroutine stacks (pprof's heap profile after a GC, on the
// debug address) and resident set.
//
// The subscribers live in client processes (this test binary re-run as
// its client process, fanoutClientProcess), at most fanoutPerClient each, and dial from
// many loopback source addresses (127.0.0.2, 127.0.0.3, …; fanoutPerAddr
// each), so that neither a process's file limit (RLIMIT_NOFILE, 20,000
// here and not raisable) nor one address's ephemeral ports run out. One
// server process holds at most ~19,900 sockets under that limit.
//
//	go test -run '^$' -bench Fanout -benchtime 1x .
//	MERCHD_FANOUT_SUBSCRIBERS=10000,19000 go test -run '^$' -bench 'Fanout/websocket' -benchtime 1x -timeout 30m .
//
// MERCHD_FANOUT_SUBSCRIBERS is a comma-separated list of counts (default
// 10000); SSE runs only up to 10,000 (each stream keeps net/http's
// goroutine and buffers).
//
// Past one process's file limit, one box holds more subscribers by
// running replicas: MERCHD_FANOUT_REPLICAS=R starts R `merchd serve`
// processes on one PostgreSQL database (MERCHD_TEST_POSTGRES), the
// subscribers split evenly among them (as a load balancer would), the
// change is made on the first and reaches the others by LISTEN/NOTIFY:
//
//	MERCHD_TEST_POSTGRES=… MERCHD_FANOUT_REPLICAS=6 MERCHD_FANOUT_SUBSCRIBERS=100000 go test -run '^$' -bench 'Fanout/websocket' -benchtime 1x -timeout 30m .
func BenchmarkFanout(b *testing.B) {
	counts := []int{10_000}
	if s := os.Getenv("MERCHD_FANOUT_SUBSCRIBERS"); s != "" {
		counts = counts[:0]
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("MERCHD_FANOUT_SUBSCRIBERS=%q: want counts like 10000,19000", s)
			}
			counts = append(counts, n)
		}
	}
	bin := graphtest.BuildMerchd(b)
	for _, transport := range []string{"websocket", "sse"} {
		for _, n := range counts {
			if transport == "sse" && n > 10_000 {
				continue
			}
			b.Run(fmt.Sprintf("%s/%d", transport, n), func(b *testing.B) { fanout(b, bin, transport, n) })
		}
	}
}

const (
	fanoutPerClient = 5_000 // subscribers per client process
	fanoutPerAddr   = 500   // subscribers per loopback source address
)

// fanoutServer is one `merchd serve` process of the benchmark.
type fanoutServer struct {
	base, debug string
	pid         int
}

func fanout(b *testing.B, bin, transport string, n int) {
	replicas := 1
	if s := os.Getenv("MERCHD_FANOUT_REPLICAS"); s != "" {
		r, err := strconv.Atoi(s)
		if err != nil || r < 1 {
			b.Fatalf("MERCHD_FANOUT_REPLICAS=%q: want a count like 6", s)
		}
		replicas = r
	}
	db := filepath.Join(b.TempDir(), "fanout.db")
	if replicas > 1 {
		db = graphtest.NewPostgresDB(b)
	}
	var tok bytes.Buffer
	if err := run(context.Background(), []string{"staff", "create-token", "--database", db, "--email", "bench@example.com"}, &tok, io.Discard); err != nil {
		b.Fatal(err)
	}
	staff := strings.TrimSpace(tok.String())
	servers := make([]fanoutServer, replicas)
	perReplica := (n + replicas - 1) / replicas
	for i := range servers {
		// Port 0: merchd binds it and logs the address it got.
		// Each replica opens at most 10 database connections (and one to
		// LISTEN), so replicas stay under PostgreSQL's 100.
		p := graphtest.StartCommand(b, bin, nil, "serve", "--addr", "127.0.0.1:0", "--database", db, "--debug-addr", "127.0.0.1:0",
			"--database-max-conns", "10",
			"--max-connections", strconv.Itoa(perReplica+100), "--max-connections-per-ip", strconv.Itoa(fanoutPerAddr))
		if p.DebugAddr == "" {
			b.Fatal("merchd logged no debug address")
		}
		servers[i] = fanoutServer{base: p.URL, debug: p.DebugAddr, pid: p.Cmd.Process.Pid}
	}
	base := servers[0].base
	variant := fanoutVariant(b, base, staff)
	weigh := func() (goKiB, rss int64) {
		for _, s := range servers {
			goKiB += goMemKiB(b, s.debug)
			rss += rssKiB(b, s.pid)
		}
		return goKiB, rss
	}
	goBefore, before := weigh()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var clients []*fanoutClient
	defer func() {
		for _, c := range clients {
			c.stop()
		}
	}()
	recv := make(chan int64, n)
	// Replica r serves subscribers [r*perReplica, (r+1)*perReplica), in
	// client processes of at most fanoutPerClient each.
	for r, srv := range servers {
		end := min((r+1)*perReplica, n)
		for first := r * perReplica; first < end; first += fanoutPerClient {
			c, err := startFanoutClient(ctx, transport, srv.base, variant, first, min(fanoutPerClient, end-first), recv)
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, c)
		}
	}
	for _, c := range clients {
		if err := c.waitReady(); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second) // let the servers settle, then weigh them
	goAfter, after := weigh()
	perSub := float64(after-before) / float64(n)
	perSubGo := float64(goAfter-goBefore) / float64(n)
	name := fmt.Sprintf("%s-%d", transport, n)
	if replicas > 1 {
		name += fmt.Sprintf("-replicas%d", replicas)
	}
	if dir := os.Getenv("MERCHD_FANOUT_PROFILES"); dir != "" {
		saveProfiles(b, servers[0].debug, dir, name)
	}

	var cpu sync.WaitGroup
	if dir := os.Getenv("MERCHD_FANOUT_PROFILES"); dir != "" { // the (first) server's CPU over the delivery
		cpu.Go(func() { saveProfile(b, servers[0].debug, dir, name, "profile?seconds=3") })
		time.Sleep(100 * time.Millisecond)
	}
	defer cpu.Wait()
	// CPU time of the servers and of the client processes over the
	// delivery: how the 2 cores were shared.
	cpu0Servers, cpu0Clients := fanoutCPU(servers, clients)
	t0 := time.Now()
	mutate(b, base, staff, fmt.Sprintf(`mutation { setStock(input: {variantId: %q, available: 1, idempotencyKey: "fan"}) { available } }`, variant))
	lat := make([]time.Duration, 0, n)
	deadline := time.After(60 * time.Second)
collect:
	for len(lat) < n {
		select {
		case at := <-recv:
			lat = append(lat, time.Duration(at-t0.UnixNano()))
		case <-deadline:
			break collect
		}
	}
	if len(lat) != n {
		b.Fatalf("%d of %d subscribers got the change within 60s", len(lat), n)
	}
	cpuServers, cpuClients := fanoutCPU(servers, clients)
	b.ReportMetric(cpuServers-cpu0Servers, "server-cpu-s")
	b.ReportMetric(cpuClients-cpu0Clients, "client-cpu-s")
	b.ReportMetric(float64(n), "subscribers")
	b.ReportMetric(float64(replicas), "processes")
	graphtest.ReportPercentiles(b, lat, 0.50, 0.99)
	b.ReportMetric(perSub, "RSS-KiB/idle-sub")
	b.ReportMetric(perSubGo, "heap+stack-KiB/idle-sub")
}

// fanoutClient is one client process holding subscribers.
type fanoutClient struct {
	cmd   *exec.Cmd
	stdin io.Closer
	ready chan error
}

// startFanoutClient runs this test binary as a client process with
// count subscribers numbered from first; their receive times (Unix ns)
// arrive on recv.
func startFanoutClient(ctx context.Context, transport, base, variant string, first, count int, recv chan<- int64) (*fanoutClient, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), "MERCHD_FANOUT_CLIENT="+strings.Join([]string{transport, base, variant, strconv.Itoa(first), strconv.Itoa(count)}, " "))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &fanoutClient{cmd: cmd, stdin: in, ready: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		readied := false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "r":
				at, _ := strconv.ParseInt(f[1], 10, 64)
				recv <- at
			case len(f) >= 1 && f[0] == "ready":
				readied = true
				c.ready <- nil
			case len(f) >= 1 && f[0] == "fail" && !readied:
				readied = true
				c.ready <- fmt.Errorf("client process (subscribers %d..%d): %s", first, first+count-1, sc.Text())
			}
		}
		if !readied {
			c.ready <- fmt.Errorf("client process (subscribers %d..%d) ended before its subscribers were ready", first, first+count-1)
		}
	}()
	return c, nil
}

func (c *fanoutClient) waitReady() error { return <-c.ready }

// stop ends the client process: it exits when its stdin closes.
func (c *fanoutClient) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// fanoutClientProcess is BenchmarkFanout's client process (TestMain runs
// it instead of the tests when MERCHD_FANOUT_CLIENT is set): it opens its
// subscribers, prints "ready", then "r <unix ns>" for each one's next
// event, and exits when its stdin closes.
func fanoutClientProcess(spec string) {
	f := strings.Fields(spec)
	transport, base, variant := f[0], f[1], f[2]
	first, _ := strconv.Atoi(f[3])
	count, _ := strconv.Atoi(f[4])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The client shares the server's 2 cores, so it spends as little as
	// it can per event: each subscriber stores its receive time (taken
	// when it read the event) in its own slot, and one goroutine reports
	// the new ones every 20 ms through one buffered write.
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	flush := func() {
		mu.Lock()
		defer mu.Unlock()
		out.Flush()
	}
	received := make([]atomic.Int64, count)
	go func() {
		reported := make([]bool, count)
		for range time.Tick(20 * time.Millisecond) {
			for i := range received {
				if at := received[i].Load(); at != 0 && !reported[i] {
					reported[i] = true
					say("r %d", at)
				}
			}
			flush()
		}
	}()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 100)
	nexts := make([]func() error, count)
	for i := range count {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			// 127.0.0.2, 127.0.0.3, …: fanoutPerAddr subscribers each.
			a := 2 + (first+i)/fanoutPerAddr
			local := &net.TCPAddr{IP: net.IPv4(127, byte(a>>16), byte(a>>8), byte(a))}
			var next func() error
			var err error
			if transport == "websocket" {
				next, err = wsSubscriber(ctx, base, variant, local)
			} else {
				next, err = sseSubscriber(ctx, base, variant, local)
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("subscriber %d: %v", first+i, err))
				return
			}
			nexts[i] = next
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		say("fail %d subscribers: %v", failed.Load(), firstErr.Load())
		flush()
		return
	}
	say("ready")
	flush()
	for i, next := range nexts {
		go func() {
			if next() == nil {
				received[i].Store(time.Now().UnixNano())
			}
		}()
	}
	io.Copy(io.Discard, os.Stdin) // until the benchmark closes it
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

// saveProfiles keeps the server's heap and goroutine profiles of the idle
// subscribers (MERCHD_FANOUT_PROFILES=dir; read with go tool pprof).
func saveProfiles(b *testing.B, debugAddr, dir, name string) {
	for _, p := range []string{"heap", "goroutine"} {
		saveProfile(b, debugAddr, dir, name, p)
	}
}

// saveProfile keeps one of the server's pprof profiles as dir/name.kind.pb.gz.
func saveProfile(b *testing.B, debugAddr, dir, name, profile string) {
	resp, err := http.Get("http://" + debugAddr + "/debug/pprof/" + profile)
	if err != nil {
		b.Error(err)
		return
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	kind, _, _ := strings.Cut(profile, "?")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+"."+kind+".pb.gz"), raw, 0o644)
	}
	if err != nil {
		b.Error(err)
	}
}

// fanoutCPU is the user+system CPU seconds used so far by the servers and
// by the client processes (/proc/<pid>/stat; 0 where it cannot be read).
func fanoutCPU(servers []fanoutServer, clients []*fanoutClient) (srv, cli float64) {
	for _, s := range servers {
		srv += cpuSeconds(s.pid)
	}
	for _, c := range clients {
		cli += cpuSeconds(c.cmd.Process.Pid)
	}
	return srv, cli
}

func cpuSeconds(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces): utime is
	// the 14th field of the line, stime the 15th, in clock ticks (100/s).
	_, rest, _ := bytes.Cut(raw, []byte(") "))
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
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
func wsSubscriber(ctx context.Context, base, variant string, local *net.TCPAddr) (func() error, error) {
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 30 * time.Second,
		NetDialContext: (&net.Dialer{LocalAddr: local}).DialContext, ReadBufferSize: 512, WriteBufferSize: 512}
	c, _, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/query", nil)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { c.Close() })
	c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{}})
	c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": subQuery(variant)}})
	next := func() error {
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return err
			}
			if bytes.HasPrefix(msg, []byte(`{"type":"next"`)) {
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
func sseSubscriber(ctx context.Context, base, variant string, local *net.TCPAddr) (func() error, error) {
	body, _ := json.Marshal(map[string]any{"query": subQuery(variant)})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{LocalAddr: local}).DialContext}}
	resp, err := client.Do(req)
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
