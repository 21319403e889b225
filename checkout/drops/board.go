package drops

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/orderline"
)

// Board is a running drop's figures for the staff's live board, each from
// one SQL aggregate over the cart and order lines that name the drop.
type Board struct {
	// HeldUnits sit in carts now (held, not yet paid or run out).
	HeldUnits int
	// AddedUnits were ever put in carts through the drop (holds taken).
	AddedUnits int
	// PaidUnits are in orders that were paid (refunds included).
	PaidUnits int
	// FirstSaleAt and LastSaleAt bound the paid orders; nil before any.
	FirstSaleAt, LastSaleAt *time.Time
	// PerMinute is paid units per minute for the window asked for,
	// oldest first, one entry a minute (zeros included).
	PerMinute []MinuteUnits
}

// MinuteUnits is what sold in the minute starting At.
type MinuteUnits struct {
	At    time.Time
	Units int
}

// MaxBoardMinutes bounds the board's sales-per-minute window.
const MaxBoardMinutes = 24 * 60

// coalesceSum is SUM(column) that is 0 (not NULL) over no rows.
func coalesceSum(column string) ent.AggregateFunc {
	return func(s *sql.Selector) string {
		return sql.As("COALESCE(SUM("+s.C(column)+"), 0)", "n")
	}
}

// Board computes the live board of a drop for the last minutes minutes
// up to now. Owners and staff only: clerks and customers are refused.
func (s *Service) Board(ctx context.Context, dropID, minutes int) (Board, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return Board{}, err
	}
	if minutes < 1 || minutes > MaxBoardMinutes {
		return Board{}, checkout.BadInput("minutes", "must be between 1 and %d", MaxBoardMinutes)
	}
	if _, err := s.db.Drop.Get(ctx, dropID); err != nil {
		return Board{}, checkout.NotFoundAs(err, "drop")
	}
	now := s.now().UTC()
	var b Board
	var err error
	b.HeldUnits, err = s.db.CartLine.Query().
		Where(cartline.DropID(dropID), cartline.StatusEQ(cartline.StatusHELD), cartline.ExpiresAtGT(now)).
		Aggregate(coalesceSum(cartline.FieldQuantity)).Int(ctx)
	if err != nil {
		return Board{}, fmt.Errorf("drops: board %d: held: %w", dropID, err)
	}
	b.AddedUnits, err = s.db.CartLine.Query().Where(cartline.DropID(dropID)).
		Aggregate(coalesceSum(cartline.FieldQuantity)).Int(ctx)
	if err != nil {
		return Board{}, fmt.Errorf("drops: board %d: added: %w", dropID, err)
	}
	paid := orderline.HasOrderWith(order.PaidAtNotNil())
	b.PaidUnits, err = s.db.OrderLine.Query().Where(orderline.DropID(dropID), paid).
		Aggregate(coalesceSum(orderline.FieldQuantity)).Int(ctx)
	if err != nil {
		return Board{}, fmt.Errorf("drops: board %d: paid: %w", dropID, err)
	}
	// Paid units per order in the window (one row per paid order, summed
	// in SQL); the minutes are bucketed here, the same on every dialect.
	start := now.Truncate(time.Minute).Add(-time.Duration(minutes-1) * time.Minute)
	var rows []struct {
		OrderID int `json:"order_id"`
		Units   int `json:"units"`
	}
	err = s.db.OrderLine.Query().
		Where(orderline.DropID(dropID), orderline.HasOrderWith(order.PaidAtGTE(start))).
		GroupBy(orderline.FieldOrderID).
		Aggregate(func(s *sql.Selector) string { return sql.As(sql.Sum(s.C(orderline.FieldQuantity)), "units") }).
		Scan(ctx, &rows)
	if err != nil {
		return Board{}, fmt.Errorf("drops: board %d: per minute: %w", dropID, err)
	}
	b.PerMinute = make([]MinuteUnits, minutes)
	for i := range b.PerMinute {
		b.PerMinute[i].At = start.Add(time.Duration(i) * time.Minute)
	}
	if len(rows) > 0 {
		ids := make([]int, len(rows))
		units := make(map[int]int, len(rows))
		for i, r := range rows {
			ids[i], units[r.OrderID] = r.OrderID, r.Units
		}
		orders, err := s.db.Order.Query().Where(order.IDIn(ids...)).Select(order.FieldID, order.FieldPaidAt).All(ctx)
		if err != nil {
			return Board{}, fmt.Errorf("drops: board %d: paid times: %w", dropID, err)
		}
		for _, o := range orders {
			if o.PaidAt == nil {
				continue
			}
			i := int(o.PaidAt.UTC().Sub(start) / time.Minute)
			if i >= 0 && i < minutes {
				b.PerMinute[i].Units += units[o.ID]
			}
		}
	}
	// The first and last sale: the paid orders' bounds.
	bounds := s.db.Order.Query().Where(order.PaidAtNotNil(), order.HasLinesWith(orderline.DropID(dropID)))
	if first, err := bounds.Clone().Order(order.ByPaidAt()).Select(order.FieldPaidAt).First(ctx); err == nil {
		b.FirstSaleAt = first.PaidAt
		last, err := bounds.Clone().Order(order.ByPaidAt(sql.OrderDesc())).Select(order.FieldPaidAt).First(ctx)
		if err != nil {
			return Board{}, fmt.Errorf("drops: board %d: last sale: %w", dropID, err)
		}
		b.LastSaleAt = last.PaidAt
	} else if !ent.IsNotFound(err) {
		return Board{}, fmt.Errorf("drops: board %d: first sale: %w", dropID, err)
	}
	return b, nil
}
