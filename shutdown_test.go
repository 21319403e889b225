package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestShutdownEndsStreams: on SIGTERM, serve completes the subscriptions
// on its websockets and closes them with 1001 (going away), and ends its
// SSE streams, so their clients reconnect
// elsewhere, and stops without waiting out --shutdown-timeout. (net/http's
// Shutdown never sees hijacked websockets and waits for SSE streams until
// its deadline, and then serve reported a failed shutdown.)
func TestShutdownEndsStreams(t *testing.T) {
	base, logs, stop := startServe(t, "--database", "file:"+t.TempDir()+"/merchd.db", "--demo", "--shutdown-timeout", "5s")
	resp, err := http.Post(base+"/query", "application/json", strings.NewReader(`{"query":"{ variants(first: 1) { edges { node { id } } } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	var vs struct {
		Data struct {
			Variants struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&vs)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Data.Variants.Edges) != 1 {
		t.Fatalf("no demo variant: %+v", vs)
	}
	sub := `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available } }`
	vars := map[string]any{"ids": []string{vs.Data.Variants.Edges[0].Node.ID}}

	// A graphql-transport-ws subscriber that has its first value.
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	ws, _, err := d.Dial(strings.Replace(base, "http", "ws", 1)+"/query", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for _, m := range []map[string]any{{"type": "connection_init"}, {"id": "1", "type": "subscribe", "payload": map[string]any{"query": sub, "variables": vars}}} {
		if err := ws.WriteJSON(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"connection_ack", "next"} {
		var m struct{ Type string }
		if err := ws.ReadJSON(&m); err != nil || m.Type != want {
			t.Fatalf("websocket: %+v %v, want %s", m, err, want)
		}
	}

	// An SSE subscriber that has its first value.
	req, _ := http.NewRequest(http.MethodPost, base+"/query", strings.NewReader(mustJSON(map[string]any{"query": sub, "variables": vars})))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	sse, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Body.Close()
	lines := bufio.NewScanner(sse.Body)
	for lines.Scan() && !strings.HasPrefix(lines.Text(), "data:") {
	}
	if !strings.Contains(lines.Text(), "available") {
		t.Fatalf("SSE: first data line %q (%v)", lines.Text(), lines.Err())
	}
	sseEnded := make(chan struct{})
	go func() {
		for lines.Scan() {
		}
		close(sseEnded)
	}()

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	completed := false
	for {
		var m struct{ Type, ID string }
		if err = ws.ReadJSON(&m); err != nil {
			break
		}
		switch {
		case m.Type == "complete" && m.ID == "1":
			completed = true
		case m.Type != "ping": // keep-alives may come
			t.Fatalf("the websocket at shutdown sent %+v", m)
		}
	}
	if !completed {
		t.Fatal("the subscription was not completed before the socket closed")
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("the websocket at shutdown: %v, want a close frame with 1001 (going away)", err)
	}
	select {
	case <-sseEnded:
	case <-time.After(30 * time.Second):
		t.Fatal("the SSE stream did not end at shutdown")
	}
	if err := <-stopped; err != nil {
		t.Fatalf("serve's shutdown with streams open: %v\n%s", err, logs.String())
	}
}
