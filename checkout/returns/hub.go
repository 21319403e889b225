// Returns dropped off at a pop-up hub, with or without its link to
// central, and returns started by the return QR printed on the parcel's
// label. The hub checks the return QR with central's public key, records
// the drop-off in its outbox (edge.Sales.ReceiveReturn), and central
// applies it here, once per drop-off id, with the return's one guarded
// transition.

package returns

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/fulfillmentline"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/orderline"
	"github.com/merchd/merchd/ent/orderreturn"
	"github.com/merchd/merchd/ent/returnline"
	"github.com/merchd/merchd/ent/viewer"
)

// KindLabel is the signed-code kind of the return QR on a parcel's label.
const KindLabel = "returnlabel"

// LabelPass is the return QR printed on a parcel's label: central's
// signature over the fulfilment. Scanned at a drop-off it brings back the
// return the buyer asked for, or, if none, starts one of the parcel's
// units not yet returned (reason OTHER).
type LabelPass struct {
	Kind          string `json:"k"` // "returnlabel"
	FulfillmentID int    `json:"f"`
	OrderID       int    `json:"o"`
}

// LabelQR is the return QR for f's label; "" without a signer (the shop
// takes no returns by label then).
func (s *Service) LabelQR(f *ent.Fulfillment) string {
	if s.signer == nil || f == nil {
		return ""
	}
	return s.signer.Sign(LabelPass{Kind: KindLabel, FulfillmentID: f.ID, OrderID: f.OrderID})
}

// labelNote is the reason text of a return started at a drop-off by the
// parcel label's return QR.
const labelNote = "dropped off with the parcel label's return QR"

// fromLabel is the return a scan of lp at time at brings back: the oldest
// one asked for and not yet dropped off, else a new one (reason OTHER) of
// every unit of the parcel neither refunded nor in a return. Each line's
// units are taken with the reservation's one conditional update, so of
// two clerks scanning one label at once the second finds nothing left:
// ErrAlreadyReceived.
func (s *Service) fromLabel(ctx context.Context, tx *ent.Tx, lp LabelPass, at time.Time) (*ent.OrderReturn, error) {
	sys := viewer.SystemContext(ctx)
	f, err := tx.Fulfillment.Get(sys, lp.FulfillmentID)
	if err != nil || f.OrderID != lp.OrderID {
		return nil, checkout.BadInput("code", "this label's return QR is not valid (damaged or not from this shop)")
	}
	open, err := tx.OrderReturn.Query().Where(orderreturn.FulfillmentID(f.ID), orderreturn.StatusEQ(orderreturn.StatusREQUESTED)).
		Order(ent.Asc(orderreturn.FieldID)).First(sys)
	if err == nil {
		return open, nil
	} else if !ent.IsNotFound(err) {
		return nil, err
	}
	ord, err := tx.Order.Get(sys, f.OrderID)
	if err != nil {
		return nil, err
	}
	if ord.Status == order.StatusREFUNDED { // by its returns, or by staff
		return nil, ErrAlreadyReceived.Detail("every unit of order %s is back or refunded", ord.Number)
	}
	if ord.Status != order.StatusPAID && ord.Status != order.StatusPARTIALLY_REFUNDED {
		return nil, checkout.BadInput("code", "order %s is %s: it cannot be returned", ord.Number, ord.Status)
	}
	handed, err := handedOver(sys, tx, f)
	if err != nil {
		return nil, err
	}
	if handed.IsZero() {
		return nil, checkout.BadInput("code", "order %s has not reached its buyer yet (it is %s)", ord.Number, f.Status)
	}
	if at.Before(handed) {
		at = handed.UTC()
	}
	p, err := s.policy(sys, tx.Setting)
	if err != nil {
		return nil, err
	}
	if closes := handed.Add(time.Duration(p.WindowDays) * 24 * time.Hour); at.After(closes) {
		return nil, checkout.BadInput("code", "the return window of order %s closed at %s (%d days after it reached its buyer)",
			ord.Number, closes.UTC().Format(time.RFC3339), p.WindowDays)
	}
	// One label scan of this parcel at a time (the row lock on PostgreSQL;
	// SQLite serialises writers): the units already back from it, read
	// below, are then those every earlier scan committed.
	if _, err := txn.Exec(ctx, tx, s.dialect, `UPDATE fulfillments SET updated_at = updated_at WHERE id = ?`, f.ID); err != nil {
		return nil, err
	}
	// The units this parcel carried (an order split into parts has a
	// label per part).
	carried, err := tx.FulfillmentLine.Query().Where(fulfillmentline.FulfillmentID(f.ID)).
		Order(ent.Asc(fulfillmentline.FieldOrderLineID)).All(sys)
	if err != nil {
		return nil, err
	}
	inParcel := make(map[int]int, len(carried))
	ids := make([]int, 0, len(carried))
	for _, c := range carried {
		inParcel[c.OrderLineID] = c.Quantity
		ids = append(ids, c.OrderLineID)
	}
	lines, err := tx.OrderLine.Query().Where(orderline.IDIn(ids...)).Order(ent.Asc(orderline.FieldID)).All(sys)
	if err != nil {
		return nil, err
	}
	var (
		units  int
		amount int64
		bulk   []*ent.ReturnLineCreate
		taken  []*ent.OrderLine
		per    []int
	)
	for _, ol := range lines {
		// This parcel's units still out: what it carried, less what
		// returns tied to it (by its label, or asked for online) brought
		// back or will.
		back, err := tx.ReturnLine.Query().Where(returnline.OrderLineID(ol.ID),
			returnline.HasOrderReturnWith(orderreturn.FulfillmentID(f.ID), orderreturn.StatusNEQ(orderreturn.StatusCANCELED))).Count(sys)
		if err != nil {
			return nil, err
		}
		left := min(inParcel[ol.ID]-back, ol.Quantity-ol.RefundedQuantity-ol.ReturnedQuantity)
		if left <= 0 {
			continue
		}
		ok, err := s.reserve(ctx, tx, ol.ID, left)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // a concurrent scan or request took them
		}
		units += left
		amount += int64(left) * ol.UnitAmount
		taken, per = append(taken, ol), append(per, left)
	}
	if units == 0 {
		last, err := tx.OrderReturn.Query().Where(orderreturn.FulfillmentID(f.ID), orderreturn.ReceivedAtNotNil()).
			Order(ent.Desc(orderreturn.FieldReceivedAt)).First(sys)
		if err == nil {
			return nil, ErrAlreadyReceived.Detail("every unit of order %s is back or refunded (last received at %s)",
				ord.Number, last.ReceivedAt.UTC().Format(time.RFC3339))
		} else if !ent.IsNotFound(err) {
			return nil, err
		}
		return nil, ErrAlreadyReceived.Detail("every unit of order %s is back or refunded", ord.Number)
	}
	in := RequestInput{OrderID: ord.ID, Reason: orderreturn.ReasonOTHER, Note: labelNote}
	rid, code, err := s.insert(ctx, tx, ord, f, in, units, amount, p.Refund, at)
	if err != nil {
		return nil, err
	}
	for i, ol := range taken {
		for range per[i] {
			bulk = append(bulk, tx.ReturnLine.Create().SetReturnID(rid).SetCustomerID(ord.CustomerID).
				SetOrderLineID(ol.ID).SetVariantID(ol.VariantID).SetUnitAmount(ol.UnitAmount))
		}
	}
	if err := tx.ReturnLine.CreateBulk(bulk...).Exec(sys); err != nil {
		return nil, err
	}
	if err := checkout.Record(sys, s.outbox, tx, checkout.Event{Type: checkout.EventReturnRequested, OrderID: ord.ID,
		CustomerID: ord.CustomerID, Data: map[string]any{"return_id": rid, "code": code, "units": units,
			"amount": amount, "currency": ord.Currency, "reason": string(in.Reason), "refund_mode": string(p.Refund)}}); err != nil {
		return nil, err
	}
	return tx.OrderReturn.Get(sys, rid)
}

// OutboxHubDropoff is the outbox kind of a return dropped off at a hub.
const OutboxHubDropoff = "returnDropoff"

// RemoteDropoff is a return dropped off at a hub, as the hub's outbox
// delivers it to central.
type RemoteDropoff struct {
	// DropoffID is the hub's id of the drop-off: central applies it once
	// by it, however often it is delivered.
	DropoffID string `json:"dropoffId"`
	// Code is what the clerk scanned: the return QR, or the parcel
	// label's return QR.
	Code      string    `json:"code"`
	ScannedAt time.Time `json:"scannedAt"`
	// What the hub read from the code, for its own list.
	ReturnID      int `json:"returnId,omitempty"`
	FulfillmentID int `json:"fulfillmentId,omitempty"`
	OrderID       int `json:"orderId"`
}

// Outcomes of a hub's drop-off on central. Each is final: the hub records
// it and does not send the drop-off again.
const (
	// HubReceived: this drop-off received the return on central.
	HubReceived = "RECEIVED"
	// HubAlreadyReceived: central had the return received before (at a
	// counter, by another scan): a conflict for staff.
	HubAlreadyReceived = "ALREADY_RECEIVED"
	// HubConflict: the return's state allowed no drop-off (the buyer
	// canceled it).
	HubConflict = "CONFLICT"
	// HubQueued is a drop-off at a hub that central has not answered yet.
	HubQueued = "QUEUED"
)

// HubDropoffResult is central's answer to one delivered drop-off; a
// redelivery answers the same.
type HubDropoffResult struct {
	Outcome  string
	ReturnID int
	// ReceivedAt is when central holds the return received: the hub's
	// time (clamped), or the earlier drop-off's.
	ReceivedAt *time.Time
	// Note says why, for ALREADY_RECEIVED and CONFLICT.
	Note string
}

// ReceiveFromHub applies a drop-off made at the hub whose token asks,
// once per drop-off id: a redelivery answers what the first delivery did
// and changes nothing. The location is the hub's, from the token, never
// from the hub's word. The drop-off is the return's one guarded
// transition to RECEIVED at the hub's time clamped to [requested, now],
// and the refund policy applies as at a counter (wallet credit in the
// same transaction under WALLET_ON_DROPOFF). A return central had
// received before is ALREADY_RECEIVED, one the buyer canceled CONFLICT:
// final answers for the hub.
func (s *Service) ReceiveFromHub(ctx context.Context, d RemoteDropoff) (HubDropoffResult, error) {
	switch v := viewer.FromContext(ctx); {
	case v.Role == viewer.Anonymous:
		return HubDropoffResult{}, checkout.ErrUnauthenticated
	case v.Role != viewer.HubToken || v.Hub == "":
		return HubDropoffResult{}, checkout.ErrForbidden.Detail("a hub's drop-offs are recorded with that hub's own token")
	}
	switch {
	case d.DropoffID == "" || len(d.DropoffID) > 64:
		return HubDropoffResult{}, checkout.BadInput("dropoffId", "1 to 64 characters")
	case d.Code == "" || len(d.Code) > 4096:
		return HubDropoffResult{}, checkout.BadInput("code", "needs the return QR scanned")
	case d.ScannedAt.IsZero():
		return HubDropoffResult{}, checkout.BadInput("scannedAt", "needs the time of the drop-off")
	}
	hub := viewer.FromContext(ctx).Hub
	sys := viewer.SystemContext(ctx)
	loc, err := s.db.Location.Query().Where(location.Code(hub), location.KindEQ(location.KindHUB)).OnlyID(sys)
	if ent.IsNotFound(err) {
		return HubDropoffResult{}, checkout.ErrForbidden.Detail("hub %s is not a location on central", hub)
	} else if err != nil {
		return HubDropoffResult{}, err
	}
	req := struct {
		Code      string
		ScannedAt time.Time
	}{d.Code, d.ScannedAt.UTC()}
	return txn.Idempotent(ctx, s.db, "hubDropoff", d.DropoffID, req, func(ctx context.Context, tx *ent.Tx) (HubDropoffResult, error) {
		at, now := d.ScannedAt.UTC(), s.now().UTC()
		if at.After(now) {
			at = now
		}
		stamp := at.Format(time.RFC3339)
		r, err := s.resolve(ctx, tx, d.Code, at)
		if errors.Is(err, ErrAlreadyReceived) { // a label whose units are all back
			return HubDropoffResult{Outcome: HubAlreadyReceived, Note: fmt.Sprintf("hub %s scanned this at %s, but %s", hub, stamp, err)}, nil
		} else if err != nil {
			return HubDropoffResult{}, err
		}
		if at.Before(r.CreatedAt) {
			at = r.CreatedAt.UTC()
		}
		ok, err := s.dropoff(ctx, tx, r, loc, at)
		if err != nil {
			return HubDropoffResult{}, err
		}
		if ok {
			return HubDropoffResult{Outcome: HubReceived, ReturnID: r.ID, ReceivedAt: &at}, nil
		}
		r, err = tx.OrderReturn.Get(sys, r.ID)
		if err != nil {
			return HubDropoffResult{}, err
		}
		if r.Status == orderreturn.StatusCANCELED {
			return HubDropoffResult{Outcome: HubConflict, ReturnID: r.ID,
				Note: fmt.Sprintf("conflict: hub %s took this return in at %s, but the buyer had canceled it", hub, stamp)}, nil
		}
		prev := "before"
		if r.ReceivedAt != nil {
			prev = "at " + r.ReceivedAt.UTC().Format(time.RFC3339)
		}
		return HubDropoffResult{Outcome: HubAlreadyReceived, ReturnID: r.ID, ReceivedAt: r.ReceivedAt,
			Note: fmt.Sprintf("conflict: hub %s took this return in at %s, but it was received %s (%s)", hub, stamp, prev, r.ReceivedBy)}, nil
	})
}

// HubDropoff is a return dropped off at a hub, as the hub knows it.
type HubDropoff struct {
	DropoffID string
	// ReturnID is the return the return QR names; 0 for a parcel label's
	// return QR (central finds or starts the return).
	ReturnID, FulfillmentID, OrderID int
	ScannedAt                        time.Time
	// State is HubQueued until central answers, then its outcome.
	State string
	Note  string
}
