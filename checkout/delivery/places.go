package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/deliverychoice"
	"github.com/merchd/merchd/ent/predicate"
	"github.com/merchd/merchd/ent/viewer"
)

// A cart's pickup place lives as long as its holds: HELD while any line
// of the cart is held, RELEASED or EXPIRED with the last one (carts calls
// LineReleased in the transaction that releases each line), SOLD when the
// order is paid. Each move is one conditional write on the choice's place,
// and only that write moves the window's counter.

// LineReleased gives the cart's pickup place back if the line released
// in tx was the cart's last hold (expired: it timed out; else it was
// removed or its order canceled).
func (s *Service) LineReleased(ctx context.Context, tx *ent.Tx, cartID int, expired bool) error {
	sys := viewer.SystemContext(ctx)
	// A cart that still holds other lines keeps its place; seeing so takes
	// no lock.
	held, err := tx.CartLine.Query().Where(cartline.CartID(cartID), cartline.StatusEQ(cartline.StatusHELD)).Exist(sys)
	if err != nil || held {
		return err
	}
	to := deliverychoice.PlaceRELEASED
	if expired {
		to = deliverychoice.PlaceEXPIRED
	}
	_, err = s.releaseIfEmpty(sys, tx, cartID, to)
	return err
}

// releaseIfEmpty moves the cart's place HELD → to if the cart holds no
// line, and gives the window its place back; false if it did not.
//
// It first locks the choice's row, then asks the question in a statement
// of its own: at PostgreSQL's READ COMMITTED each statement sees what was
// committed when it started, so of two transactions releasing a cart's
// last two lines at once, the second asks only after the first committed,
// and sees both lines gone. (SQLite runs them one after the other.)
func (s *Service) releaseIfEmpty(ctx context.Context, tx *ent.Tx, cartID int, to deliverychoice.Place) (bool, error) {
	now := s.now().UTC()
	n, err := s.exec(ctx, tx, `UPDATE delivery_choices SET updated_at = ? WHERE cart_id = ? AND place = 'HELD'`, now, cartID)
	if err != nil || n == 0 {
		return false, err
	}
	n, err = s.exec(ctx, tx, `UPDATE delivery_choices SET place = ?, updated_at = ?
		WHERE cart_id = ? AND place = 'HELD'
		AND NOT EXISTS (SELECT 1 FROM cart_lines WHERE cart_lines.cart_id = ? AND cart_lines.status = 'HELD')`,
		string(to), now, cartID, cartID)
	if err != nil || n == 0 {
		return false, err
	}
	c, err := tx.DeliveryChoice.Query().Where(deliverychoice.CartID(cartID)).Only(ctx)
	if err != nil {
		return false, err
	}
	if c.WindowID != nil {
		if err := s.givePlace(ctx, tx, *c.WindowID); err != nil {
			return false, err
		}
	}
	s.AfterCommit(tx, checkout.CartTopic(c.CustomerID))
	return true, nil
}

// SweepPlaces gives back the places of carts that hold no line any more
// but whose place is still HELD: the rare leftovers of a customer
// removing their last line while choosing a window at the same moment.
// The shop's sweeper runs it; it returns how many it gave back.
func (s *Service) SweepPlaces(ctx context.Context) (int, error) {
	sys := viewer.SystemContext(ctx)
	// A place chosen a moment ago may belong to a cart whose first line is
	// being added in a transaction not yet committed: leave it a minute.
	quiet := s.now().Add(-time.Minute)
	orphans, err := s.db.DeliveryChoice.Query().
		Where(deliverychoice.PlaceEQ(deliverychoice.PlaceHELD), deliverychoice.UpdatedAtLT(quiet),
			predicate.DeliveryChoice(func(sel *sql.Selector) {
				t := sql.Table(cartline.Table)
				sel.Where(sql.Not(sql.Exists(sql.Select(t.C(cartline.FieldID)).From(t).Where(sql.And(
					sql.ColumnsEQ(t.C(cartline.FieldCartID), sel.C(deliverychoice.FieldCartID)),
					sql.EQ(t.C(cartline.FieldStatus), cartline.StatusHELD.String()))))))
			})).
		Limit(500).Select(deliverychoice.FieldCartID).Ints(sys)
	if err != nil || len(orphans) == 0 {
		return 0, err
	}
	return txn.Do(sys, s.db, "sweep pickup places", func(tx *ent.Tx) (int, error) {
		n := 0
		for _, cartID := range orphans {
			ok, err := s.releaseIfEmpty(sys, tx, cartID, deliverychoice.PlaceEXPIRED)
			if err != nil {
				return 0, err
			}
			if ok {
				n++
			}
		}
		return n, nil
	})
}

// Joined is a cart's choice as checkout takes it onto the order.
type Joined struct {
	ChoiceID int // 0: the cart has no choice
	Price    int64
}

// Join prepares the cart's choice for the order checkout is placing, in
// checkout's transaction (after it locked the cart): it judges the choice
// again against the configuration and the cart as they are now (a window
// that ended, a zone switched off, a cart now too heavy for its rate are
// refused: choose again), fixes its price, and holds the pickup place
// again if it went back meanwhile (WINDOW_FULL if none is left). The
// caller adds Price to the order's total once and then calls Attach.
func (s *Service) Join(ctx context.Context, tx *ent.Tx, k *ent.Cart) (Joined, error) {
	sys := viewer.SystemContext(ctx)
	c, err := tx.DeliveryChoice.Query().Where(deliverychoice.CartID(k.ID)).Only(sys)
	if ent.IsNotFound(err) {
		return Joined{}, nil
	}
	if err != nil {
		return Joined{}, err
	}
	now := s.now()
	st, err := s.stateOf(sys, tx.Client(), k, now)
	if err != nil {
		return Joined{}, err
	}
	p, err := s.pick(sys, tx.Client(), st, c.Method, c.WindowID, c.ZoneID, c.RateID, c.Address, now, true)
	var ie *checkout.InputError
	if errors.As(err, &ie) {
		return Joined{}, checkout.BadInput("deliveryMethod", "the delivery chosen no longer applies (%s): choose again with setDeliveryMethod", ie.Error())
	}
	if err != nil {
		return Joined{}, err
	}
	u := tx.DeliveryChoice.Update().Where(deliverychoice.ID(c.ID), deliverychoice.OrderIDIsNil()).
		SetPriceAmount(p.price.Amount).SetCurrency(p.price.Currency).SetLabel(p.label).SetSameDay(p.sameDay).
		SetUpdatedAt(now)
	if p.window != nil {
		u.SetWindowStartsAt(p.window.StartsAt).SetWindowEndsAt(p.window.EndsAt)
	}
	if p.rate != nil {
		u.SetRateID(p.rate.ID) // the band the cart's weight is in now
	}
	if c.Method == Pickup && c.Place != deliverychoice.PlaceHELD {
		// The place went back with the cart's holds (all removed, then
		// items added again): take it again, or refuse.
		u.Where(deliverychoice.PlaceEQ(c.Place)).SetPlace(deliverychoice.PlaceHELD)
	}
	n, err := u.Save(sys)
	if err != nil {
		return Joined{}, err
	}
	if n == 0 {
		return Joined{}, fmt.Errorf("delivery choice %d changed under checkout", c.ID)
	}
	if c.Method == Pickup && c.Place != deliverychoice.PlaceHELD {
		ok, err := s.takePlace(sys, tx, *c.WindowID, &now)
		if err != nil {
			return Joined{}, err
		}
		if !ok {
			return Joined{}, fmt.Errorf("window %d: %w", *c.WindowID, checkout.ErrWindowFull)
		}
	}
	return Joined{ChoiceID: c.ID, Price: p.price.Amount}, nil
}

// Attach makes the joined choice the order's: from now on it is the
// order's snapshot of how it reaches its buyer.
func (s *Service) Attach(ctx context.Context, tx *ent.Tx, j Joined, orderID int) error {
	if j.ChoiceID == 0 {
		return nil
	}
	n, err := tx.DeliveryChoice.Update().Where(deliverychoice.ID(j.ChoiceID), deliverychoice.OrderIDIsNil()).
		SetOrderID(orderID).Save(viewer.SystemContext(ctx))
	if err == nil && n == 0 {
		err = fmt.Errorf("delivery choice %d joined another order", j.ChoiceID)
	}
	return err
}

// Sold keeps the order's pickup place for good: the order is paid. A
// place that went back meanwhile (the payment came after the holds
// expired) is taken again — ErrWindowFull if the window filled up since,
// and the caller treats the order like one whose units are gone.
func (s *Service) Sold(ctx context.Context, tx *ent.Tx, orderID int) error {
	sys := viewer.SystemContext(ctx)
	n, err := tx.DeliveryChoice.Update().
		Where(deliverychoice.OrderID(orderID), deliverychoice.PlaceEQ(deliverychoice.PlaceHELD)).
		SetPlace(deliverychoice.PlaceSOLD).Save(sys)
	if err != nil || n == 1 {
		return err
	}
	c, err := tx.DeliveryChoice.Query().Where(deliverychoice.OrderID(orderID)).Only(sys)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.Method != Pickup || c.WindowID == nil || c.Place == deliverychoice.PlaceSOLD || c.Place == deliverychoice.PlaceNONE {
		return nil
	}
	n, err = tx.DeliveryChoice.Update().Where(deliverychoice.ID(c.ID), deliverychoice.PlaceEQ(c.Place)).
		SetPlace(deliverychoice.PlaceSOLD).Save(sys)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("delivery choice %d changed under the payment", c.ID)
	}
	ok, err := s.takePlace(sys, tx, *c.WindowID, nil)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("window %d: %w", *c.WindowID, checkout.ErrWindowFull)
	}
	return nil
}
