// Package hardwaretest holds the real peers hardware tests talk to, usable
// by any package's tests without pulling in the API.
package hardwaretest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// StripeMock starts stripe-mock on free loopback ports and returns its
// HTTP URL; it stops when the test ends. Skips if stripe-mock is missing.
func StripeMock(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		gobin := filepath.Join(os.Getenv("HOME"), "go", "bin", "stripe-mock")
		if out, e := exec.Command("go", "env", "GOPATH").Output(); e == nil {
			gobin = filepath.Join(string(bytes.TrimSpace(out)), "bin", "stripe-mock")
		}
		if _, e := os.Stat(gobin); e != nil {
			t.Skip("needs stripe-mock: go install github.com/stripe/stripe-mock@v0.203.0")
		}
		bin = gobin
	}
	// A port found free may be taken before stripe-mock binds it: then
	// stripe-mock exits, and we try again with new ports. Readiness is
	// stripe-mock answering as Stripe, not merely something listening.
	for attempt := 0; attempt < 5; attempt++ {
		if url, ok := startStripeMock(t, bin); ok {
			return url
		}
	}
	t.Fatal("stripe-mock did not start in 5 attempts")
	return ""
}

func startStripeMock(t testing.TB, bin string) (string, bool) {
	httpPort, httpsPort := freePort(t), freePort(t)
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:"+httpPort, "-https-addr", "127.0.0.1:"+httpsPort)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	url := "http://127.0.0.1:" + httpPort
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return "", false
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/balance", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		if res, err := http.DefaultClient.Do(req); err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"object"`)) {
				return url, true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("stripe-mock did not answer within 30s")
	return "", false
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
