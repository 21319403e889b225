// Package respcache serves anonymous catalog reads from memory. A response
// is kept under its normalised operation and variables and is good while
// nothing it could show has changed: every committed change that can alter
// a catalog page (stock, a drop, the catalog itself) is announced on the
// same bus that drives subscriptions, and each announcement starts a new
// generation; an entry answers only requests of its own generation. A
// drop opening or closing changes pages with no write, so an entry also
// ends at the next such moment, and after MaxAge whatever happens.
//
// Concurrent misses of one key in one generation run the operation once
// and share its result (a drop's first second is thousands of identical
// catalog requests). Only anonymous requests (no Authorization header)
// that are queries over the public catalog's root fields are considered;
// everything else passes through untouched.
package respcache

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"
)

// Config bounds the cache.
type Config struct {
	// MaxBytes bounds the responses kept (keys included); 0 turns caching off.
	MaxBytes int64
	// MaxAge is an entry's longest life.
	MaxAge time.Duration
	// Now is the clock (drops open and close by it).
	Now func() time.Time
	// NextChange is the first moment after now at which an anonymous
	// catalog response may change with no write (a drop opening, its early
	// window starting, or closing); the zero time when none is scheduled.
	NextChange func(ctx context.Context, now time.Time) (time.Time, error)
}

// Header tells whether a response came from the cache ("hit") or was
// computed and kept ("miss"); absent when the cache did not take part.
const Header = "X-Merchd-Cache"

// Cache is a generation-checked, size-bounded response cache.
type Cache struct {
	cfg Config
	gen atomic.Uint64

	mu      sync.Mutex
	entries map[string]*list.Element // of *entry, by normalised key
	lru     *list.List               // front: most recently used
	bytes   int64
	flights map[flightKey]*flight
	aliases map[[32]byte]string // request body → normalised key ("" = not cacheable)
	next    *nextChange

	hits, misses atomic.Uint64
}

type entry struct {
	key     string
	gen     uint64
	expires time.Time
	ctype   string
	body    []byte
}

type flightKey struct {
	key string
	gen uint64
}

type flight struct {
	done chan struct{}
	e    *entry // nil: the response could not be shared
}

type nextChange struct {
	gen uint64
	at  time.Time // zero: nothing scheduled
}

// maxAliases bounds the body → key map; it is cleared when full.
const maxAliases = 8192

// New returns a cache; with cfg.MaxBytes 0 it serves nothing from memory.
func New(cfg Config) *Cache {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 30 * time.Second
	}
	return &Cache{cfg: cfg, entries: map[string]*list.Element{}, lru: list.New(),
		flights: map[flightKey]*flight{}, aliases: map[[32]byte]string{}}
}

// Changed starts a new generation: every entry made before is stale.
func (c *Cache) Changed() { c.gen.Add(1) }

// Topics reports whether a change announced under these topics can alter
// a catalog response (and starts a new generation if so): stock levels,
// drops, the catalog, and "*" (everything, after a lost link).
func (c *Cache) Topics(topics []string) {
	for _, t := range topics {
		prefix, _, _ := strings.Cut(t, ":")
		switch prefix {
		case "stock", "drop", Topic, "*":
			c.Changed()
			return
		}
	}
}

// Stats are the hits and misses so far.
func (c *Cache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Len is the number of entries and the bytes they hold.
func (c *Cache) Len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}

// Serve answers an anonymous POST whose body is body: from memory when it
// can, else through next (whose response it keeps when that is safe).
// The caller has checked the body's size and that no credentials came.
func (c *Cache) Serve(w http.ResponseWriter, r *http.Request, body []byte, next http.Handler) {
	if c == nil || c.cfg.MaxBytes <= 0 {
		next.ServeHTTP(w, r)
		return
	}
	key := c.keyOf(body)
	if key == "" {
		next.ServeHTTP(w, r)
		return
	}
	// The response's media type follows Accept (application/json or
	// application/graphql-response+json): it is part of the key.
	key += "\x00" + r.Header.Get("Accept")
	gen := c.gen.Load()
	now := c.cfg.Now()
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*entry)
		if e.gen == gen && now.Before(e.expires) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			c.hits.Add(1)
			write(w, e, "hit")
			return
		}
	}
	fk := flightKey{key, gen}
	if f, ok := c.flights[fk]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-r.Context().Done():
			return
		}
		if f.e != nil {
			c.hits.Add(1)
			write(w, f.e, "hit")
			return
		}
		next.ServeHTTP(w, r) // not shareable (an error): run it as its own
		return
	}
	f := &flight{done: make(chan struct{})}
	c.flights[fk] = f
	c.mu.Unlock()
	c.misses.Add(1)

	expires, ok := c.expiry(r.Context(), gen, now)
	// The run is shared: a leader whose client leaves must not cancel it
	// for the others (the handler still applies its own deadline).
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	next.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	var e *entry
	if ok && rec.status == http.StatusOK && !hasErrors(rec.body.Bytes()) && int64(rec.body.Len()) <= c.cfg.MaxBytes/16 {
		e = &entry{key: key, gen: gen, expires: expires, ctype: rec.header.Get("Content-Type"), body: bytes.Clone(rec.body.Bytes())}
	}
	c.mu.Lock()
	delete(c.flights, fk)
	if e != nil && c.gen.Load() == gen {
		c.storeLocked(e)
	}
	c.mu.Unlock()
	f.e = e
	close(f.done)

	for k, v := range rec.header {
		w.Header()[k] = v
	}
	if e != nil {
		w.Header().Set(Header, "miss")
	}
	w.WriteHeader(rec.status)
	w.Write(rec.body.Bytes())
}

// expiry is when an entry made now in generation gen must end.
func (c *Cache) expiry(ctx context.Context, gen uint64, now time.Time) (time.Time, bool) {
	end := now.Add(c.cfg.MaxAge)
	if c.cfg.NextChange == nil {
		return end, true
	}
	c.mu.Lock()
	nc := c.next
	c.mu.Unlock()
	if nc == nil || nc.gen != gen || (!nc.at.IsZero() && !now.Before(nc.at)) {
		at, err := c.cfg.NextChange(ctx, now)
		if err != nil {
			return time.Time{}, false
		}
		nc = &nextChange{gen: gen, at: at}
		c.mu.Lock()
		c.next = nc
		c.mu.Unlock()
	}
	if !nc.at.IsZero() && nc.at.Before(end) {
		end = nc.at
	}
	return end, true
}

func (c *Cache) storeLocked(e *entry) {
	if el, ok := c.entries[e.key]; ok {
		old := el.Value.(*entry)
		c.bytes -= old.size()
		c.lru.Remove(el)
	}
	c.entries[e.key] = c.lru.PushFront(e)
	c.bytes += e.size()
	for c.bytes > c.cfg.MaxBytes && c.lru.Len() > 0 {
		last := c.lru.Back()
		old := last.Value.(*entry)
		c.lru.Remove(last)
		delete(c.entries, old.key)
		c.bytes -= old.size()
	}
}

func (e *entry) size() int64 { return int64(len(e.key) + len(e.body) + len(e.ctype) + 96) }

func write(w http.ResponseWriter, e *entry, how string) {
	if e.ctype != "" {
		w.Header().Set("Content-Type", e.ctype)
	}
	w.Header().Set(Header, how)
	w.WriteHeader(http.StatusOK)
	w.Write(e.body)
}

// hasErrors reports whether a GraphQL response carries errors (such a
// response is never kept: it may be about this caller, a rate limit say).
func hasErrors(body []byte) bool {
	var r struct {
		Errors json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &r) != nil {
		return true
	}
	return len(r.Errors) > 0 && string(r.Errors) != "null"
}

// keyOf is the normalised key of a request body, or "" when the request is
// not a cacheable catalog read. The answer is remembered per body.
func (c *Cache) keyOf(body []byte) string {
	sum := sha256.Sum256(body)
	c.mu.Lock()
	key, seen := c.aliases[sum]
	c.mu.Unlock()
	if seen {
		return key
	}
	key = normalise(body)
	c.mu.Lock()
	if len(c.aliases) >= maxAliases {
		clear(c.aliases)
	}
	c.aliases[sum] = key
	c.mu.Unlock()
	return key
}

// Roots are the root fields whose anonymous answers are the same for every
// anonymous caller and change only with announced writes or the clock.
var Roots = map[string]bool{"products": true, "collections": true, "variants": true, "drops": true, "__typename": true}

// NodeTypes are the types node/nodes may be asked about in a cached read
// (through inline fragments only; other types answer just id/__typename).
var NodeTypes = map[string]bool{"Product": true, "Variant": true, "Collection": true, "Drop": true}

func normalise(body []byte) string {
	var req struct {
		Query         string          `json:"query"`
		OperationName string          `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&req) != nil || req.Query == "" || len(req.Extensions) > 0 && string(req.Extensions) != "null" {
		return ""
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: req.Query})
	if err != nil {
		return ""
	}
	op := operation(doc, req.OperationName)
	if op == nil || op.Operation != ast.Query || !cacheableRoot(op.SelectionSet, doc) {
		return ""
	}
	var vars any
	if len(req.Variables) > 0 {
		d := json.NewDecoder(bytes.NewReader(req.Variables))
		d.UseNumber()
		if d.Decode(&vars) != nil {
			return ""
		}
	}
	canon, err := json.Marshal(vars) // maps marshal with sorted keys
	if err != nil {
		return ""
	}
	var q strings.Builder
	formatter.NewFormatter(&q, formatter.WithIndent("")).FormatQueryDocument(doc)
	sum := sha256.Sum256([]byte(q.String() + "\x00" + req.OperationName + "\x00" + string(canon)))
	return string(sum[:])
}

func operation(doc *ast.QueryDocument, name string) *ast.OperationDefinition {
	if name == "" {
		if len(doc.Operations) != 1 {
			return nil
		}
		return doc.Operations[0]
	}
	return doc.Operations.ForName(name)
}

// cacheableRoot: every root selection is a catalog field, or node/nodes
// asking only about catalog types.
func cacheableRoot(set ast.SelectionSet, doc *ast.QueryDocument) bool {
	for _, s := range set {
		f, ok := s.(*ast.Field)
		if !ok {
			return false
		}
		switch {
		case Roots[f.Name]:
		case f.Name == "node" || f.Name == "nodes":
			if !catalogNodes(f.SelectionSet) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func catalogNodes(set ast.SelectionSet) bool {
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if s.Name != "id" && s.Name != "__typename" {
				return false
			}
		case *ast.InlineFragment:
			if !NodeTypes[s.TypeCondition] {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// recorder keeps a response for sharing.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if !r.wrote {
		r.status, r.wrote = s, true
	}
}
func (r *recorder) Write(b []byte) (int, error) { r.wrote = true; return r.body.Write(b) }
