package drops

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/drop"
	"github.com/merchd/merchd/ent/droppool"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
)

// DropStateAt is a drop's state at now, given its remaining units. States
// follow the clock exactly, so every reader agrees at every instant; the
// scheduler only persists them and announces changes.
func DropStateAt(d *ent.Drop, remaining int, now time.Time) drop.State {
	switch {
	case !now.Before(d.ClosesAt):
		return drop.StateCLOSED
	case now.Before(d.OpensAt) && (d.EarlyAccessAt == nil || now.Before(*d.EarlyAccessAt)):
		return drop.StateSCHEDULED
	case remaining <= 0:
		return drop.StateSOLD_OUT
	case now.Before(d.OpensAt):
		return drop.StateEARLY_ACCESS
	default:
		return drop.StateOPEN
	}
}

// NextTransition is the next instant the drop's state changes by the clock
// (selling out is not on the clock), or nil once closed.
func NextTransition(d *ent.Drop, now time.Time) *time.Time {
	for _, t := range []*time.Time{d.EarlyAccessAt, &d.OpensAt, &d.ClosesAt} {
		if t != nil && now.Before(*t) {
			next := *t
			return &next
		}
	}
	return nil
}

// EarlyAccessGate decides whether a customer may buy in a drop's early
// window. The membership issue plugs in a real one; the default admits nobody.
type EarlyAccessGate func(ctx context.Context, customerID int, d *ent.Drop) (bool, error)

// NoEarlyAccess admits nobody early.
func NoEarlyAccess(context.Context, int, *ent.Drop) (bool, error) { return false, nil }

// Service schedules limited releases and moves units between channel pools.
type Service struct {
	db      *ent.Client
	dialect string
	now     func() time.Time
	Gate    EarlyAccessGate
	log     *slog.Logger
	// Changed, when set, is told about each drop whose state the scheduler
	// moved (tests watch transitions with it).
	Changed func(dropID int, state drop.State)
	wake    chan struct{}
	txn.Announcer
}

// New returns the drop service.
func New(db *ent.Client, dialectName string, now func() time.Time, gate EarlyAccessGate, log *slog.Logger) *Service {
	if gate == nil {
		gate = NoEarlyAccess
	}
	return &Service{db: db, dialect: dialectName, now: now, Gate: gate, log: log, wake: make(chan struct{}, 1)}
}

// PoolInput splits a drop's cap.
type PoolInput struct {
	Channel checkout.Channel
	Units   int
}

// DropInput creates or updates a drop. On update, nil fields stay as they are.
type DropInput struct {
	Title            *string
	VariantIDs       []int
	Cap              *int
	OpensAt          *time.Time
	ClosesAt         *time.Time
	EarlyAccessAt    *time.Time
	ClearEarlyAccess bool
	PerCustomerLimit *int
	HoldTTL          *time.Duration
	Pools            []PoolInput
}

const maxDropCap = 1_000_000

func checkDropTimes(opens, closes time.Time, early *time.Time) error {
	if !opens.Before(closes) {
		return checkout.BadInput("closesAt", "must be after opensAt")
	}
	if early != nil && !early.Before(opens) {
		return checkout.BadInput("earlyAccessAt", "must be before opensAt")
	}
	return nil
}

func checkPools(capUnits int, pools []PoolInput) ([]PoolInput, error) {
	if len(pools) == 0 {
		return []PoolInput{{Channel: checkout.ChannelOnline, Units: capUnits}}, nil
	}
	sum := 0
	seen := map[checkout.Channel]bool{}
	for _, p := range pools {
		if err := droppool.ChannelValidator(p.Channel); err != nil {
			return nil, checkout.BadInput("pools", "unknown channel %q", p.Channel)
		}
		if seen[p.Channel] {
			return nil, checkout.BadInput("pools", "channel %s appears twice", p.Channel)
		}
		if p.Units < 0 {
			return nil, checkout.BadInput("pools", "units for %s are negative", p.Channel)
		}
		seen[p.Channel] = true
		sum += p.Units
	}
	if sum != capUnits {
		return nil, checkout.BadInput("pools", "pools add up to %d, but the cap is %d", sum, capUnits)
	}
	return pools, nil
}

// CreateDrop schedules a drop.
func (s *Service) CreateDrop(ctx context.Context, in DropInput) (*ent.Drop, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	switch {
	case in.Title == nil || in.Cap == nil || in.OpensAt == nil || in.ClosesAt == nil:
		return nil, checkout.BadInput("", "title, cap, opensAt and closesAt are required")
	case *in.Cap <= 0 || *in.Cap > maxDropCap:
		return nil, checkout.BadInput("cap", "must be between 1 and %d", maxDropCap)
	case len(in.VariantIDs) == 0:
		return nil, checkout.BadInput("variantIds", "a drop needs at least one variant")
	case in.PerCustomerLimit != nil && *in.PerCustomerLimit < 0:
		return nil, checkout.BadInput("perCustomerLimit", "must be zero (no limit) or more")
	}
	if err := checkDropTimes(*in.OpensAt, *in.ClosesAt, in.EarlyAccessAt); err != nil {
		return nil, err
	}
	pools, err := checkPools(*in.Cap, in.Pools)
	if err != nil {
		return nil, err
	}
	ttl := 600
	if in.HoldTTL != nil {
		ttl = int(in.HoldTTL.Seconds())
	}
	if ttl < 30 || ttl > 3600 {
		return nil, checkout.BadInput("holdMinutes", "must be between 0.5 and 60 minutes")
	}
	sys := viewer.SystemContext(ctx)
	return txn.Do(sys, s.db, "create drop", func(tx *ent.Tx) (*ent.Drop, error) {
		n, err := tx.Variant.Query().Where(variant.IDIn(in.VariantIDs...)).Count(sys)
		if err != nil {
			return nil, err
		}
		if n != len(slices.Compact(slices.Sorted(slices.Values(in.VariantIDs)))) {
			return nil, checkout.BadInput("variantIds", "some variants do not exist")
		}
		busy, err := tx.Drop.Query().Where(drop.HasVariantsWith(variant.IDIn(in.VariantIDs...)), drop.ClosesAtGT(s.now())).Exist(sys)
		if err != nil {
			return nil, err
		}
		if busy {
			return nil, checkout.BadInput("variantIds", "a variant is already in a drop that has not closed")
		}
		c := tx.Drop.Create().SetTitle(*in.Title).SetCap(*in.Cap).
			SetOpensAt(in.OpensAt.UTC()).SetClosesAt(in.ClosesAt.UTC()).SetHoldTTLSeconds(ttl).
			AddVariantIDs(in.VariantIDs...)
		if in.EarlyAccessAt != nil {
			c.SetEarlyAccessAt(in.EarlyAccessAt.UTC())
		}
		if in.PerCustomerLimit != nil {
			c.SetPerCustomerLimit(*in.PerCustomerLimit)
		}
		d, err := c.Save(sys)
		if err != nil {
			return nil, err
		}
		for _, p := range pools {
			if err := tx.DropPool.Create().SetDropID(d.ID).SetChannel(p.Channel).SetAllocated(p.Units).SetRemaining(p.Units).Exec(sys); err != nil {
				return nil, err
			}
		}
		s.poke()
		s.AfterCommit(tx, checkout.DropTopic(d.ID))
		return d, nil
	})
}

// poke wakes the scheduler to look at a new or changed window.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// UpdateDrop changes a drop's title, window, limit or hold time.
func (s *Service) UpdateDrop(ctx context.Context, id int, in DropInput) (*ent.Drop, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	if in.Cap != nil || in.Pools != nil || in.VariantIDs != nil {
		return nil, checkout.BadInput("", "cap, pools and variants cannot change after creation; use rebalanceDropPools")
	}
	sys := viewer.SystemContext(ctx)
	return txn.Do(sys, s.db, "update drop", func(tx *ent.Tx) (*ent.Drop, error) {
		d, err := tx.Drop.Get(sys, id)
		if err != nil {
			return nil, checkout.NotFoundAs(err, "drop")
		}
		opens, closes, early := d.OpensAt, d.ClosesAt, d.EarlyAccessAt
		if in.OpensAt != nil {
			opens = *in.OpensAt
		}
		if in.ClosesAt != nil {
			closes = *in.ClosesAt
		}
		if in.EarlyAccessAt != nil {
			early = in.EarlyAccessAt
		}
		if in.ClearEarlyAccess {
			early = nil
		}
		if err := checkDropTimes(opens, closes, early); err != nil {
			return nil, err
		}
		u := tx.Drop.UpdateOneID(id).SetOpensAt(opens.UTC()).SetClosesAt(closes.UTC())
		if early == nil {
			u.ClearEarlyAccessAt()
		} else {
			u.SetEarlyAccessAt(early.UTC())
		}
		if in.Title != nil {
			u.SetTitle(*in.Title)
		}
		if in.PerCustomerLimit != nil {
			if *in.PerCustomerLimit < 0 {
				return nil, checkout.BadInput("perCustomerLimit", "must be zero (no limit) or more")
			}
			u.SetPerCustomerLimit(*in.PerCustomerLimit)
		}
		if in.HoldTTL != nil {
			if *in.HoldTTL < 30*time.Second || *in.HoldTTL > time.Hour {
				return nil, checkout.BadInput("holdMinutes", "must be between 0.5 and 60 minutes")
			}
			u.SetHoldTTLSeconds(int(in.HoldTTL.Seconds()))
		}
		s.poke()
		s.AfterCommit(tx, checkout.DropTopic(id))
		return u.Save(sys)
	})
}

// Rebalance moves unsold units from one channel's pool to another's while
// the drop runs. Held and sold units stay where they are.
func (s *Service) Rebalance(ctx context.Context, dropID int, from, to checkout.Channel, units int, key string) (int, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return 0, err
	}
	if units <= 0 || units > maxDropCap {
		return 0, checkout.BadInput("units", "must be between 1 and %d", maxDropCap)
	}
	if from == to {
		return 0, checkout.BadInput("to", "must differ from the source channel")
	}
	for _, c := range []checkout.Channel{from, to} {
		if err := droppool.ChannelValidator(c); err != nil {
			return 0, checkout.BadInput("channel", "unknown channel %q", c)
		}
	}
	req := struct {
		Drop     int
		From, To checkout.Channel
		Units    int
	}{dropID, from, to, units}
	return txn.Idempotent(ctx, s.db, "rebalanceDropPools", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		if _, err := tx.Drop.Get(sys, dropID); err != nil {
			return 0, checkout.NotFoundAs(err, "drop")
		}
		n, err := tx.DropPool.Update().
			Where(droppool.DropID(dropID), droppool.ChannelEQ(from), droppool.RemainingGTE(units)).
			AddRemaining(-units).AddAllocated(-units).Save(sys)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, fmt.Errorf("rebalance %d units from %s: %w", units, from, checkout.ErrOutOfStock)
		}
		err = tx.DropPool.Create().SetDropID(dropID).SetChannel(to).SetAllocated(units).SetRemaining(units).
			OnConflictColumns(droppool.FieldDropID, droppool.FieldChannel).
			AddAllocated(units).AddRemaining(units).Exec(sys)
		if err != nil {
			return 0, err
		}
		s.AfterCommit(tx, checkout.DropTopic(dropID))
		return dropID, nil
	})
}

// Remaining returns the unsold, unheld units of a drop across its pools.
func Remaining(d *ent.Drop) int {
	n := 0
	for _, p := range d.Edges.Pools {
		n += p.Remaining
	}
	return n
}

// RunScheduler persists each drop's state at the instant it changes by the
// clock and calls Changed, until ctx ends. It sleeps until the next
// transition of any drop (or at most a minute, to pick up new drops).
func (s *Service) RunScheduler(ctx context.Context) {
	sys := viewer.SystemContext(ctx)
	for {
		next, err := s.tick(sys)
		if err != nil && ctx.Err() == nil {
			s.log.Error("drop scheduler", "error", err)
		}
		wait := time.Minute
		if next != nil {
			if d := next.Sub(s.now()); d < wait {
				wait = max(d, 0)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// tick brings every unclosed drop's persisted state up to date and returns
// the earliest upcoming transition.
func (s *Service) tick(ctx context.Context) (*time.Time, error) {
	now := s.now()
	drops, err := s.db.Drop.Query().Where(drop.StateNEQ(drop.StateCLOSED)).WithPools().All(ctx)
	if err != nil {
		return nil, err
	}
	var next *time.Time
	for _, d := range drops {
		st := DropStateAt(d, Remaining(d), now)
		if st != d.State {
			n, err := s.db.Drop.Update().Where(drop.ID(d.ID), drop.StateEQ(d.State)).SetState(st).Save(ctx)
			if err != nil {
				return nil, err
			}
			if n == 1 {
				s.Announce(ctx, checkout.DropTopic(d.ID))
				if s.Changed != nil {
					s.Changed(d.ID, st)
				}
			}
		}
		if t := NextTransition(d, now); t != nil && (next == nil || t.Before(*next)) {
			next = t
		}
	}
	return next, nil
}

// Claim is a hold's claim on a drop: units from one channel's pool,
// counted against the customer's allowance (limit units; 0: no limit).
type Claim struct {
	DropID, CustomerID int
	Channel            checkout.Channel
	Units, Limit       int
}

// Claim takes c's units from the drop's pool and adds them to the
// customer's count, each with one conditional write: a pool that has run
// dry is ErrOutOfStock, a count that would pass the limit is
// ErrLimitExceeded, and either refuses the caller's whole transaction.
// This is where the per-customer limit is enforced: concurrent holds of
// one customer serialise on the drop_customers row, so N racing holds
// can never count more than the limit.
func (s *Service) Claim(ctx context.Context, tx *ent.Tx, c Claim) error {
	n, err := tx.DropPool.Update().
		Where(droppool.DropID(c.DropID), droppool.ChannelEQ(c.Channel), droppool.RemainingGTE(c.Units)).
		AddRemaining(-c.Units).Save(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("drop %d %s pool: %w", c.DropID, c.Channel, checkout.ErrOutOfStock)
	}
	// The allowance counter: insert, or add if still within the limit.
	q := `INSERT INTO drop_customers (drop_id, customer_id, units) VALUES (?, ?, ?)
	      ON CONFLICT (drop_id, customer_id) DO UPDATE SET units = drop_customers.units + excluded.units`
	args := []any{c.DropID, c.CustomerID, c.Units}
	if c.Limit > 0 {
		q += ` WHERE drop_customers.units + excluded.units <= ?`
		args = append(args, c.Limit)
	}
	n64, err := txn.Exec(ctx, tx, s.dialect, q, args...)
	if err != nil {
		return err
	}
	if n64 == 0 {
		return fmt.Errorf("drop %d: %w", c.DropID, checkout.ErrLimitExceeded)
	}
	return nil
}

// Unclaim gives back what Claim took. Callers guard it with the line's
// status transition, so it runs once per hold.
func (s *Service) Unclaim(ctx context.Context, tx *ent.Tx, c Claim) error {
	if _, err := tx.DropPool.Update().Where(droppool.DropID(c.DropID), droppool.ChannelEQ(c.Channel)).
		AddRemaining(c.Units).Save(ctx); err != nil {
		return err
	}
	_, err := txn.Exec(ctx, tx, s.dialect, `UPDATE drop_customers SET units = units - ? WHERE drop_id = ? AND customer_id = ? AND units >= ?`,
		c.Units, c.DropID, c.CustomerID, c.Units)
	return err
}
