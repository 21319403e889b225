package fulfillment

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/fulfillmentline"
	"github.com/merchd/merchd/ent/viewer"
)

// LineQty is a number of units of one order line.
type LineQty struct {
	OrderLineID int
	Quantity    int
}

// splittable are the states a fulfilment can be split in: before it left
// the shop (a parcel handed to a courier, or a pickup handed over, is
// what it is).
var splittable = []Status{fulfillment.StatusUNFULFILLED, fulfillment.StatusPICKING, fulfillment.StatusPACKED,
	fulfillment.StatusREADY_FOR_PICKUP, fulfillment.StatusREROUTED}

// Split moves units of fulfilment id to a new fulfilment (partial
// fulfilment by line): hand over or ship what is here now, the rest when
// it comes, or cancel a part. The new fulfilment goes the same way (method,
// point, window, address, deadline), starts UNFULFILLED with its own
// pickup code and pass, and moves on its own; id keeps its state.
//
// Each line is one conditional decrement (`quantity >= n`), so a unit is
// never in two fulfilments, and id must keep at least one unit. A replay
// of key returns the first split.
func (s *Service) Split(ctx context.Context, id int, lines []LineQty, note, key string) (*ent.Fulfillment, error) {
	if err := checkout.RequireStaffOrHub(ctx); err != nil {
		return nil, err
	}
	switch {
	case len(lines) == 0:
		return nil, checkout.BadInput("lines", "name at least one order line to split off")
	case len(lines) > 100:
		return nil, checkout.BadInput("lines", "at most 100 lines")
	case len(note) > 500:
		return nil, checkout.BadInput("note", "at most 500 characters")
	}
	seen := map[int]bool{}
	for _, l := range lines {
		if l.Quantity <= 0 {
			return nil, checkout.BadInput("lines", "quantities must be positive")
		}
		if seen[l.OrderLineID] {
			return nil, checkout.BadInput("lines", "each order line once")
		}
		seen[l.OrderLineID] = true
	}
	req := struct {
		ID    int
		Lines []LineQty
		Note  string
	}{id, lines, note}
	cid, err := txn.Idempotent(ctx, s.db, "splitFulfillment", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		return s.split(ctx, tx, id, lines, note)
	})
	if err != nil {
		return nil, err
	}
	return s.db.Fulfillment.Get(viewer.SystemContext(ctx), cid)
}

func (s *Service) split(ctx context.Context, tx *ent.Tx, id int, lines []LineQty, note string) (int, error) {
	sys := viewer.SystemContext(ctx)
	now := s.now().UTC()
	// The guard, and (on PostgreSQL) the row lock that orders concurrent
	// splits of id: the second waits here until the first commits, so
	// the "keeps a unit" count below reads what the first left.
	locked, err := s.lockOpen(ctx, tx, id)
	if err != nil {
		return 0, err
	}
	parent, err := tx.Fulfillment.Get(sys, id)
	if err != nil {
		return 0, checkout.NotFoundAs(err, "fulfillment")
	}
	if !locked {
		return 0, checkout.BadInput("fulfillmentId", "order %d's fulfilment is %s: only one not yet handed over can be split",
			parent.OrderID, parent.Status)
	}
	moved := 0
	for _, l := range lines {
		took, err := s.take(ctx, tx, id, l.OrderLineID, l.Quantity)
		if err != nil {
			return 0, err
		}
		if !took {
			return 0, checkout.BadInput("lines", "order line %d has fewer than %d units in this fulfilment", l.OrderLineID, l.Quantity)
		}
		moved += l.Quantity
	}
	left, err := tx.FulfillmentLine.Query().Where(fulfillmentline.FulfillmentID(id)).
		Aggregate(ent.Sum(fulfillmentline.FieldQuantity)).Int(sys)
	if err != nil {
		return 0, err
	}
	if left == 0 {
		return 0, checkout.BadInput("lines", "a split must leave at least one unit behind (to move all of it, advance the fulfilment instead)")
	}
	if err := dropEmptyLines(ctx, tx, id); err != nil {
		return 0, err
	}
	cid, err := s.insertSplit(ctx, tx, parent, now)
	if err != nil {
		return 0, err
	}
	bulk := make([]*ent.FulfillmentLineCreate, 0, len(lines))
	for _, l := range lines {
		bulk = append(bulk, tx.FulfillmentLine.Create().SetFulfillmentID(cid).SetOrderLineID(l.OrderLineID).
			SetCustomerID(parent.CustomerID).SetQuantity(l.Quantity))
	}
	if err := tx.FulfillmentLine.CreateBulk(bulk...).Exec(sys); err != nil {
		return 0, err
	}
	child, err := tx.Fulfillment.Get(sys, cid)
	if err != nil {
		return 0, err
	}
	st := string(parent.Status)
	if err := s.event(ctx, tx, parent, st, st, joinNote(fmt.Sprintf("%d units split off to fulfilment %d", moved, cid), note), ""); err != nil {
		return 0, err
	}
	if err := s.event(ctx, tx, child, "", string(fulfillment.StatusUNFULFILLED), joinNote(fmt.Sprintf("split from fulfilment %d", id), note), ""); err != nil {
		return 0, err
	}
	s.AfterCommit(tx, checkout.OrderTopic(parent.OrderID), checkout.FulfillmentTopic(id), checkout.FulfillmentTopic(cid))
	for _, f := range []*ent.Fulfillment{parent, child} {
		if err := checkout.Record(sys, s.outbox, tx, checkout.Event{Type: checkout.EventFulfillmentUpdated,
			OrderID: f.OrderID, CustomerID: f.CustomerID, Data: s.eventData(ctx, tx, f, f.Status)}); err != nil {
			return 0, err
		}
	}
	return cid, nil
}

// insertSplit writes the new fulfilment of a split, going parent's way,
// with a pickup code drawn until unique among open fulfilments.
func (s *Service) insertSplit(ctx context.Context, tx *ent.Tx, parent *ent.Fulfillment, now time.Time) (int, error) {
	var address any
	if parent.Address != nil {
		b, err := json.Marshal(parent.Address)
		if err != nil {
			return 0, err
		}
		address = string(b)
	}
	for range 8 {
		code := newCode()
		n, err := txn.Exec(ctx, tx, s.dialect,
			`INSERT INTO fulfillments (created_at, updated_at, order_id, customer_id, method, status, location_id, pickup_code,
			   window_id, address, due_at, reroutes, packaging_variant, split_from)
			 VALUES (?, ?, ?, ?, ?, 'UNFULFILLED', ?, ?, ?, ?, ?, 0, '', ?) ON CONFLICT DO NOTHING`,
			now, now, parent.OrderID, parent.CustomerID, string(parent.Method), parent.LocationID, code,
			parent.WindowID, address, parent.DueAt, parent.ID)
		if err != nil {
			return 0, fmt.Errorf("split fulfilment %d: %w", parent.ID, err)
		}
		if n == 1 {
			return tx.Fulfillment.Query().Where(fulfillment.PickupCode(code), fulfillment.SplitFrom(parent.ID),
				fulfillment.StatusEQ(fulfillment.StatusUNFULFILLED)).OnlyID(viewer.SystemContext(ctx))
		}
		// The code is taken by an open fulfilment: draw again.
	}
	return 0, fmt.Errorf("split fulfilment %d: no free pickup code after 8 draws", parent.ID)
}

func joinNote(what, note string) string {
	if note == "" {
		return what
	}
	return what + ": " + note
}

// lockOpen is the guard of every change to a part's units: a touch of
// fulfilment id that applies only while it is not yet handed over, and
// (on PostgreSQL) the row lock that orders the changes to its units — a
// concurrent split, refund or handover of it waits until this one
// commits. false: it is handed over (or closed) already.
func (s *Service) lockOpen(ctx context.Context, tx *ent.Tx, id int) (bool, error) {
	n, err := tx.Fulfillment.Update().Where(fulfillment.ID(id), fulfillment.StatusIn(splittable...)).
		SetUpdatedAt(s.now().UTC()).Save(viewer.SystemContext(ctx))
	return n == 1, err
}

// take removes n units of order line lineID from fulfilment id's lines
// with one conditional decrement: false when it holds fewer.
func (s *Service) take(ctx context.Context, tx *ent.Tx, id, lineID, n int) (bool, error) {
	m, err := txn.Exec(ctx, tx, s.dialect,
		`UPDATE fulfillment_lines SET quantity = quantity - ? WHERE fulfillment_id = ? AND order_line_id = ? AND quantity >= ?`,
		n, id, lineID, n)
	return m == 1, err
}

// dropEmptyLines deletes fulfilment id's lines left with no unit.
func dropEmptyLines(ctx context.Context, tx *ent.Tx, id int) error {
	_, err := tx.FulfillmentLine.Delete().Where(fulfillmentline.FulfillmentID(id), fulfillmentline.Quantity(0)).
		Exec(viewer.SystemContext(ctx))
	return err
}
