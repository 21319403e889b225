package carts

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/inventory"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/droppool"
	"github.com/merchd/merchd/ent/viewer"
)

// Group commit. On a hot drop every hold queues on the same stock row and
// pays its own commit; instead, holds of one variant (same drop, same
// channel) that arrive while a batch of them is in flight wait, and the
// first of them runs them all as the next batch in ONE transaction: the
// keys claimed, the carts opened and locked, one conditional decrement of
// stock and pool for the sum that fits, the allowances added, the lines
// inserted and each result recorded — a statement each, not a statement
// per hold. Each caller gets its own answer. The database stays the
// arbiter across replicas: the decrements stay conditional, so a batch
// that meets less stock than it read fails whole and its holds run alone.

// maxBatch bounds one group commit.
const maxBatch = 128

// batchKey is what the holds of one batch share: one stock row and one
// drop pool.
type batchKey struct {
	variant, drop int
	channel       checkout.Channel
}

// holdReq is one addToCart waiting for its batch.
type holdReq struct {
	claim      txn.Claim
	customerID int
	variant    *ent.Variant
	dropID     *int
	limit      int
	channel    checkout.Channel
	quantity   int
	unit       int64
	streamID   *int
	ttl        time.Duration
	now        time.Time
	done       chan holdAns // capacity 1: a lead signal, then the answer
}

// holdAns is a batch's answer to one request: its line, its refusal, or
// alone (run it by itself, today's one-transaction path); lead hands the
// caller the next batch to run.
type holdAns struct {
	lineID int
	err    error
	alone  bool
	lead   bool
}

type holdQueue struct {
	pending []*holdReq
}

// batcher queues holds per batchKey; a queue exists while a batch of its
// key is in flight.
type batcher struct {
	mu     sync.Mutex
	queues map[batchKey]*holdQueue
}

// Batches counts the group-commit transactions run (tests check batches form).
func (c *Service) Batches() int64 { return c.batchCount.Load() }

// submit queues r and returns its answer. The first caller of an idle key
// leads: it runs batches until its own is answered, then hands the lead to
// the oldest waiter.
func (c *Service) submit(ctx context.Context, k batchKey, r *holdReq) holdAns {
	b := &c.batch
	b.mu.Lock()
	if b.queues == nil {
		b.queues = map[batchKey]*holdQueue{}
	}
	q, busy := b.queues[k]
	if !busy {
		q = &holdQueue{}
		b.queues[k] = q
	}
	q.pending = append(q.pending, r)
	b.mu.Unlock()
	if !busy {
		c.lead(ctx, k, q)
	}
	for {
		// Not interruptible by ctx: the answer (or the lead) must be taken,
		// and a batch is bounded work (maxBatchWait, or its leader's
		// deadline).
		a := <-r.done
		if !a.lead {
			return a
		}
		c.lead(ctx, k, q)
	}
}

// lead runs the next batch of q, then passes the lead on (or retires the
// queue when nobody waits).
func (c *Service) lead(ctx context.Context, k batchKey, q *holdQueue) {
	b := &c.batch
	b.mu.Lock()
	n := min(len(q.pending), maxBatch)
	batch := slices.Clone(q.pending[:n])
	q.pending = slices.Delete(q.pending, 0, n)
	b.mu.Unlock()

	c.runBatch(ctx, batch)

	b.mu.Lock()
	if len(q.pending) > 0 {
		q.pending[0].done <- holdAns{lead: true}
	} else {
		delete(b.queues, k)
	}
	b.mu.Unlock()
}

// maxBatchWait bounds one batch's transaction.
const maxBatchWait = 30 * time.Second

// runBatch runs reqs in one transaction and answers each. A second request
// with a key already in the batch runs alone after the batch commits (so
// it replays the first's result); if the transaction fails as a whole,
// every request runs alone.
func (c *Service) runBatch(ctx context.Context, reqs []*holdReq) {
	seen := map[[2]string]bool{}
	var in, dups []*holdReq
	for _, r := range reqs {
		k := [2]string{r.claim.Scope, r.claim.Key}
		if seen[k] {
			dups = append(dups, r)
			continue
		}
		seen[k] = true
		in = append(in, r)
	}
	// The batch is not cancelled with its leader (the others' answers ride
	// on it), but it ends by the leader's deadline when that comes before
	// maxBatchWait: a batch stuck behind a lock then fails, every request
	// runs alone under its own deadline, and no caller waits past its
	// request timeout for long.
	wait := maxBatchWait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, max(time.Until(d), 0))
	}
	sys := viewer.SystemContext(context.WithoutCancel(ctx))
	sys, cancel := context.WithTimeout(sys, wait)
	defer cancel()
	ans, err := c.runTx(sys, in)
	for i, r := range in {
		if err != nil {
			r.done <- holdAns{alone: true}
			continue
		}
		r.done <- ans[i]
	}
	for _, r := range dups {
		r.done <- holdAns{alone: true}
	}
}

// runTx runs the batch's transaction. A panic in it is an error like any
// other (every request then runs alone and meets it there), never a
// waiter left without an answer.
func (c *Service) runTx(ctx context.Context, reqs []*holdReq) (ans []holdAns, err error) {
	defer func() {
		if p := recover(); p != nil {
			ans, err = nil, fmt.Errorf("carts: batch panicked: %v", p)
		}
	}()
	return txn.Do(ctx, c.db, "addToCart batch", func(tx *ent.Tx) ([]holdAns, error) {
		c.batchCount.Add(1)
		return c.holdAll(ctx, tx, reqs)
	})
}

// holdAll is one batch's transaction. Locks are taken in the order of the
// single-hold path (carts, stock, pool, allowances), so a batch and a lone
// hold never wait on each other in a cycle.
func (c *Service) holdAll(ctx context.Context, tx *ent.Tx, reqs []*holdReq) ([]holdAns, error) {
	ans := make([]holdAns, len(reqs))
	claims := make([]txn.Claim, len(reqs))
	for i, r := range reqs {
		claims[i] = r.claim
	}
	ids, err := txn.ClaimAll(ctx, tx, c.dialect, claims, c.now())
	if err != nil {
		return nil, err
	}
	live := make([]bool, len(reqs))
	var custs []int
	for i, r := range reqs {
		if ids[i] == 0 {
			ans[i].alone = true // claimed elsewhere: alone, it replays
			continue
		}
		live[i] = true
		custs = append(custs, r.customerID)
	}
	first := reqs[0]
	currency := first.variant.Currency
	carts, err := c.lockOpenCarts(ctx, tx, custs, currency)
	if err != nil {
		return nil, err
	}
	for i, r := range reqs {
		if !live[i] {
			continue
		}
		k, ok := carts[r.customerID]
		switch {
		case !ok:
			// Checked out between our insert and our lock: alone, it
			// retries on the customer's next open cart.
			ans[i].alone, live[i] = true, false
		case k.currency != currency:
			ans[i].err, live[i] = checkout.BadInput("variantId", "priced in %s, but the cart is in %s", currency, k.currency), false
		}
	}

	// What is left, read under the row locks the writes below take anyway.
	lock := ""
	if c.dialect == dialect.Postgres {
		lock = " FOR UPDATE"
	}
	stockLeft, found, err := c.queryInt(ctx, tx, `SELECT available FROM stocks WHERE variant_id = ? AND location_id = ?`+lock, first.variant.ID, c.locationID)
	if err != nil {
		return nil, err
	}
	if !found {
		stockLeft = 0
	}
	poolLeft := 0
	have := map[int]int{}         // drop: units counted per customer
	held := map[int]map[int]int{} // outside drops: held units per customer and variant
	if first.dropID != nil {
		poolLeft, _, err = c.queryInt(ctx, tx, `SELECT remaining FROM drop_pools WHERE drop_id = ? AND channel = ?`+lock, *first.dropID, string(first.channel))
		if err != nil {
			return nil, err
		}
		if have, err = c.allowances(ctx, tx, *first.dropID, custs, lock); err != nil {
			return nil, err
		}
	} else if held, err = c.heldNow(ctx, tx, custs, first.now); err != nil {
		return nil, err
	}

	// Admission in arrival order: each hold takes its units if they are
	// all still there after the holds before it.
	taken := 0
	add := map[int]int{}
	var won []int
	for i, r := range reqs {
		if !live[i] {
			continue
		}
		q := r.quantity
		switch {
		case stockLeft-taken < q:
			ans[i].err = fmt.Errorf("variant %d: %w", r.variant.ID, checkout.ErrOutOfStock)
		case r.dropID != nil && poolLeft-taken < q:
			ans[i].err = fmt.Errorf("drop %d %s pool: %w", *r.dropID, r.channel, checkout.ErrOutOfStock)
		case r.dropID != nil && r.limit > 0 && have[r.customerID]+add[r.customerID]+q > r.limit:
			ans[i].err = fmt.Errorf("drop %d: %w", *r.dropID, checkout.ErrLimitExceeded)
		case r.dropID == nil:
			ans[i].err = c.capsAllow(held[r.customerID], r.variant.ID, add[r.customerID]+q)
		}
		if ans[i].err != nil {
			continue
		}
		taken += q
		add[r.customerID] += q
		won = append(won, i)
	}

	if taken > 0 {
		if err := c.takeAll(ctx, tx, first, taken, add); err != nil {
			return nil, err
		}
		bulk := make([]*ent.CartLineCreate, len(won))
		for j, i := range won {
			r := reqs[i]
			bulk[j] = tx.CartLine.Create().
				SetCartID(carts[r.customerID].id).SetVariantID(r.variant.ID).SetNillableDropID(r.dropID).SetLocationID(c.locationID).
				SetCustomerID(r.customerID).SetChannel(r.channel).SetQuantity(r.quantity).
				SetUnitAmount(r.unit).SetCurrency(r.variant.Currency).SetNillableStreamID(r.streamID).
				SetExpiresAt(r.now.Add(r.ttl)).SetCreatedAt(r.now)
		}
		lines, err := tx.CartLine.CreateBulk(bulk...).Save(ctx)
		if err != nil {
			return nil, err
		}
		for j, i := range won {
			ans[i].lineID = lines[j].ID
		}
	}

	// Record each winner's result; free the keys of the refused.
	rec := make([]int, len(reqs))
	var free []int
	results := make([]int, len(reqs))
	for i := range reqs {
		switch {
		case !live[i]:
			if ans[i].err != nil {
				free = append(free, ids[i])
			}
		case ans[i].err != nil:
			free = append(free, ids[i])
		default:
			rec[i], results[i] = ids[i], ans[i].lineID
		}
	}
	if err := txn.RecordAll(ctx, tx, c.dialect, rec, results); err != nil {
		return nil, err
	}
	if err := txn.UnclaimAll(ctx, tx, c.dialect, free); err != nil {
		return nil, err
	}
	return ans, nil
}

// takeAll takes units from stock (and the drop's pool) with one
// conditional decrement each, and adds each customer's units to their
// allowance with one conditional upsert. Any of them refusing fails the
// batch: it read the counts under the same locks, so only a bug (or a
// writer that skipped the locks) gets here.
func (c *Service) takeAll(ctx context.Context, tx *ent.Tx, first *holdReq, units int, add map[int]int) error {
	ok, err := inventory.Take(ctx, tx, first.variant.ID, c.locationID, units)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("carts: batch: stock of variant %d fell below %d under its lock", first.variant.ID, units)
	}
	topics := []string{checkout.StockTopic(first.variant.ID)}
	for cust := range add {
		topics = append(topics, checkout.CartTopic(cust))
	}
	if first.dropID == nil {
		c.AfterCommit(tx, topics...)
		return nil
	}
	dropID := *first.dropID
	c.AfterCommit(tx, append(topics, checkout.DropTopic(dropID))...)
	n, err := tx.DropPool.Update().
		Where(droppool.DropID(dropID), droppool.ChannelEQ(first.channel), droppool.RemainingGTE(units)).
		AddRemaining(-units).Save(ctx)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("carts: batch: drop %d %s pool fell below %d under its lock", dropID, first.channel, units)
	}
	custs := make([]int, 0, len(add))
	for cust := range add {
		custs = append(custs, cust)
	}
	slices.Sort(custs)
	q := `INSERT INTO drop_customers (drop_id, customer_id, units) VALUES `
	var args []any
	for j, cust := range custs {
		if j > 0 {
			q += ", "
		}
		q += "(?, ?, ?)"
		args = append(args, dropID, cust, add[cust])
	}
	q += ` ON CONFLICT (drop_id, customer_id) DO UPDATE SET units = drop_customers.units + excluded.units`
	if first.limit > 0 {
		q += ` WHERE drop_customers.units + excluded.units <= ?`
		args = append(args, first.limit)
	}
	n64, err := txn.Exec(ctx, tx, c.dialect, q, args...)
	if err != nil {
		return err
	}
	if n64 != int64(len(custs)) {
		return fmt.Errorf("carts: batch: drop %d: %d of %d allowances taken under their locks", dropID, n64, len(custs))
	}
	return nil
}

type openCartRow struct {
	id       int
	currency string
}

// lockOpenCarts opens (if needed) and locks the open cart of each
// customer, two statements for all: what lockOpenCart does for one. A
// customer missing from the answer had their cart checked out in between.
func (c *Service) lockOpenCarts(ctx context.Context, tx *ent.Tx, custs []int, currency string) (map[int]openCartRow, error) {
	out := map[int]openCartRow{}
	custs = slices.Compact(slices.Sorted(slices.Values(custs)))
	if len(custs) == 0 {
		return out, nil
	}
	now := c.now().UTC()
	q := `INSERT INTO carts (customer_id, status, currency, created_at, updated_at) VALUES `
	args := make([]any, 0, 4*len(custs))
	for j, cust := range custs {
		if j > 0 {
			q += ", "
		}
		q += "(?, 'OPEN', ?, ?, ?)"
		args = append(args, cust, currency, now, now)
	}
	q += ` ON CONFLICT (customer_id) WHERE status = 'OPEN' DO NOTHING`
	if _, err := c.exec(ctx, tx, q, args...); err != nil {
		return nil, err
	}
	args = []any{now}
	for _, cust := range custs {
		args = append(args, cust)
	}
	rows, err := c.query(ctx, tx, `UPDATE carts SET updated_at = ? WHERE status = 'OPEN' AND customer_id IN (`+txn.Placeholders(len(custs))+`)
		RETURNING id, customer_id, currency`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r    openCartRow
			cust int
		)
		if err := rows.Scan(&r.id, &cust, &r.currency); err != nil {
			return nil, err
		}
		out[cust] = r
	}
	return out, rows.Err()
}

// allowances is the units each customer has counted in a drop.
func (c *Service) allowances(ctx context.Context, tx *ent.Tx, dropID int, custs []int, lock string) (map[int]int, error) {
	out := map[int]int{}
	custs = slices.Compact(slices.Sorted(slices.Values(custs)))
	if len(custs) == 0 {
		return out, nil
	}
	args := []any{dropID}
	for _, cust := range custs {
		args = append(args, cust)
	}
	rows, err := c.query(ctx, tx, `SELECT customer_id, units FROM drop_customers WHERE drop_id = ? AND customer_id IN (`+
		txn.Placeholders(len(custs))+`) ORDER BY customer_id`+lock, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var cust, units int
		if err := rows.Scan(&cust, &units); err != nil {
			return nil, err
		}
		out[cust] = units
	}
	return out, rows.Err()
}

// heldNow is what checkHeldCaps counts, for many customers at once: the
// units each holds outside drops, per variant.
func (c *Service) heldNow(ctx context.Context, tx *ent.Tx, custs []int, now time.Time) (map[int]map[int]int, error) {
	out := map[int]map[int]int{}
	custs = slices.Compact(slices.Sorted(slices.Values(custs)))
	if len(custs) == 0 {
		return out, nil
	}
	args := []any{now}
	for _, cust := range custs {
		args = append(args, cust)
	}
	rows, err := c.query(ctx, tx, `SELECT customer_id, variant_id, SUM(quantity) FROM cart_lines
		WHERE status = 'HELD' AND drop_id IS NULL AND expires_at > ? AND customer_id IN (`+txn.Placeholders(len(custs))+`)
		GROUP BY customer_id, variant_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var cust, v, sum int
		if err := rows.Scan(&cust, &v, &sum); err != nil {
			return nil, err
		}
		if out[cust] == nil {
			out[cust] = map[int]int{}
		}
		out[cust][v] += sum
	}
	return out, rows.Err()
}

// capsAllow is checkHeldCaps's decision for a customer holding held (per
// variant) who would add units of variantID (earlier holds of the same
// batch included).
func (c *Service) capsAllow(held map[int]int, variantID, units int) error {
	total := 0
	for _, n := range held {
		total += n
	}
	same := held[variantID]
	if same+units > c.Cfg.MaxHeldPerVariant {
		return &checkout.LimitError{What: "units of one item held at once", Limit: c.Cfg.MaxHeldPerVariant, Have: same}
	}
	if total+units > c.Cfg.MaxHeldUnits {
		return &checkout.LimitError{What: "units held at once", Limit: c.Cfg.MaxHeldUnits, Have: total}
	}
	return nil
}

func (c *Service) queryInt(ctx context.Context, tx *ent.Tx, query string, args ...any) (int, bool, error) {
	rows, err := c.query(ctx, tx, query, args...)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, false, rows.Err()
	}
	var n int
	if err := rows.Scan(&n); err != nil {
		return 0, false, err
	}
	return n, true, rows.Close()
}
