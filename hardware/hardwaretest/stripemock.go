// Package hardwaretest holds the real peers hardware tests talk to, usable
// by any package's tests without pulling in the API.
package hardwaretest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// StripeMock starts stripe-mock on loopback ports of its own choosing and
// returns its HTTP URL; it stops when the test ends. Skips if stripe-mock
// is missing.
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
	// stripe-mock binds port 0 itself and prints the address it got, so
	// no port is picked here and then raced for by another process.
	// Readiness is stripe-mock answering as Stripe, not merely listening.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	addr := make(chan string, 1)
	exited := make(chan struct{})
	var output bytes.Buffer // what it said, for a failure
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			} else if output.Len() < 4096 {
				output.WriteString(sc.Text() + "\n")
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	var url string
	select {
	case a := <-addr:
		url = "http://" + a
	case <-exited:
		t.Fatalf("stripe-mock exited before listening:\n%s", output.String())
	case <-time.After(30 * time.Second):
		t.Fatal("stripe-mock did not listen within 30s")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/balance", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"object"`)) {
				return url
			}
			err = fmt.Errorf("%s: %s", res.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock at %s did not answer as Stripe within 30s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listeningRE is stripe-mock's line (v0.203.0) saying where it serves HTTP.
var listeningRE = regexp.MustCompile(`^Listening for HTTP at address: (\S+)$`)
