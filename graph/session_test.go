package graph_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
)

// TestSignOutEndsOpenSockets: after signOut an open websocket still ran
// queries and private subscriptions. Now the next operation on it is
// UNAUTHENTICATED and the socket closes within a few seconds.
func TestSignOutEndsOpenSockets(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	tok, _ := e.SignUp(t, "leaver@session.example")
	w := dialWS(t, e, tok)
	w.subscribe("me1", `{ viewer { email } }`, nil)
	if got := w.next("me1"); !strings.Contains(got, "leaver@session.example") {
		t.Fatalf("signed in over the socket: %s", got)
	}
	e.Do(t, tok, `mutation { signOut { ok } }`, nil).Decode(t, &struct{}{})

	w.subscribe("me2", `{ viewer { email } }`, nil)
	var refused bool
	for !refused {
		m := w.recv()
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
