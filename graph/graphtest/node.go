package graphtest

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// NodeDir is testdata/node, where the npm peers (graphql-http, graphql-ws)
// live. Tests using them skip when node or `npm ci` in that folder is missing.
func NodeDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "node")
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("needs Node.js for the npm GraphQL peers; install node, then run `npm ci` in testdata/node")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "graphql-ws")); err != nil {
		t.Skipf("needs the npm GraphQL peers: run `npm ci` in %s", dir)
	}
	return dir
}

// Browser finds Debian's Chromium (or $MERCHD_CHROMIUM) and playwright-core
// in testdata/node, and returns Chromium's path and that folder; the test
// skips, saying what to install, when either is missing.
func Browser(t testing.TB) (chromium, nodeDir string) {
	t.Helper()
	for _, p := range []string{os.Getenv("MERCHD_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				chromium = p
				break
			}
		}
	}
	if chromium == "" {
		t.Skip("needs Chromium: apt-get install chromium (or set MERCHD_CHROMIUM)")
	}
	nodeDir = NodeDir(t)
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "playwright-core")); err != nil {
		t.Skipf("needs playwright-core: run `npm ci` in %s", nodeDir)
	}
	return chromium, nodeDir
}

// RunBrowser runs a playwright script with cfg as its JSON argument, for
// at most limit: each line it prints ({name, ok, detail}) is a check; a
// failed check fails the test, and so do fewer than min passed checks (a
// script that stopped early).
func RunBrowser(t testing.TB, script string, cfg map[string]any, min int, limit time.Duration) {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, string(raw))
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	passed := 0
	for sc.Scan() {
		var r struct {
			Name   string
			OK     bool
			Detail string
		}
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if !r.OK {
			t.Errorf("browser: %s", r.Detail)
			continue
		}
		passed++
		t.Logf("browser: %s %s", r.Name, r.Detail)
	}
	if err := cmd.Wait(); err != nil || t.Failed() {
		t.Fatalf("the browser run failed (%v); screenshots in %s", err, cfg["artifacts"])
	}
	if passed < min {
		t.Fatalf("only %d browser checks passed, want at least %d", passed, min)
	}
}
