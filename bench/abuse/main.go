// Command abuse load-tests merchd's limits against a real `merchd serve`
// binary: from one address (127.0.0.1) it sends anonymous sign-in attempts
// at a fixed rate and opens hundreds of websockets, while a fan on another
// address (127.0.0.2) keeps loading the catalog. It reports the server's
// peak RSS, the fan's latency and how every attacking request was refused.
// Only 127.0.0.0/8 is a target.
//
//	go run ./bench/abuse [-rate 1000] [-sockets 500] [-duration 15s]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	rate := flag.Int("rate", 1000, "anonymous sign-in attempts per second from the attacker")
	sockets := flag.Int("sockets", 500, "websockets the attacker tries to hold open")
	duration := flag.Duration("duration", 15*time.Second, "how long the attack lasts")
	rssBound := flag.Int("rss-mb", 300, "fail if the server's peak RSS exceeds this many MiB")
	p99Bound := flag.Duration("p99", 100*time.Millisecond, "fail if the fan's p99 exceeds this")
	flag.Parse()
	if err := run(*rate, *sockets, *duration, *rssBound, *p99Bound); err != nil {
		fmt.Fprintln(os.Stderr, "abuse:", err)
		os.Exit(1)
	}
}

func run(rate, sockets int, duration time.Duration, rssBound int, p99Bound time.Duration) error {
	dir, err := os.MkdirTemp("", "merchd-abuse")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "merchd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	addr := "127.0.0.1:18383"
	srv := exec.Command(bin, "serve", "--addr", addr, "--database", filepath.Join(dir, "abuse.db"), "--demo", "--log-level", "error")
	srv.Stdout, srv.Stderr = io.Discard, os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	base := "http://" + addr
	if err := waitReady(base); err != nil {
		return err
	}

	attacker := client("127.0.0.1", 256)
	fan := client("127.0.0.2", 4)
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()

	var peak atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { sampleRSS(ctx, srv.Process.Pid, &peak) })

	// The attacker's sign-ins, paced at rate per second.
	codes := &tally{m: map[string]int{}}
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		sem := make(chan struct{}, 256)
		var inner sync.WaitGroup
		defer inner.Wait()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				codes.add("client-saturated")
				continue
			}
			inner.Go(func() {
				defer func() { <-sem }()
				q := fmt.Sprintf(`{"query":"mutation { signIn(input: {email: \"fan%d@example.com\", password: \"guess-%d\"}) { token } }"}`, i%5000, i)
				codes.add(post(attacker, base+"/query", q))
			})
		}
	})

	// The attacker's sockets, held until the end.
	sockCodes := &tally{m: map[string]int{}}
	wg.Go(func() {
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"},
			NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).DialContext}
		var held []*websocket.Conn
		for range sockets {
			c, res, err := d.Dial("ws://"+addr+"/query", nil)
			switch {
			case err == nil:
				held = append(held, c)
				sockCodes.add("open")
			case res != nil:
				b, _ := io.ReadAll(res.Body)
				sockCodes.add(strconv.Itoa(res.StatusCode) + " " + codeOf(b))
			default:
				sockCodes.add("dial error")
			}
		}
		<-ctx.Done()
		for _, c := range held {
			c.Close()
		}
	})

	// The fan's catalog loads, one after another, from another address.
	var lat []time.Duration
	fanCodes := &tally{m: map[string]int{}}
	wg.Go(func() {
		q := `{"query":"{ products(first: 24) { edges { node { id title variants { id price { amount currency } available } } } } }"}`
		for ctx.Err() == nil {
			t0 := time.Now()
			fanCodes.add(post(fan, base+"/query", q))
			lat = append(lat, time.Since(t0))
			time.Sleep(10 * time.Millisecond)
		}
	})
	wg.Wait()

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	rss := peak.Load() >> 20
	fmt.Printf("attack: %d sign-ins/s and %d sockets from 127.0.0.1 for %s\n", rate, sockets, duration)
	fmt.Printf("sign-in outcomes: %s\n", codes)
	fmt.Printf("socket outcomes:  %s\n", sockCodes)
	fmt.Printf("fan (127.0.0.2):  %d catalog loads, p50 %s p99 %s, outcomes %s\n", len(lat), pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), fanCodes)
	fmt.Printf("server peak RSS:  %d MiB\n", rss)
	var bad []string
	if rss > int64(rssBound) {
		bad = append(bad, fmt.Sprintf("peak RSS %d MiB > %d MiB", rss, rssBound))
	}
	if pct(0.99) > p99Bound {
		bad = append(bad, fmt.Sprintf("fan p99 %s > %s", pct(0.99), p99Bound))
	}
	for k := range codes.m {
		if k != "RATE_LIMITED" && k != "UNAUTHENTICATED" && k != "client-saturated" {
			bad = append(bad, "sign-in answered "+k)
		}
	}
	if len(fanCodes.m) != 1 || fanCodes.m["ok"] == 0 {
		bad = append(bad, "the fan was refused: "+fanCodes.String())
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

func client(src string, conns int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext,
		MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}}
}

func post(c *http.Client, url, body string) string {
	res, err := c.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		return "transport error"
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if code := codeOf(b); code != "" {
		return code
	}
	if res.StatusCode != http.StatusOK {
		return "HTTP " + strconv.Itoa(res.StatusCode)
	}
	return "ok"
}

func codeOf(b []byte) string {
	var out struct {
		Errors []struct{ Extensions struct{ Code string } }
	}
	if json.Unmarshal(b, &out) != nil || len(out.Errors) == 0 {
		return ""
	}
	return out.Errors[0].Extensions.Code
}

func waitReady(base string) error {
	for range 200 {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("server never became ready")
}

// sampleRSS records the process's peak resident set (VmHWM) until ctx ends.
func sampleRSS(ctx context.Context, pid int, peak *atomic.Int64) {
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
					kb, _ := strconv.ParseInt(f[1], 10, 64)
					peak.Store(kb << 10)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func (t *tally) add(k string) {
	t.mu.Lock()
	t.m[k]++
	t.mu.Unlock()
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, t.m[k])
	}
	return b.String()
}
