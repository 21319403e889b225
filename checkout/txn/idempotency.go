package txn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/idempotencykey"
	"github.com/merchd/merchd/ent/viewer"
)

const maxIdempotencyKeyLen = 200

// idempotencyScope is the owner of a key: keys of different viewers never collide.
func idempotencyScope(v viewer.Viewer) string {
	switch v.Role {
	case viewer.Customer:
		return "customer:" + strconv.Itoa(v.CustomerID)
	case viewer.Staff:
		return "staff:" + strconv.Itoa(v.StaffID)
	case viewer.HubToken:
		return "hub:" + v.Hub
	case viewer.System:
		return "system"
	default:
		return "anonymous"
	}
}

func ValidateIdempotencyKey(key string) error {
	if key == "" {
		return checkout.BadInput("idempotencyKey", "is required")
	}
	if len(key) > maxIdempotencyKeyLen {
		return checkout.BadInput("idempotencyKey", "is longer than %d bytes", maxIdempotencyKeyLen)
	}
	for _, r := range key {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return checkout.BadInput("idempotencyKey", "must be printable characters without spaces")
		}
	}
	return nil
}

// Idempotent runs fn in one transaction that first claims (viewer, key) and
// finally records fn's result under it. A replay with the same request returns the
// recorded result without running fn; a replay with a different request fails
// with ErrIdempotencyKeyReused. If fn fails nothing is recorded, so the client
// may retry with the same key.
func Idempotent[T any](ctx context.Context, db *ent.Client, op, key string, req any, fn func(ctx context.Context, tx *ent.Tx) (T, error)) (T, error) {
	return IdempotentChecked(ctx, db, op, key, req, nil, fn)
}

// IdempotentChecked is idempotent with a read-only precheck that runs after
// a replay miss and before any write transaction opens: refusals it returns
// (a sold-out drop, say) cost no write lock.
func IdempotentChecked[T any](ctx context.Context, db *ent.Client, op, key string, req any, pre func() error, fn func(ctx context.Context, tx *ent.Tx) (T, error)) (T, error) {
	return IdempotentBatched(ctx, db, op, key, req, pre, nil, fn)
}

// IdempotentBatched is IdempotentChecked whose write may run in a group
// commit: after a replay miss and a passed precheck, batch gets the claim
// to make inside a shared transaction (ClaimAll, RecordAll) and answers
// with the result, or handled=false when the request must run alone —
// then fn runs as in IdempotentChecked (claim, run, record in its own
// transaction). A nil batch always runs alone.
func IdempotentBatched[T any](ctx context.Context, db *ent.Client, op, key string, req any, pre func() error,
	batch func(Claim) (T, bool, error), fn func(ctx context.Context, tx *ent.Tx) (T, error)) (T, error) {
	var zero T
	if err := ValidateIdempotencyKey(key); err != nil {
		return zero, err
	}
	reqJSON, err := json.Marshal(struct {
		Op  string
		Req any
	}{op, req})
	if err != nil {
		return zero, fmt.Errorf("txn: %s: encode request: %w", op, err)
	}
	sum := sha256.Sum256(reqJSON)
	scope := idempotencyScope(viewer.FromContext(ctx))
	sys := viewer.SystemContext(ctx)

	// The precheck runs first: a refusal then costs one replay read (a key
	// that already has a result — or a duplicate that committed meanwhile
	// and took the last unit — answers with that result, not the refusal),
	// and a pass costs the replay it always did.
	f := flights.enter(op + "\x00" + scope + "\x00" + key)
	defer f.leave()
	if pre != nil {
		if err := pre(); err != nil {
			if res, found, rerr := replay[T](sys, db, scope, key, sum[:]); found || rerr != nil {
				return res, rerr
			}
			// A twin of this call in flight here may have passed its
			// precheck just after ours refused (a unit came back) and be
			// about to commit: its result, not our refusal, is the key's
			// answer. Wait for the twins, then look again.
			if f.waitOthers(ctx) {
				if res, found, rerr := replay[T](sys, db, scope, key, sum[:]); found || rerr != nil {
					return res, rerr
				}
			}
			return zero, err
		}
	}
	if res, found, err := replay[T](sys, db, scope, key, sum[:]); found || err != nil {
		return res, err
	}

	if batch != nil {
		if res, handled, err := batch(Claim{Op: op, Key: key, Scope: scope, Hash: sum[:]}); handled {
			return res, err
		}
	}
	return retried(ctx, func() (T, error) { return claimAndRun(ctx, db, op, key, scope, sum[:], fn) })
}

// flights counts, per operation, scope and key, the calls in flight in
// this process that are still working (not waiting on a twin).
var flights = flightTable{m: map[string]*flight{}}

type flightTable struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	t       *flightTable
	key     string
	active  int           // calls working (under t.mu)
	users   int           // calls holding this entry (under t.mu)
	changed chan struct{} // closed and replaced when active drops
}

// call is one call's handle on its key's flight.
type call struct {
	f       *flight
	waiting bool
}

func (t *flightTable) enter(k string) *call {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[k]
	if f == nil {
		f = &flight{t: t, key: k, changed: make(chan struct{})}
		t.m[k] = f
	}
	f.active++
	f.users++
	return &call{f: f}
}

// drop takes one from active and wakes the waiters (under t.mu).
func (f *flight) drop() {
	f.active--
	close(f.changed)
	f.changed = make(chan struct{})
}

func (c *call) leave() {
	t := c.f.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if !c.waiting {
		c.f.drop()
	}
	if c.f.users--; c.f.users == 0 {
		delete(t.m, c.f.key)
	}
}

// maxTwinWait bounds how long a refusal waits for its twins.
const maxTwinWait = 10 * time.Second

// waitOthers waits until no other call with this key is working here, and
// reports whether there were any. Waiting calls do not count, so refused
// twins never wait on each other.
func (c *call) waitOthers(ctx context.Context) bool {
	t := c.f.t
	t.mu.Lock()
	c.waiting = true
	c.f.drop()
	others := c.f.active > 0
	t.mu.Unlock()
	deadline := time.NewTimer(maxTwinWait)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		if c.f.active == 0 {
			t.mu.Unlock()
			return others
		}
		ch := c.f.changed
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return others
		case <-deadline.C:
			return others
		}
	}
}

// claimAndRun is one attempt of an idempotent operation: claim the key,
// run fn, record its result, in one transaction.
func claimAndRun[T any](ctx context.Context, db *ent.Client, op, key, scope string, sum []byte,
	fn func(ctx context.Context, tx *ent.Tx) (T, error)) (T, error) {
	var zero T
	sys := viewer.SystemContext(ctx)
	tx, err := db.Tx(ctx)
	if err != nil {
		return zero, fmt.Errorf("txn: %s: begin: %w", op, err)
	}
	// The key is claimed first, before any side effect, in the same
	// transaction as the work. A concurrent request with the same key waits
	// on the unique index (PostgreSQL) or the write lock (SQLite) until this
	// one commits, then fails to claim and replays our result; if we roll
	// back, the claim goes with everything else and the key is free again.
	claim, err := tx.IdempotencyKey.Create().
		SetScope(scope).SetKey(key).SetOperation(op).SetRequestHash(sum).SetResponse([]byte{}).
		Save(sys)
	if err != nil {
		_ = tx.Rollback()
		if ent.IsConstraintError(err) {
			if res, found, err := replay[T](sys, db, scope, key, sum); found || err != nil {
				return res, err
			}
			return zero, checkout.ErrIdempotencyInProgress
		}
		return zero, fmt.Errorf("txn: %s: claim idempotency key: %w", op, err)
	}
	res, err := fn(ctx, tx)
	if err != nil {
		_ = tx.Rollback()
		return zero, wrapOp(op, err)
	}
	out, err := json.Marshal(res)
	if err != nil {
		_ = tx.Rollback()
		return zero, fmt.Errorf("txn: %s: encode result: %w", op, err)
	}
	if err := tx.IdempotencyKey.UpdateOne(claim).SetResponse(out).Exec(sys); err != nil {
		_ = tx.Rollback()
		return zero, fmt.Errorf("txn: %s: record idempotency result: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return zero, fmt.Errorf("txn: %s: commit: %w", op, err)
	}
	return res, nil
}

func replay[T any](ctx context.Context, db *ent.Client, scope, key string, sum []byte) (T, bool, error) {
	var res T
	rec, err := db.IdempotencyKey.Query().
		Where(idempotencykey.Scope(scope), idempotencykey.Key(key)).
		Only(ctx)
	if ent.IsNotFound(err) {
		return res, false, nil
	}
	if err != nil {
		return res, false, fmt.Errorf("txn: look up idempotency key: %w", err)
	}
	if !bytes.Equal(rec.RequestHash, sum) {
		return res, true, checkout.ErrIdempotencyKeyReused
	}
	if len(rec.Response) == 0 {
		return res, true, checkout.ErrIdempotencyInProgress
	}
	if err := json.Unmarshal(rec.Response, &res); err != nil {
		return res, true, fmt.Errorf("txn: decode recorded result: %w", err)
	}
	return res, true, nil
}
