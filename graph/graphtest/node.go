package graphtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
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
