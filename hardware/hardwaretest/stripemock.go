// Package hardwaretest holds the real peers hardware tests talk to, usable
// by any package's tests without pulling in the API.
package hardwaretest

import (
	"bytes"
	"net"
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
	httpPort, httpsPort := freePort(t), freePort(t)
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:"+httpPort, "-https-addr", "127.0.0.1:"+httpsPort)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "http://127.0.0.1:" + httpPort
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+httpPort, 100*time.Millisecond); err == nil {
			c.Close()
			return url
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("stripe-mock did not start within 30s")
	return ""
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
