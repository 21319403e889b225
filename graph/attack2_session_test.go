package graph_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/graphtest"
)

func viewerOver(t *testing.T, w *wsClient, id string) string {
	t.Helper()
	w.subscribe(id, `{ viewer { email } }`, nil)
	return w.next(id)
}

// Header names one customer, connection_init another: the init's token
// wins, for identity and for the session check (signing the header's user
// out leaves the socket; signing the init's user out ends it with 4403).
func TestAttack2HeaderAndInitDiffer(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	a, _ := e.SignUp(t, "header@mix.example")
	b, _ := e.SignUp(t, "init@mix.example")
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(e.URL, "http"), http.Header{"Authorization": {"Bearer " + a}})
	graphtest.Must(t, err)
	t.Cleanup(func() { c.Close() })
	w := &wsClient{t: t, c: c}
	w.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + b}})
	if m := w.recv(); m["type"] != "connection_ack" {
		t.Fatalf("init: %v", m)
	}
	if got := viewerOver(t, w, "1"); !strings.Contains(got, "init@mix") {
		t.Fatalf("viewer: %s", got)
	}
	e.Do(t, a, `mutation { signOut { ok } }`, nil).Decode(t, &struct{}{})
	time.Sleep(2500 * time.Millisecond)
	if got := viewerOver(t, w, "2"); !strings.Contains(got, "init@mix") {
		t.Fatalf("after the header's user signed out: %s", got)
	}
	e.Do(t, b, `mutation { signOut { ok } }`, nil).Decode(t, &struct{}{})
	if code, _ := closeCodeWithin(t, c, 5*time.Second); code != 4403 {
		t.Fatalf("after the init's user signed out: close %d, want 4403", code)
	}
}

// A staff token in the upgrade's header, revoked; and a customer signed
// in by header over legacy graphql-ws, signed out: both sockets end.
func TestAttack2HeaderRevokedAndLegacy(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	tok, tokenID := scriptToken(t, e, "hdr@audit.example")
	w := dialWSHeader(t, e, tok)
	w.subscribe("s", `{ staffViewer { email } }`, nil)
	if got := w.next("s"); !strings.Contains(got, "hdr@audit") {
		t.Fatalf("staff over header: %s", got)
	}
	e.Staff(t, `mutation($i: RevokeStaffTokenInput!) { revokeStaffToken(input: $i) { ok } }`, map[string]any{"i": map[string]any{"tokenId": tokenID}}, &struct{}{})
	if code, _ := closeCodeWithin(t, w.c, 5*time.Second); code != 4403 {
		t.Errorf("a revoked staff token's header socket: close %d, want 4403", code)
	}

	tok, _ = e.SignUp(t, "legacy@mix.example")
	d := websocket.Dialer{Subprotocols: []string{"graphql-ws"}}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(e.URL, "http"), http.Header{"Authorization": {"Bearer " + tok}})
	graphtest.Must(t, err)
	t.Cleanup(func() { c.Close() })
	graphtest.Must(t, c.WriteJSON(map[string]any{"type": "connection_init"}))
	graphtest.Must(t, c.WriteJSON(map[string]any{"type": "start", "id": "1", "payload": map[string]any{"query": `{ viewer { email } }`}}))
	var sawMe bool
	graphtest.Must(t, c.SetReadDeadline(time.Now().Add(msgWait)))
	for !sawMe {
		_, b, err := c.ReadMessage()
		graphtest.Must(t, err)
		sawMe = strings.Contains(string(b), "legacy@mix")
	}
	e.Do(t, tok, `mutation { signOut { ok } }`, nil).Decode(t, &struct{}{})
	graphtest.Must(t, c.WriteJSON(map[string]any{"type": "start", "id": "2", "payload": map[string]any{"query": `{ viewer { email } }`}}))
	if code, _ := closeCodeWithin(t, c, 5*time.Second); code != 4403 {
		t.Errorf("a legacy header socket after sign-out: close %d, want 4403", code)
	}

	// An invalid header token is refused before the upgrade.
	_, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.URL, "http"), http.Header{"Authorization": {"Bearer " + tok}})
	if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a signed-out token on the upgrade: %v %v, want 401", err, res)
	}
}

// An SSE stream idle for longer than SocketWriteTimeout still gets its
// next value (no stale deadline), and after an SSE answer ends, the same
// keep-alive connection serves the next request past the old deadline.
func TestAttack2SSEIdleAndReuse(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.SocketWriteTimeout = 300 * time.Millisecond
	e := graphtest.New(t, graphtest.Options{Config: &cfg})
	v := newVariant(t, e, 10, 1000, "EUR")
	host := strings.TrimPrefix(strings.TrimSuffix(e.URL, "/query"), "http://")
	c, err := net.Dial("tcp", host)
	graphtest.Must(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	req := func(accept string, body any) {
		b, _ := json.Marshal(body)
		_, err := fmt.Fprintf(c, "POST /query HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: %s\r\nContent-Length: %d\r\n\r\n%s", host, accept, len(b), b)
		graphtest.Must(t, err)
	}
	graphtest.Must(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	req("text/event-stream", map[string]any{"query": stockSub, "variables": map[string]any{"ids": []string{v}}})
	res, err := http.ReadResponse(br, nil)
	graphtest.Must(t, err)
	sc := bufio.NewScanner(res.Body)
	nextData := func() string {
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") {
				return sc.Text()
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return ""
	}
	nextData()
	time.Sleep(time.Second)
	setStock(t, e, v, 7, "idle-1")
	if got := nextData(); !strings.Contains(got, `"available":7`) {
		t.Fatalf("after idling: %s", got)
	}
	c.Close()

	// A query over SSE, then a plain query on the same connection later.
	c2, err := net.Dial("tcp", host)
	graphtest.Must(t, err)
	defer c2.Close()
	c = c2
	br = bufio.NewReader(c)
	graphtest.Must(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	req("text/event-stream", map[string]any{"query": `{ __typename }`})
	res, err = http.ReadResponse(br, nil)
	graphtest.Must(t, err)
	b, err := io.ReadAll(res.Body)
	graphtest.Must(t, err)
	if !bytes.Contains(b, []byte("complete")) {
		t.Fatalf("SSE query: %s", b)
	}
	time.Sleep(time.Second)
	req("application/json", map[string]any{"query": `{ __typename }`})
	res, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the next request on the connection after an SSE answer: %v", err)
	}
	b, _ = io.ReadAll(res.Body)
	if !bytes.Contains(b, []byte("Query")) {
		t.Fatalf("second answer: %s", b)
	}
}

// An SSE stream opened by a signed-in customer ends within a few seconds
// of signing out.
func TestAttack2SSESignOut(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 1000, "EUR")
	tok, _ := e.SignUp(t, "sse@mix.example")
	b, _ := json.Marshal(map[string]any{"query": stockSub, "variables": map[string]any{"ids": []string{v}}})
	r, _ := http.NewRequest(http.MethodPost, e.URL, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "text/event-stream")
	r.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(r)
	graphtest.Must(t, err)
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "data:") {
	}
	e.Do(t, tok, `mutation { signOut { ok } }`, nil).Decode(t, &struct{}{})
	ended := make(chan struct{})
	go func() {
		for sc.Scan() {
		}
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the SSE stream of a signed-out customer stayed open")
	}
}
