package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/merchd/merchd/ent/auditentry"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// heldMutation starts sendTestEmail (its SMTP server holding DATA) with
// send, waits until it is in flight, begins shutdown as serve does
// (GoingAway beside Shutdown), and lets the mail
// server answer 300 ms later. It returns what send got.
func heldMutation(t *testing.T, send func(e *graphtest.Env) string) string {
	e, ms := mailEnv(t, graphtest.Options{}, nil)
	began, release := ms.Hold()
	defer release()
	got := make(chan string, 1)
	go func() { got <- send(e) }()
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("the email never reached DATA")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- shutdownLikeServe(e, 10*time.Second) }()
	time.Sleep(300 * time.Millisecond)
	release()
	var answer string
	select {
	case answer = <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("no answer within 15 s")
	}
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	a, err := e.Client.AuditEntry.Query().Where(auditentry.Operation("sendTestEmail")).Only(viewer.SystemContext(context.Background()))
	graphtest.Must(t, err)
	t.Logf("audit outcome: %s; mails received: %d", a.Outcome, len(ms.Messages()))
	return answer
}

// TestShutdownLetsAnSSEMutationAnswer: "requests in flight finish" at
// shutdown. A mutation over plain POST does; the same mutation sent over
// SSE (POST /query with Accept: text/event-stream, as graphql-sse clients
// send every operation) is an HTTP request in flight too, but GoingAway
// cancels its context and stops its writer at once: the client gets no
// answer and cannot tell whether its write happened.
func TestShutdownLetsAnSSEMutationAnswer(t *testing.T) {
	body, _ := json.Marshal(map[string]any{"query": sendTestEmailMutation, "variables": map[string]any{"to": "owner@shop.example"}})
	for _, accept := range []string{"application/json", "text/event-stream"} {
		t.Run(strings.ReplaceAll(accept, "/", "_"), func(t *testing.T) {
			answer := heldMutation(t, func(e *graphtest.Env) string {
				req, _ := http.NewRequest(http.MethodPost, e.URL, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", accept)
				req.Header.Set("Authorization", "Bearer "+e.StaffToken)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return "error: " + err.Error()
				}
				defer res.Body.Close()
				b, err := io.ReadAll(res.Body)
				if err != nil {
					return "error: " + err.Error() + " after " + string(b)
				}
				return string(b)
			})
			// Answered: the result, or the refusal (the held SMTP server
			// fails the send), either way with the field's outcome.
			if !strings.Contains(answer, "sendTestEmail") && !strings.Contains(answer, "EMAIL_FAILED") {
				t.Fatalf("a mutation in flight at shutdown, over %s, got no answer: %q", accept, answer)
			}
		})
	}
}

// TestShutdownWebsocketMutationInFlight: a mutation sent on a websocket
// just before shutdown. The socket must close with 1001; the client must
// get the mutation's answer first (it was accepted and is running), or it
// cannot know whether its write happened.
func TestShutdownWebsocketMutationInFlight(t *testing.T) {
	var closeErr error
	answer := heldMutation(t, func(e *graphtest.Env) string {
		w := dialWS(t, e, e.StaffToken)
		w.subscribe("m", sendTestEmailMutation, map[string]any{"to": "owner@shop.example"})
		graphtest.Must(t, w.c.SetReadDeadline(time.Now().Add(15*time.Second)))
		var got []string
		for {
			_, b, err := w.c.ReadMessage()
			if err != nil {
				closeErr = err
				return strings.Join(got, "\n")
			}
			got = append(got, string(b))
		}
	})
	var ce *websocket.CloseError
	if !errors.As(closeErr, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("the socket's end: %v, want 1001", closeErr)
	}
	if !strings.Contains(answer, `"next"`) {
		t.Fatalf("the mutation in flight at shutdown got no answer before the socket closed (%v); messages: %q", closeErr, answer)
	}
}
