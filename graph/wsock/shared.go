package wsock

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/merchd/merchd/graph/realtime"
)

// Encode once, send to many. When a stock counter changes during a drop,
// thousands of anonymous subscribers run the same operation on the same
// value: executing it and encoding the JSON for each of them was most of
// a fan-out's CPU. Subscriptions whose response depends on nothing but the
// operation and the value (Config.Share says which connections qualify,
// e.g. anonymous ones) and whose Watch names its values (one topic) join a
// group keyed by the class, the operation and its variables. For each
// value, the first member to send it executes and encodes the response;
// the others wait for those bytes, drop the value from their channel
// unread (realtime.Ready.Skip) and send the bytes under their own id.
// Whatever cannot be shared exactly — a value replaced while the first
// member executed it, a member holding an older or newer value — falls
// back to the member's own execution, so sharing changes the cost of a
// delivery, never its content.

// groups are the share groups of one transport.
type groups struct {
	mu sync.Mutex
	m  map[string]*group
	// canon remembers each query text's canonical form (its parsed document
	// formatted), so copies of one operation spelt differently share a
	// group; bounded by maxCanon, then started afresh.
	canon map[string]string
}

// maxCanon bounds the remembered canonical query texts, and
// maxCanonQuery the length of a query text and of its canonical form
// remembered (a longer one is formatted at each subscribe): at most 8 MiB.
const (
	maxCanon      = 256
	maxCanonQuery = 16 << 10
)

// group is one shared operation's members and its latest encoding.
type group struct {
	key  string
	refs int      // members
	cur  *encoded // the latest value's encoding (nil: none yet)
}

// encoded is one value's response, once encoded (done closed).
type encoded struct {
	id      realtime.ValueID
	done    chan struct{}
	payload []byte // nil: not shareable; each member executes its own
}

// key is the group of an operation on a connection of class: the
// operation's canonical text (whitespace, comments and commas do not
// split a group), its name and its variables.
func (gs *groups) key(class string, rc *graphql.OperationContext) (string, bool) {
	if rc.Operation == nil || rc.Operation.Operation != ast.Subscription || rc.Doc == nil {
		return "", false
	}
	vars, err := json.Marshal(rc.Variables) // map keys sorted: one spelling
	if err != nil {
		return "", false
	}
	gs.mu.Lock()
	text, ok := gs.canon[rc.RawQuery]
	gs.mu.Unlock()
	if !ok {
		var b strings.Builder
		formatter.NewFormatter(&b, formatter.WithIndent("")).FormatQueryDocument(rc.Doc)
		text = b.String()
		if len(rc.RawQuery) <= maxCanonQuery && len(text) <= maxCanonQuery {
			gs.mu.Lock()
			if gs.canon == nil || len(gs.canon) >= maxCanon {
				gs.canon = map[string]string{}
			}
			gs.canon[rc.RawQuery] = text
			gs.mu.Unlock()
		}
	}
	return class + "\x00" + rc.OperationName + "\x00" + text + "\x00" + string(vars), true
}

// join adds a member to the group of key (made on first use).
func (gs *groups) join(key string) *group {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.m == nil {
		gs.m = map[string]*group{}
	}
	g := gs.m[key]
	if g == nil {
		g = &group{key: key}
		gs.m[key] = g
	}
	g.refs++
	return g
}

// leave removes a member; the last one out drops the group.
func (gs *groups) leave(g *group) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if g.refs--; g.refs == 0 {
		delete(gs.m, g.key)
	}
}

// claim returns the encoding of value id: leader says the caller is to
// produce it (and must call publish). nil: id is older than the group's
// latest value, so the caller executes its own.
func (gs *groups) claim(g *group, id realtime.ValueID) (e *encoded, leader bool) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if g.cur != nil && g.cur.id == id {
		return g.cur, false
	}
	if g.cur != nil && !id.After(g.cur.id) {
		return nil, false
	}
	g.cur = &encoded{id: id, done: make(chan struct{})}
	return g.cur, true
}

// publish hands the encoding to the members waiting for it.
func (e *encoded) publish(payload []byte) {
	e.payload = payload
	close(e.done)
}

// sharedNext sends o's next value from its group's encoding when it can:
// true when the value was sent (or o ended), false when o must execute
// its own.
func (o *op) sharedNext(rc *graphql.OperationContext) (handled bool) {
	id, ok := o.shared.Head()
	if !ok {
		return false
	}
	gs := &o.c.t.groups
	e, leader := gs.claim(o.group, id)
	if e == nil {
		return false
	}
	if !leader {
		select {
		case <-e.done:
		case <-o.ctx.Done():
			return false
		}
		if e.payload == nil || !o.shared.Skip(id) {
			return false
		}
		o.c.t.sharedSends.Add(1)
		o.c.sendPayload(o, e.payload)
		return true
	}
	// The encoding is published before the leader's own write: a leader
	// whose client does not read must not hold the others up for the
	// write timeout. Published nil (each member executes its own) when
	// next panics, ends the stream or the encoding fails.
	published := false
	publish := func(b []byte) {
		if !published {
			published = true
			e.publish(b)
		}
	}
	defer publish(nil)
	var resp *graphql.Response
	if !o.guard(rc, func() { resp = o.next(o.ctx) }) {
		return true
	}
	if resp == nil {
		publish(nil)
		o.finish()
		return true
	}
	b, err := json.Marshal(resp)
	if err != nil {
		publish(nil)
		o.c.sendErrors(o.id, encodeFailed)
		return true
	}
	// Shared only if next surely took value id (had a later value been put
	// in the channel meanwhile, next may have taken that one instead), and
	// ran to its end: a leader stopped or gone mid-execution may hold its
	// context's errors, which are no one else's.
	if last, _ := o.shared.Head(); last == id && o.ctx.Err() == nil {
		publish(b)
	} else {
		publish(nil)
	}
	o.c.t.ownSends.Add(1)
	o.c.sendPayload(o, b)
	return true
}

// shareable is Config.Share's answer for ctx ("" and false: none).
func (t *Transport) shareable(ctx context.Context) (string, bool) {
	if t.cfg.Share == nil {
		return "", false
	}
	return t.cfg.Share(ctx)
}
