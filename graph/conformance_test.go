package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/graph/graphtest"
)

// TestGraphQLOverHTTPAudit runs the graphql-http server audit: zero MUST
// violations allowed.
func TestGraphQLOverHTTPAudit(t *testing.T) {
	dir := graphtest.NodeDir(t)
	e := graphtest.New(t, graphtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", filepath.Join(dir, "audit.mjs"), e.URL).CombinedOutput()
	var sum struct {
		Ok, Notice, Warn, Error int
		Failures                []struct{ Status, Name, Reason string }
	}
	if jerr := json.Unmarshal(out, &sum); jerr != nil {
		t.Fatalf("audit output %q: %v (run error %v)", out, jerr, err)
	}
	t.Logf("graphql-http audit: %d ok, %d notice, %d warn, %d error", sum.Ok, sum.Notice, sum.Warn, sum.Error)
	for _, f := range sum.Failures {
		t.Logf("  %s: %s — %s", f.Status, f.Name, f.Reason)
	}
	if sum.Error > 0 || err != nil {
		t.Fatalf("%d MUST violations", sum.Error)
	}
	if sum.Ok < 40 {
		t.Fatalf("only %d audits passed; did the audit reach the server?", sum.Ok)
	}
}

// TestGraphQLWSClient runs an operation through the npm graphql-ws client
// (graphql-transport-ws), authenticated in connection_init.
func TestGraphQLWSClient(t *testing.T) {
	dir := graphtest.NodeDir(t)
	e := graphtest.New(t, graphtest.Options{})
	tok, _ := e.SignUp(t, "ws@example.com")
	wsURL := "ws" + strings.TrimPrefix(e.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", filepath.Join(dir, "ws-query.mjs"), wsURL, tok, "{ viewer { email } }", "0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"email":"ws@example.com"`) {
		t.Fatalf("graphql-ws client: %v\n%s", err, out)
	}
	out, _ = exec.CommandContext(ctx, "node", filepath.Join(dir, "ws-query.mjs"), wsURL, "mcs_forged", "{ viewer { email } }", "0").CombinedOutput()
	if !strings.Contains(string(out), "clientError") || !strings.Contains(string(out), "Forbidden") {
		t.Fatalf("forged token over websocket was not refused:\n%s", out)
	}
}

// TestWebsocketSubprotocols speaks both websocket subprotocols with a
// gorilla client: graphql-transport-ws and the legacy graphql-ws.
func TestWebsocketSubprotocols(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	tok, _ := e.SignUp(t, "gorilla@example.com")
	wsURL := "ws" + strings.TrimPrefix(e.URL, "http")
	for _, tc := range []struct {
		proto, subscribe, next, done string
	}{
		{"graphql-transport-ws", "subscribe", "next", "complete"},
		{"graphql-ws", "start", "data", "complete"},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			d := websocket.Dialer{Subprotocols: []string{tc.proto}}
			c, resp, err := d.Dial(wsURL, nil)
			if err != nil {
				t.Fatalf("dial: %v (%v)", err, resp)
			}
			defer c.Close()
			if c.Subprotocol() != tc.proto {
				t.Fatalf("negotiated %q", c.Subprotocol())
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			send := func(v any) { graphtest.Must(t, c.WriteJSON(v)) }
			recv := func() map[string]any {
				for {
					var m map[string]any
					graphtest.Must(t, c.ReadJSON(&m))
					if m["type"] != "ka" && m["type"] != "ping" {
						return m
					}
				}
			}
			send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + tok}})
			if m := recv(); m["type"] != "connection_ack" {
				t.Fatalf("init: %v", m)
			}
			send(map[string]any{"id": "1", "type": tc.subscribe, "payload": map[string]any{"query": "{ viewer { email } }"}})
			m := recv()
			b, _ := json.Marshal(m)
			if m["type"] != tc.next || !strings.Contains(string(b), "gorilla@example.com") {
				t.Fatalf("result: %s", b)
			}
			if m := recv(); m["type"] != tc.done {
				t.Fatalf("want %s, got %v", tc.done, m)
			}
		})
	}
	t.Run("cross-origin upgrade is refused", func(t *testing.T) {
		h := http.Header{"Origin": {"https://evil.example"}}
		_, resp, err := websocket.DefaultDialer.Dial(wsURL, h)
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-origin dial: %v %v", err, resp)
		}
	})
}
