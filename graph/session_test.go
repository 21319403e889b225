package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/graph"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestSignOutEndsOpenSockets: after signOut an open websocket still ran
// queries and private subscriptions. Now the next operation on it is
// UNAUTHENTICATED and the socket closes within a few seconds — whether the
// token came in connection_init or in the upgrade request's Authorization
// header (which was never checked again).
func TestSignOutEndsOpenSockets(t *testing.T) {
	for _, how := range []string{"init", "header"} {
		t.Run(how, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{})
			tok, _ := e.SignUp(t, "leaver@session.example")
			var w *wsClient
			if how == "init" {
				w = dialWS(t, e, tok)
			} else {
				w = dialWSHeader(t, e, tok)
			}
			signOutEndsSocket(t, e, tok, w)
		})
	}
}

// dialWSHeader opens a graphql-transport-ws socket authenticated by the
// upgrade request's Authorization header, with an empty connection_init.
func dialWSHeader(t *testing.T, e *graphtest.Env, token string) *wsClient {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(e.URL, "http"), http.Header{"Authorization": {"Bearer " + token}})
	graphtest.Must(t, err)
	t.Cleanup(func() { c.Close() })
	w := &wsClient{t: t, c: c}
	w.send(map[string]any{"type": "connection_init"})
	if m := w.recv(); m["type"] != "connection_ack" {
		t.Fatalf("init: %v", m)
	}
	return w
}

func signOutEndsSocket(t *testing.T, e *graphtest.Env, tok string, w *wsClient) {
	w.subscribe("me1", `{ viewer { email } }`, nil)
	if got := w.next("me1"); !strings.Contains(got, "leaver@session.example") {
		t.Fatalf("signed in over the socket: %s", got)
	}
	e.Do(t, tok, `mutation { signOut { ok } }`, nil).Decode(t, &struct{}{})

	w.subscribe("me2", `{ viewer { email } }`, nil)
	var refused bool
	for deadline := time.Now().Add(msgWait); !refused; {
		m := w.recvBefore(deadline)
		if m["id"] != "me2" {
			continue
		}
		b, _ := json.Marshal(m)
		if strings.Contains(string(b), "leaver@") {
			t.Fatalf("a signed-out socket still answered: %s", b)
		}
		refused = strings.Contains(string(b), "UNAUTHENTICATED")
		if !refused {
			t.Fatalf("want UNAUTHENTICATED, got %s", b)
		}
	}
	// And the socket goes away by itself.
	graphtest.Must(t, w.c.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		var m map[string]any
		if err := w.c.ReadJSON(&m); err != nil {
			if strings.Contains(err.Error(), "timeout") {
				t.Fatalf("the socket of a signed-out session stayed open: %v", err)
			}
			return
		}
	}
}

// TestConnectionLimits: 30 anonymous websockets held 2,000 goroutines and
// SSE had no limit. Sockets and streams from one address are capped (429
// RATE_LIMITED before any upgrade), a slot comes back when one closes, and
// one socket runs a bounded number of operations at once.
func TestConnectionLimits(t *testing.T) {
	cfg := graph.DefaultConfig()
	cfg.MaxConnectionsPerIP = 3
	e := graphtest.New(t, graphtest.Options{Config: &cfg})
	url := "ws" + strings.TrimPrefix(e.URL, "http")
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	var open []*websocket.Conn
	for range 3 {
		c, _, err := d.Dial(url, nil)
		graphtest.Must(t, err)
		open = append(open, c)
	}
	_, res, err := d.Dial(url, nil)
	if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a fourth socket from one address: %v %v, want 429", err, res)
	}
	b, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(b), "RATE_LIMITED") {
		t.Fatalf("refusal without RATE_LIMITED: %s", b)
	}
	// SSE counts against the same limit.
	req, _ := http.NewRequest("POST", e.URL, strings.NewReader(`{"query":"subscription { __typename }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	sse, err := http.DefaultClient.Do(req)
	graphtest.Must(t, err)
	sse.Body.Close()
	if sse.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("an SSE stream over the limit: %d, want 429", sse.StatusCode)
	}
	open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := d.Dial(url, nil)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot of a closed socket never came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range open[1:] {
		c.Close()
	}
}
