package graph

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// streamWriter is an SSE stream's response writer. Each write is bounded
// by a deadline, so a client that stops reading is disconnected (as a
// websocket is) instead of holding its handler in a write forever; and
// stop ends a write in progress at once, so that shutdown need not wait
// for a stalled client (cancelling the stream's context does not unblock
// a write).
type streamWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration

	mu      sync.Mutex
	stopped bool
}

var errStreamStopped = errors.New("graph: stream stopped: the server is shutting down")

func newStreamWriter(w http.ResponseWriter, timeout time.Duration) *streamWriter {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &streamWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout}
}

// arm sets the deadline of the next write, or reports false once stopped.
func (w *streamWriter) arm() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return false
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return true
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if !w.arm() {
		return 0, errStreamStopped
	}
	return w.ResponseWriter.Write(p)
}

func (w *streamWriter) Flush() {
	if w.arm() {
		_ = w.rc.Flush()
	}
}

// stop fails the write in progress and every later one.
func (w *streamWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	_ = w.rc.SetWriteDeadline(time.Now().Add(-time.Second))
}

// Unwrap lets http.ResponseController reach the connection.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// sseStream is one SSE request's part in shutdown: its stream ends at
// once if it carries a subscription, and is left to finish if it carries
// a query or mutation (which answers once, within the request timeout:
// sseOperations).
type sseStream struct {
	mu       sync.Mutex
	sub      bool // the operation is a subscription
	shutdown bool // the server is going away
	end      func()
}

type sseStreamKey struct{}

func (st *sseStream) stopping() {
	st.mu.Lock()
	st.shutdown = true
	sub := st.sub
	st.mu.Unlock()
	if sub {
		st.end()
	}
}

// sseOperations marks an SSE request's subscription (ending it at once
// when the server is already going away), and runs a query or mutation
// sent over SSE under the request timeout, as execute does over POST.
func (s *Server) sseOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	st, _ := ctx.Value(sseStreamKey{}).(*sseStream)
	if st == nil {
		return next(ctx)
	}
	if op := graphql.GetOperationContext(ctx).Operation; op != nil && op.Operation == ast.Subscription {
		st.mu.Lock()
		st.sub = true
		shutdown := st.shutdown
		st.mu.Unlock()
		if shutdown {
			st.end()
		}
		return next(ctx)
	}
	h := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		return h(ctx)
	}
}
