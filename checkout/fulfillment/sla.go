package fulfillment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/walletentry"
)

// Config holds the service-level agreements a fulfilment is timed
// against. Each deadline is a due_at on the fulfilment: the SLA sweep
// escalates it, once, when it passes without the scan it waits for.
type Config struct {
	// PickupGrace: a pickup with no window is due this long after the
	// order is paid (zero: 7 days; negative: no timer).
	PickupGrace time.Duration
	// DeliverWithin: a local delivery is due this long after payment
	// unless its zone's same-day cutoff sets it (zero: 8 hours).
	DeliverWithin time.Duration
	// ShipWithin: a shipment must be handed to the courier this long
	// after payment (zero: 48 hours).
	ShipWithin time.Duration
	// LateCredit is what a late local delivery credits to the buyer's
	// wallet, once, in LateCurrency (zero: none).
	LateCredit   int64
	LateCurrency string
	// MaxReroutes: a pickup missed this many times stays on the late list
	// for staff instead of moving on again (zero: 2).
	MaxReroutes int
	// LabelURL is the base URL a label's QR code points to (the shop's
	// public URL; "": the QR carries the bare signed code).
	LabelURL string
	// SweepBatch is how many overdue fulfilments one sweep escalates at
	// most (zero: 500); the next sweep takes the rest.
	SweepBatch int
}

func (c Config) withDefaults() Config {
	if c.PickupGrace == 0 {
		c.PickupGrace = 7 * 24 * time.Hour
	}
	if c.DeliverWithin == 0 {
		c.DeliverWithin = 8 * time.Hour
	}
	if c.ShipWithin == 0 {
		c.ShipWithin = 48 * time.Hour
	}
	if c.MaxReroutes == 0 {
		c.MaxReroutes = 2
	}
	if c.SweepBatch == 0 {
		c.SweepBatch = 500
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.LateCredit < 0 || c.LateCredit > checkout.MaxPrice {
		return fmt.Errorf("fulfillment: late credit %d out of range", c.LateCredit)
	}
	if c.LateCurrency != "" && len(c.LateCurrency) != 3 {
		return errors.New("fulfillment: the late credit's currency is an ISO 4217 code")
	}
	if c.MaxReroutes < 0 || c.SweepBatch < 0 {
		return errors.New("fulfillment: negative max reroutes or sweep batch")
	}
	return nil
}

// due is the first deadline of a fulfilment opened at now.
func (c Config) due(m fulfillment.Method, now time.Time) *time.Time {
	var d time.Duration
	switch m {
	case fulfillment.MethodPICKUP:
		d = c.PickupGrace
	case fulfillment.MethodLOCAL_DELIVERY:
		d = c.DeliverWithin
	case fulfillment.MethodSHIPPING:
		d = c.ShipWithin
	}
	if d <= 0 {
		return nil
	}
	t := now.Add(d)
	return &t
}

// dueAfter is f's deadline once it moves to `to`, and whether it changes:
// a shipment handed to the courier is the carrier's to time; the end
// states leave the open set (and the sweep's index) by their status.
func (c Config) dueAfter(f *ent.Fulfillment, to Status, now time.Time) (*time.Time, bool) {
	switch {
	case slices.Contains(closed, to):
		return nil, true // handed over or ended: no timer runs on it
	case to == fulfillment.StatusHANDED_TO_COURIER && f.Method == fulfillment.MethodSHIPPING:
		return nil, true
	case to == fulfillment.StatusREADY_FOR_PICKUP && f.DueAt == nil:
		return c.due(fulfillment.MethodPICKUP, now), true
	}
	return nil, false
}

// Windows finds where a missed pickup goes next: the next window at its
// point with a free place, else the nearest other point's. It takes the
// place in tx (so it is given back if the reroute loses its race).
type Windows interface {
	Reroute(ctx context.Context, tx *ent.Tx, f *ent.Fulfillment, now time.Time) (to Reroute, ok bool, err error)
}

// Reroute is where a missed pickup moves: a point, a window there, and
// the window's end as the new deadline.
type Reroute struct {
	LocationID int
	WindowID   *int
	Due        time.Time
	Label      string // "Venue · Sat 14:00–16:00", for the buyer's email
}

// Crediter posts to a wallet in the caller's transaction.
type Crediter interface {
	Post(ctx context.Context, tx *ent.Tx, p wallets.Posting) (*ent.WalletEntry, error)
}

// closed are the states a fulfilment ends in: no timer runs on them.
var closed = []Status{fulfillment.StatusCOLLECTED, fulfillment.StatusDELIVERED, fulfillment.StatusCANCELED, fulfillment.StatusFAILED}

// sweepSQL finds the overdue fulfilments, oldest deadline first. Its
// first two terms are the exact predicate of the partial index on due_at
// (ent/schema/fulfillment.go), so both databases' planners answer it from
// that index alone, whatever the number of fulfilments.
const sweepSQL = "SELECT id FROM fulfillments WHERE status NOT IN ('COLLECTED', 'DELIVERED', 'CANCELED', 'FAILED') AND due_at IS NOT NULL" +
	" AND due_at <= ? ORDER BY due_at LIMIT ?"

// Sweep escalates every fulfilment whose deadline has passed, each in its
// own transaction, and returns how many it escalated. Each escalation is
// one conditional write on (id, status, due_at ≤ now): of two replicas sweeping
// at once, or a sweep racing a clerk's scan, one wins and the other finds
// nothing to do — so each timer fires once. Timers are rows, so they
// survive restarts.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	sys := viewer.SystemContext(ctx)
	now := s.now().UTC()
	q := sweepSQL
	if s.dialect == dialect.Postgres {
		q = txn.ToDollar(q)
	}
	ids, err := txn.Do(sys, s.db, "sla sweep", func(tx *ent.Tx) ([]int, error) {
		rows, err := tx.QueryContext(sys, q, now, s.cfg.SweepBatch)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var ids []int
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		return ids, rows.Err()
	})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	due, err := s.db.Fulfillment.Query().Where(fulfillment.IDIn(ids...)).Order(ent.Asc(fulfillment.FieldDueAt)).All(sys)
	if err != nil {
		return 0, fmt.Errorf("sla sweep: %w", err)
	}
	n := 0
	for _, f := range due {
		fired, err := s.escalate(sys, f, now)
		if err != nil {
			return n, fmt.Errorf("sla sweep: fulfilment %d: %w", f.ID, err)
		}
		if fired {
			n++
		}
	}
	return n, nil
}

// escalate fires f's timer: a missed pickup moves on to another window
// (or, with none left, onto the late list), a late local delivery credits
// the buyer once, a shipment not handed over goes on the late list.
func (s *Service) escalate(ctx context.Context, f *ent.Fulfillment, now time.Time) (bool, error) {
	fired, err := txn.Do(ctx, s.db, "sla escalation", func(tx *ent.Tx) (bool, error) {
		// The guard: still this state, still past a deadline (escalating
		// clears the deadline or moves it on, so it holds once).
		guard := tx.Fulfillment.Update().Where(fulfillment.ID(f.ID), fulfillment.StatusEQ(f.Status),
			fulfillment.StatusNotIn(closed...), fulfillment.DueAtLTE(now)).SetUpdatedAt(now).SetEscalatedAt(now)
		note, typ := "", ""
		to := f.Status
		// A late local delivery credits its buyer, once.
		credit := f.Method == fulfillment.MethodLOCAL_DELIVERY && s.cfg.LateCredit > 0 && s.credit != nil && f.LateCreditedAt == nil
		switch f.Method {
		case fulfillment.MethodPICKUP:
			var r Reroute
			ok := false
			if s.windows != nil && f.Reroutes < s.cfg.MaxReroutes {
				var err error
				if r, ok, err = s.windows.Reroute(ctx, tx, f, now); err != nil {
					return false, err
				}
			}
			if !ok {
				guard = guard.ClearDueAt()
				note = "not collected by its deadline: on the late list"
				break
			}
			if f.Status == fulfillment.StatusREADY_FOR_PICKUP {
				to = fulfillment.StatusREROUTED // the bag moves shelf or point
			}
			guard = guard.SetStatus(to).SetLocationID(r.LocationID).SetDueAt(r.Due).AddReroutes(1)
			if r.WindowID != nil {
				guard = guard.SetWindowID(*r.WindowID)
			}
			note, typ = "not collected by its deadline: moved to "+r.Label, checkout.EventPickupRerouted
		case fulfillment.MethodLOCAL_DELIVERY:
			guard = guard.ClearDueAt()
			note = "not delivered by its deadline"
			if credit {
				guard = guard.Where(fulfillment.LateCreditedAtIsNil()).SetLateCreditedAt(now)
				note += fmt.Sprintf(": %d credited to the buyer's wallet", s.cfg.LateCredit)
			}
		default:
			guard = guard.ClearDueAt()
			note = "not handed to the courier by its deadline"
		}
		n, err := guard.Save(ctx)
		if err != nil {
			return false, err
		}
		if n == 0 {
			// A scan or another replica got there first: roll back, so a
			// place the reroute took in the next window is given back.
			return false, errLostRace
		}
		if credit {
			oid := f.OrderID
			if _, err := s.credit.Post(ctx, tx, wallets.Posting{CustomerID: f.CustomerID, Currency: s.cfg.LateCurrency,
				Amount: s.cfg.LateCredit, Kind: walletentry.KindADJUSTMENT, OrderID: &oid,
				Note: fmt.Sprintf("late delivery of order %d", f.OrderID)}); err != nil {
				return false, err
			}
		}
		if err := s.event(ctx, tx, f, string(f.Status), string(to), note, "SLA"); err != nil {
			return false, err
		}
		s.AfterCommit(tx, checkout.OrderTopic(f.OrderID), checkout.FulfillmentTopic(f.ID))
		// Read again: a reroute moved it to another point and window.
		cur, err := tx.Fulfillment.Get(ctx, f.ID)
		if err != nil {
			return false, err
		}
		data := s.eventData(ctx, tx, cur, to)
		data["escalated"] = note
		if r := cur.DueAt; r != nil {
			data["due_at"] = r.UTC().Format(time.RFC3339)
		}
		if typ != "" {
			if err := checkout.Record(ctx, s.outbox, tx, checkout.Event{Type: typ, OrderID: f.OrderID,
				CustomerID: f.CustomerID, Data: data}); err != nil {
				return false, err
			}
		}
		return true, checkout.Record(ctx, s.outbox, tx, checkout.Event{Type: checkout.EventFulfillmentUpdated,
			OrderID: f.OrderID, CustomerID: f.CustomerID, Data: data})
	})
	if errors.Is(err, errLostRace) {
		return false, nil
	}
	return fired, err
}

// errLostRace rolls back an escalation whose guard found the fulfilment
// moved on.
var errLostRace = errors.New("fulfillment: escalation lost its race")

// Late lists open fulfilments past their deadline or escalated, oldest
// deadline first: the staff's late list.
func (s *Service) Late(ctx context.Context, limit int) ([]*ent.Fulfillment, error) {
	if err := checkout.RequireStaffOrHub(ctx); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	return s.db.Fulfillment.Query().Where(
		fulfillment.StatusNotIn(fulfillment.StatusCOLLECTED, fulfillment.StatusDELIVERED,
			fulfillment.StatusCANCELED, fulfillment.StatusFAILED),
		fulfillment.Or(fulfillment.DueAtLTE(now), fulfillment.EscalatedAtNotNil()),
	).Order(ent.Asc(fulfillment.FieldEscalatedAt), ent.Asc(fulfillment.FieldID)).Limit(limit).All(viewer.SystemContext(ctx))
}
