// Package wsock is merchd's GraphQL-over-websocket transport: it speaks
// graphql-transport-ws and the legacy graphql-ws on gorilla/websocket, and
// gqlgen executes the operations.
//
// It is built to hold many idle subscribers cheaply. The upgrade hijacks
// the connection and the HTTP handler returns, so net/http's goroutine and
// its 4 KiB buffer pair go away; each socket then has one goroutine parked
// in a read on a 256-byte buffer, and writes borrow a buffer from a shared
// pool only while they write. Timers (init timeout, keep-alive) are runtime
// timers, not goroutines. A subscription whose resolver watches the broker
// (realtime.Watch) has no goroutine of its own while idle: the broker
// announces each value (realtime.WithReady) and a short-lived goroutine
// runs the subscription's next step, which finds the value waiting. Other
// subscriptions, queries and mutations run on a goroutine each, as in
// gqlgen's transport.
package wsock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/merchd/merchd/graph/realtime"
)

// Subprotocols, in the server's order of preference.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws"
)

// Close codes of graphql-transport-ws (and used alike for graphql-ws).
const (
	CloseNormal           = 1000
	CloseGoingAway        = 1001
	CloseBadMessage       = 4400
	CloseUnauthorized     = 4401
	CloseForbidden        = 4403
	CloseBadSubprotocol   = 4406
	CloseInitTimeout      = 4408
	CloseDuplicateID      = 4409
	CloseTooManyInits     = 4429
	CloseInternal         = 4500
	closeControlFrameWait = time.Second
)

// CloseError is an Init refusal: the socket is closed with Code and Reason.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return e.Reason }

// Config is the transport's behaviour.
type Config struct {
	// Init authenticates a connection_init payload and returns the
	// connection's context; its end (a revoked session) closes the socket
	// with 4403. A *CloseError refusal closes the socket with its code;
	// another error with 4403 and its text.
	Init func(ctx context.Context, payload map[string]any) (context.Context, error)
	// CheckOrigin vets the upgrade request (nil: any).
	CheckOrigin func(*http.Request) bool
	// InitTimeout is how long a socket may stay open without
	// connection_init (closed with 4408).
	InitTimeout time.Duration
	// KeepAlive is the interval of server pings (graphql-transport-ws
	// "ping", graphql-ws "ka"); 0: none.
	KeepAlive time.Duration
	// WriteTimeout bounds one message's write: a client that does not read
	// for that long is disconnected, holding up no one else.
	WriteTimeout time.Duration
	// ReadLimit bounds one message from the client (bytes).
	ReadLimit int64
	// Share names the class of a connection (its Init context) whose
	// subscriptions' responses depend on nothing but the operation and the
	// value, so one encoding serves every subscriber of the class running
	// the same operation (shared.go). ok false, or a nil Share: none.
	Share func(ctx context.Context) (class string, ok bool)
}

// Transport is a gqlgen transport (handler.Server.AddTransport).
type Transport struct {
	cfg    Config
	up     websocket.Upgrader
	groups groups
	// Subscription values sent from a group's encoding, and executed and
	// encoded for one subscriber.
	sharedSends, ownSends atomic.Uint64

	// The open sockets, so that GoingAway can close them: net/http's
	// Shutdown does not see hijacked connections.
	mu        sync.Mutex
	conns     map[*conn]struct{}
	goingAway bool
}

// GoingAway closes every socket with 1001 (going away), and every later
// one at once: the server is shutting down, and clients should reconnect
// to another replica or after the restart. On each socket, subscriptions
// end (complete) at once and new operations are refused, while queries and
// mutations already running finish and send their answer, until ctx ends.
// It returns when every socket is closed.
func (t *Transport) GoingAway(ctx context.Context) {
	t.mu.Lock()
	t.goingAway = true
	conns := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.goAway(ctx) })
	}
	wg.Wait()
}

// goAway ends c for shutdown (GoingAway).
func (c *conn) goAway(ctx context.Context) {
	c.mu.Lock()
	c.leaving = true
	var subs []*op
	for _, o := range c.ops {
		if o.sub {
			subs = append(subs, o)
		}
	}
	c.mu.Unlock()
	for _, o := range subs {
		o.finish()
	}
	for {
		c.mu.Lock()
		busy := len(c.ops) > 0 && !c.closed
		c.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-ctx.Done():
			c.close(CloseGoingAway, "server shutting down")
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	c.close(CloseGoingAway, "server shutting down")
}

// Encodings counts the subscription values sent so far: shared, from an
// encoding made for another subscriber of the same operation; own,
// executed and encoded for that subscriber alone.
func (t *Transport) Encodings() (shared, own uint64) {
	return t.sharedSends.Load(), t.ownSends.Load()
}

// Groups is how many share groups have members now.
func (t *Transport) Groups() int {
	t.groups.mu.Lock()
	defer t.groups.mu.Unlock()
	return len(t.groups.m)
}

var _ graphql.Transport = (*Transport)(nil)

// writePool lends write buffers to all sockets: an idle one holds none.
var writePool = &sync.Pool{}

// New returns the transport.
func New(cfg Config) *Transport {
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = 1 << 20
	}
	check := cfg.CheckOrigin
	if check == nil {
		check = func(*http.Request) bool { return true }
	}
	return &Transport{cfg: cfg, conns: map[*conn]struct{}{}, up: websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   256,
		WriteBufferSize:  4096,
		WriteBufferPool:  writePool,
		CheckOrigin:      check,
		Subprotocols:     []string{TransportWS, LegacyWS},
	}}
}

type releaseKey struct{}

// WithRelease hands the transport f, which it calls once when the socket
// is gone or was never opened (a connection slot, say).
func WithRelease(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, releaseKey{}, f)
}

// Supports claims websocket upgrades.
func (t *Transport) Supports(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// Do upgrades the request and returns: the socket lives on its own.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	release, _ := r.Context().Value(releaseKey{}).(func())
	if release == nil {
		release = func() {}
	}
	ws, err := t.up.Upgrade(w, r, nil) // answers the refusal itself
	if err != nil {
		release()
		return
	}
	base, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c := &conn{t: t, ws: ws, exec: exec, base: base, cancelBase: cancel, release: release, ops: map[string]*op{}}
	t.mu.Lock()
	goingAway := t.goingAway
	if !goingAway {
		t.conns[c] = struct{}{}
	}
	t.mu.Unlock()
	if goingAway {
		c.close(CloseGoingAway, "server shutting down")
		return
	}
	switch ws.Subprotocol() {
	case TransportWS:
	case LegacyWS:
		c.legacy = true
	default:
		if r.Header.Get("Sec-WebSocket-Protocol") != "" {
			c.close(CloseBadSubprotocol, "Subprotocol not acceptable")
			return
		}
		c.legacy = true // no subprotocol asked: gqlgen's default was graphql-ws
	}
	ws.SetReadLimit(t.cfg.ReadLimit)
	c.mu.Lock()
	c.timer = time.AfterFunc(t.cfg.InitTimeout, c.tick)
	c.mu.Unlock()
	go c.read()
}

// conn is one socket.
type conn struct {
	t          *Transport
	ws         *websocket.Conn
	exec       graphql.GraphExecutor
	legacy     bool
	base       context.Context
	cancelBase context.CancelFunc
	release    func()
	wmu        sync.Mutex // one writer at a time

	mu     sync.Mutex
	state  int // stateWaiting, stateIniting, stateReady
	ctx    context.Context
	ops    map[string]*op
	timer  *time.Timer
	closed bool
	// leaving: the server is shutting down (goAway); no new operation.
	leaving bool
}

const (
	stateWaiting = iota
	stateIniting
	stateReady
)

// read is the socket's one goroutine: it waits for messages and handles
// each on a short-lived goroutine, so that its own stack stays small.
func (c *conn) read() {
	defer c.close(0, "")
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		// A fresh slice per message: an idle socket keeps no buffer of it.
		msg, err := io.ReadAll(r)
		if err != nil {
			return // too long (gorilla closes with 1009) or a broken socket
		}
		done := make(chan bool, 1)
		go func() { done <- c.handle(msg) }()
		if !<-done {
			return
		}
	}
}

type inbound struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// handle reports whether the socket stays open.
func (c *conn) handle(data []byte) bool {
	var m inbound
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		return c.refuse(CloseBadMessage, "Invalid message received")
	}
	switch {
	case m.Type == "connection_init":
		return c.init(m.Payload)
	case m.Type == "subscribe" && !c.legacy, m.Type == "start" && c.legacy:
		return c.subscribe(m.ID, m.Payload)
	case m.Type == "complete" && !c.legacy, m.Type == "stop" && c.legacy:
		c.stop(m.ID)
		return true
	case m.Type == "ping" && !c.legacy:
		c.write(envelope("pong", "", m.Payload))
		return true
	case m.Type == "pong" && !c.legacy:
		return true
	case m.Type == "connection_terminate" && c.legacy:
		c.close(CloseNormal, "terminated")
		return false
	}
	return c.refuse(CloseBadMessage, "Invalid message received: unexpected type "+m.Type)
}

// refuse closes the socket (graphql-ws hears why first) and reports false.
func (c *conn) refuse(code int, reason string) bool {
	if c.legacy {
		b, _ := json.Marshal(map[string]string{"message": reason})
		c.write(envelope("connection_error", "", b))
	}
	c.close(code, reason)
	return false
}

func (c *conn) init(payload json.RawMessage) bool {
	c.mu.Lock()
	if c.state != stateWaiting {
		c.mu.Unlock()
		return c.refuse(CloseTooManyInits, "Too many initialisation requests")
	}
	c.state = stateIniting
	c.mu.Unlock()
	p := map[string]any{}
	if len(payload) > 0 && string(payload) != "null" {
		if err := json.Unmarshal(payload, &p); err != nil {
			return c.refuse(CloseBadMessage, "Invalid message received: connection_init's payload must be an object")
		}
	}
	ctx := c.base
	if c.t.cfg.Init != nil {
		var err error
		ctx, err = c.t.cfg.Init(c.base, p)
		if err != nil {
			var ce *CloseError
			if !errors.As(err, &ce) {
				ce = &CloseError{Code: CloseForbidden, Reason: err.Error()}
			}
			return c.refuse(ce.Code, ce.Reason)
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.ctx, c.state = ctx, stateReady
	c.mu.Unlock()
	// The connection's context ends with a revoked session (or with the
	// socket, when this is a no-op).
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if !closed {
			c.refuse(CloseForbidden, "Forbidden: your session ended")
		}
	})
	c.write(envelope("connection_ack", "", nil))
	if c.legacy {
		c.write(envelope("ka", "", nil))
	}
	c.mu.Lock()
	if !c.closed && c.t.cfg.KeepAlive > 0 {
		c.timer.Reset(c.t.cfg.KeepAlive)
	} else {
		c.timer.Stop()
	}
	c.mu.Unlock()
	return true
}

// tick is the socket's timer: the init timeout, then each keep-alive.
func (c *conn) tick() {
	c.mu.Lock()
	state, closed := c.state, c.closed
	c.mu.Unlock()
	switch {
	case closed:
	case state == stateWaiting:
		c.refuse(CloseInitTimeout, "Connection initialisation timeout")
	case state == stateReady && c.t.cfg.KeepAlive > 0:
		if c.legacy {
			c.write(envelope("ka", "", nil))
		} else {
			c.write(envelope("ping", "", nil))
		}
		c.mu.Lock()
		if !c.closed {
			c.timer.Reset(c.t.cfg.KeepAlive)
		}
		c.mu.Unlock()
	}
}

// op is one running operation.
type op struct {
	c      *conn
	id     string
	cancel context.CancelFunc
	// under c.mu:
	pending int  // values announced and not yet sent
	running bool // a goroutine is sending
	done    bool // stopped or finished: send nothing more
	sub     bool // a subscription (known once parsed)
	next    graphql.ResponseHandler
	ctx     context.Context
	// A shared operation's group and its values' names (nil: not shared).
	group  *group
	shared *realtime.Ready
	left   bool // under c.mu: o has left its group
}

// leaveLocked takes o out of its group once it ends (c.mu held).
func (o *op) leaveLocked() {
	if o.group != nil && !o.left {
		o.left = true
		o.c.t.groups.leave(o.group)
	}
}

func (c *conn) subscribe(id string, payload json.RawMessage) bool {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return false
	case c.state != stateReady:
		c.mu.Unlock()
		return c.refuse(CloseUnauthorized, "Unauthorized")
	case id == "":
		c.mu.Unlock()
		return c.refuse(CloseBadMessage, "Invalid message received: an operation needs an id")
	case c.ops[id] != nil:
		c.mu.Unlock()
		return c.refuse(CloseDuplicateID, "Subscriber for "+id+" already exists")
	case c.leaving:
		c.mu.Unlock()
		c.sendErrors(id, gqlerror.List{{Message: "the server is shutting down: reconnect and send it again", Extensions: map[string]any{"code": "UNAVAILABLE"}}})
		return true
	}
	o := &op{c: c, id: id}
	c.ops[id] = o
	connCtx := c.ctx
	c.mu.Unlock()

	start := graphql.Now()
	ctx := graphql.StartOperationTrace(connCtx)
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		c.sendErrors(id, gqlerror.List{{Message: "invalid json"}})
		o.finish()
		return true
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs == nil && rc.Operation != nil && rc.Operation.Operation == ast.Subscription {
		c.mu.Lock()
		o.sub = true
		leaving := c.leaving
		c.mu.Unlock()
		if leaving { // shutting down: a stream would be cut at once
			o.finish()
			return true
		}
	}
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			c.sendErrors(id, resp.Errors)
		} else {
			c.sendResponse(o, &graphql.Response{Errors: errs})
		}
		o.finish()
		return true
	}
	ctx, cancel := context.WithCancel(graphql.WithOperationContext(ctx, rc))
	ctx, ready := realtime.WithReady(ctx, o.ready)
	c.mu.Lock()
	o.cancel = cancel
	stopped := o.done
	c.mu.Unlock()
	if stopped { // closed meanwhile
		cancel()
		return true
	}
	var next graphql.ResponseHandler
	if !o.guard(rc, func() { next, ctx = c.exec.DispatchOperation(ctx, rc) }) {
		return true
	}
	if !ready.Claimed() {
		go o.loop(rc, next, ctx)
		return true
	}
	var g *group
	if class, ok := c.t.shareable(connCtx); ok {
		if key, ok := c.t.groups.key(class, rc); ok {
			g = c.t.groups.join(key)
		}
	}
	c.mu.Lock()
	o.next, o.ctx = next, ctx
	if g != nil {
		o.group, o.shared = g, ready
		if o.done { // stopped meanwhile
			o.leaveLocked()
		}
	}
	c.startLocked(o)
	c.mu.Unlock()
	return true
}

// ready is the broker's word that one more value waits for o.
func (o *op) ready() {
	o.c.mu.Lock()
	o.pending++
	o.c.startLocked(o)
	o.c.mu.Unlock()
}

func (c *conn) startLocked(o *op) {
	if o.next != nil && o.pending > 0 && !o.running && !o.done {
		o.running = true
		dispatch(o)
	}
}

// Deliveries run on workers that live on for workerIdle after their last
// one: a fan-out to thousands of subscribers reuses warm goroutines (their
// stacks already grown) instead of starting one each, and an idle server
// keeps none. A worker stuck on a client that does not read never holds
// up the others: when no worker is free, a new one starts.
var work = make(chan *op)

const workerIdle = time.Second

func dispatch(o *op) {
	select {
	case work <- o:
	default:
		go worker(o)
	}
}

func worker(o *op) {
	o.drain()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		select {
		case o := <-work:
			o.drain()
			t.Reset(workerIdle)
		case <-t.C:
			return
		}
	}
}

// drain sends the announced values, then the goroutine ends.
func (o *op) drain() {
	c := o.c
	rc := graphql.GetOperationContext(o.ctx)
	for {
		c.mu.Lock()
		if o.pending == 0 || o.done {
			o.running = false
			c.mu.Unlock()
			return
		}
		o.pending--
		c.mu.Unlock()
		if o.group != nil && o.sharedNext(rc) {
			continue
		}
		var resp *graphql.Response
		if !o.guard(rc, func() { resp = o.next(o.ctx) }) {
			return
		}
		if resp == nil {
			o.finish()
			return
		}
		c.t.ownSends.Add(1)
		c.sendResponse(o, resp)
	}
}

// loop runs an operation that does not announce its values: a query, a
// mutation, a refusal, or a stream of another kind.
func (o *op) loop(rc *graphql.OperationContext, next graphql.ResponseHandler, ctx context.Context) {
	for {
		var resp *graphql.Response
		if !o.guard(rc, func() { resp = next(ctx) }) {
			return
		}
		if resp == nil {
			o.finish()
			return
		}
		o.c.sendResponse(o, resp)
	}
}

// guard runs f, turning a panic into the operation's error and end.
func (o *op) guard(rc *graphql.OperationContext, f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			err := rc.Recover(o.ctxOr(), r)
			var gerr *gqlerror.Error
			if !errors.As(err, &gerr) {
				gerr = &gqlerror.Error{Message: "internal error"}
			}
			o.c.sendErrors(o.id, gqlerror.List{gerr})
			o.finish()
			ok = false
		}
	}()
	f()
	return true
}

func (o *op) ctxOr() context.Context {
	if o.ctx != nil {
		return o.ctx
	}
	return o.c.base
}

// finish ends o from the server's side: complete, unless the client
// stopped it or the socket is gone.
func (o *op) finish() {
	c := o.c
	c.mu.Lock()
	was := o.done
	o.done = true
	o.leaveLocked()
	if c.ops[o.id] == o {
		delete(c.ops, o.id)
	}
	cancel := o.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if !was {
		c.write(envelope("complete", o.id, nil))
	}
}

// stop ends operation id at the client's word.
func (c *conn) stop(id string) {
	c.mu.Lock()
	o := c.ops[id]
	if o == nil {
		c.mu.Unlock()
		return
	}
	delete(c.ops, id)
	o.done = true
	o.leaveLocked()
	cancel := o.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

var encodeFailed = gqlerror.List{{Message: "internal error: the response could not be encoded"}}

func (c *conn) sendResponse(o *op, resp *graphql.Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		c.sendErrors(o.id, encodeFailed)
		return
	}
	c.sendPayload(o, b)
}

// sendPayload sends an encoded response as o's next message.
func (c *conn) sendPayload(o *op, b []byte) {
	c.mu.Lock()
	done := o.done
	c.mu.Unlock()
	if done {
		return
	}
	t := "next"
	if c.legacy {
		t = "data"
	}
	c.write(envelope(t, o.id, b))
}

func (c *conn) sendErrors(id string, errs gqlerror.List) {
	b, err := json.Marshal(errs)
	if err != nil {
		b = []byte(`[{"message":"internal error"}]`)
	}
	c.write(envelope("error", id, b))
}

// envelope is one protocol message.
func envelope(typ, id string, payload json.RawMessage) []byte {
	b := make([]byte, 0, 32+len(id)+len(payload))
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if id != "" {
		q, _ := json.Marshal(id)
		b = append(b, `,"id":`...)
		b = append(b, q...)
	}
	if len(payload) > 0 {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

// write sends one message; a client that does not take it within the
// write timeout is disconnected.
func (c *conn) write(msg []byte) {
	c.wmu.Lock()
	err := c.ws.SetWriteDeadline(time.Now().Add(c.t.cfg.WriteTimeout))
	if err == nil {
		err = c.ws.WriteMessage(websocket.TextMessage, msg)
	}
	c.wmu.Unlock()
	if err != nil {
		c.close(0, "")
	}
}

// close ends the socket once: the close frame (code 0: none), every
// operation, the connection's context and its slot.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	ops := c.ops
	c.ops = nil
	var cancels []context.CancelFunc
	for _, o := range ops {
		o.done = true
		o.leaveLocked()
		if o.cancel != nil {
			cancels = append(cancels, o.cancel)
		}
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	if code != 0 {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeControlFrameWait))
	}
	_ = c.ws.Close()
	c.t.mu.Lock()
	delete(c.t.conns, c)
	c.t.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
	}
	c.cancelBase()
	c.release()
}
