package graph

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// gorillaWebsocket adapts gorilla/websocket to gqlgen's websocket transport,
// which otherwise uses coder/websocket. It speaks whatever subprotocols gqlgen
// offers (graphql-transport-ws and the legacy graphql-ws).
type gorillaWebsocket struct {
	checkOrigin func(*http.Request) bool
}

var _ transport.WebsocketImplementation = gorillaWebsocket{}

func (g gorillaWebsocket) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Zero sizes make gorilla reuse the 4 KiB read and write buffers the
		// HTTP server already allocated for this connection (they stay
		// alive with it anyway) instead of allocating more per subscriber.
		ReadBufferSize:  0,
		WriteBufferSize: 0,
		CheckOrigin:     g.checkOrigin,
		Subprotocols:    slices.Clone(opts.Subprotocols),
	}
	conn, err := up.Upgrade(w, r, opts.ResponseHeader)
	if err != nil {
		return nil, err
	}
	return &gorillaConn{c: conn}, nil
}

// wsWriteTimeout bounds how long one message may take to reach a client; a
// client that stalls longer is disconnected instead of holding up the sender.
const wsWriteTimeout = 10 * time.Second

type gorillaConn struct {
	c  *websocket.Conn
	mu sync.Mutex // gorilla allows one concurrent writer
}

var (
	_ transport.WebsocketConn          = (*gorillaConn)(nil)
	_ transport.WebsocketReadLimiter   = (*gorillaConn)(nil)
	_ transport.WebsocketReadDeadliner = (*gorillaConn)(nil)
)

func (g *gorillaConn) Close() error { return g.c.Close() }

func (g *gorillaConn) NextReader() (int, io.Reader, error) {
	mt, r, err := g.c.NextReader()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway || ce.Code == websocket.CloseNoStatusReceived) {
			return mt, nil, transport.ErrWebsocketClosed
		}
		return mt, nil, err
	}
	return mt, r, nil
}

func (g *gorillaConn) WriteJSON(v any) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.c.SetWriteDeadline(time.Now().Add(wsWriteTimeout)); err != nil {
		return err
	}
	return g.c.WriteJSON(v)
}

func (g *gorillaConn) WriteClose(code int, msg string) error {
	return g.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, msg), time.Now().Add(time.Second))
}

func (g *gorillaConn) Subprotocol() string { return g.c.Subprotocol() }

func (g *gorillaConn) SetReadLimit(n int64) { g.c.SetReadLimit(n) }

func (g *gorillaConn) SetReadDeadline(t time.Time) error { return g.c.SetReadDeadline(t) }
