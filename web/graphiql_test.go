package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/web"
)

// TestGraphiQLOffline: /graphiql loaded GraphiQL and React from a CDN and
// showed "Loading…" for ever without internet, which is exactly where a
// pop-up is. Now its files are in the binary: Chromium, with every request
// beyond the server refused, loads it under a policy of this origin only,
// runs { __typename } and sees the answer.
func TestGraphiQLOffline(t *testing.T) {
	browser, dir := graphtest.Browser(t)
	e := graphtest.New(t, graphtest.Options{})
	explorer := web.Explorer()
	e.Mux.Handle("GET /graphiql", explorer)
	e.Mux.Handle("GET /graphiql/", explorer)

	res, err := http.Get(e.Base + "/graphiql")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	if res.StatusCode != 200 || strings.Contains(csp, "http") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "script-src 'self';") {
		t.Fatalf("GET /graphiql: %d, policy %q", res.StatusCode, csp)
	}

	artifacts := filepath.Join(repoRoot(), "artifacts", "graphiql")
	graphtest.Must(t, os.MkdirAll(artifacts, 0o755))
	cfg, _ := json.Marshal(map[string]any{"base": e.Base, "chromium": browser, "query": "{ __typename }",
		"screenshot": filepath.Join(artifacts, "graphiql.png")})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", filepath.Join(dir, "graphiql.mjs"), string(cfg)).Output()
	if err != nil {
		t.Fatalf("node: %v: %s", err, out)
	}
	var got struct {
		OK                          bool
		Response, Error             string
		Blocked, Violations, Errors []string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("browser said %s: %v", out, err)
	}
	if !got.OK || !strings.Contains(got.Response, `"__typename": "Query"`) {
		t.Fatalf("GraphiQL did not answer: %+v", got)
	}
	if len(got.Blocked) > 0 || len(got.Violations) > 0 {
		t.Fatalf("GraphiQL reached beyond the server %v or broke its policy %v", got.Blocked, got.Violations)
	}
	if len(got.Errors) > 0 {
		t.Logf("console errors: %v", got.Errors)
	}
}
