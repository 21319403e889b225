package edge

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/returns"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/outbox"
	"github.com/merchd/merchd/ent/viewer"
)

// ReceiveReturn takes a return dropped off at this hub, with or without
// the link to central: code is the return QR (or the return QR on the
// parcel's label), checked with central's public key. The drop-off is its
// outbox entry, keyed by the return (or the parcel) it names, so it
// commits once under the outbox's unique key: of two clerks scanning one
// return, one takes it in and the other is ALREADY_RECEIVED, link or not.
// Central applies it once when the outbox delivers it, with the shop's
// refund policy; the clerk is answered at once.
func (h *Sales) ReceiveReturn(ctx context.Context, code, key string) (returns.HubDropoff, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return returns.HubDropoff{}, err
	}
	if h.code == "" {
		return returns.HubDropoff{}, checkout.BadInput("hub", "this server is not a hub; run `merchd edge`")
	}
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 4096 {
		return returns.HubDropoff{}, checkout.BadInput("code", "scan the return QR")
	}
	if !fulfillment.IsPass(code) {
		return returns.HubDropoff{}, checkout.BadInput("code", "scan the return QR: a hub checks return QRs only (a typed return code is checked on central)")
	}
	v := h.central.Load()
	if v == nil {
		return returns.HubDropoff{}, checkout.BadInput("code", "this hub has not reached central yet, so it cannot check return QRs")
	}
	d := returns.RemoteDropoff{Code: code}
	var (
		rp   returns.Pass
		lp   returns.LabelPass
		once string // the outbox key: one drop-off per return, or per parcel
	)
	switch {
	case v.Verify(code, returns.KindReturn, &rp) == nil:
		d.ReturnID, d.OrderID, once = rp.ReturnID, rp.OrderID, "hubdropoff-r"+strconv.Itoa(rp.ReturnID)
	case v.Verify(code, returns.KindLabel, &lp) == nil:
		d.FulfillmentID, d.OrderID, once = lp.FulfillmentID, lp.OrderID, "hubdropoff-f"+strconv.Itoa(lp.FulfillmentID)
	default:
		return returns.HubDropoff{}, checkout.BadInput("code", "this return QR is not valid (damaged or not from this shop)")
	}
	hd, err := txn.Idempotent(ctx, h.db, "receiveReturn", key, code, func(ctx context.Context, tx *ent.Tx) (returns.HubDropoff, error) {
		sys := viewer.SystemContext(ctx)
		d := d
		d.DropoffID, d.ScannedAt = hubs.NewSaleID(), h.now().UTC()
		b, err := json.Marshal(d)
		if err != nil {
			return returns.HubDropoff{}, err
		}
		// The once: the outbox's unique key. ON CONFLICT DO NOTHING keeps
		// a PostgreSQL transaction usable for the answer.
		n, err := txn.Exec(sys, tx, h.dialect,
			`INSERT INTO outboxes (key, kind, payload, status, attempts, last_error, created_at, next_attempt_at)
			 VALUES (?, ?, ?, 'PENDING', 0, '', ?, ?) ON CONFLICT (key) DO NOTHING`,
			once, returns.OutboxHubDropoff, b, d.ScannedAt, d.ScannedAt)
		if err != nil {
			return returns.HubDropoff{}, err
		}
		if n == 0 {
			prev, err := tx.Outbox.Query().Where(outbox.Key(once)).Only(sys)
			if err != nil {
				return returns.HubDropoff{}, err
			}
			return returns.HubDropoff{}, returns.ErrAlreadyReceived.Detail("taken in at this hub at %s", prev.CreatedAt.UTC().Format(time.RFC3339))
		}
		return dropoff(d, returns.HubQueued, ""), nil
	})
	if err == nil {
		h.Nudge()
	}
	return hd, err
}

// dropoff is d as the API shows a drop-off at this hub.
func dropoff(d returns.RemoteDropoff, state, note string) returns.HubDropoff {
	return returns.HubDropoff{DropoffID: d.DropoffID, ReturnID: d.ReturnID, FulfillmentID: d.FulfillmentID, OrderID: d.OrderID,
		ScannedAt: d.ScannedAt, State: state, Note: note}
}

const dropoffMutation = `mutation($in: RecordHubDropoffInput!) {
  recordHubDropoff(input: $in) { outcome note }
}`

// deliverDropoff sends one drop-off to central and settles it by
// central's answer: an outcome (RECEIVED, ALREADY_RECEIVED, CONFLICT) is
// final, kept with its note; a refusal waits cfg.Refused for staff; a
// failure goes again after the backoff.
func (s *Syncer) deliverDropoff(ctx context.Context, o *ent.Outbox) error {
	var d returns.RemoteDropoff
	if err := json.Unmarshal(o.Payload, &d); err != nil {
		return s.refused(ctx, s.db, o, "unreadable payload: "+err.Error())
	}
	var out struct {
		RecordHubDropoff struct {
			Outcome string
			Note    *string
		}
	}
	err := s.call(ctx, dropoffMutation, map[string]any{"in": map[string]any{"dropoffId": d.DropoffID, "code": d.Code,
		"scannedAt": d.ScannedAt}}, &out)
	var ce *centralError
	if errors.As(err, &ce) && ce.refusal() {
		return s.refused(ctx, s.db, o, ce.Error())
	} else if err != nil {
		return err
	}
	res, note := out.RecordHubDropoff, ""
	if res.Note != nil {
		note = *res.Note
	}
	u := s.db.Outbox.UpdateOneID(o.ID).SetStatus(outbox.StatusDONE).SetDoneAt(s.now())
	if res.Outcome != returns.HubReceived {
		// Final: central's answer is kept, with the record, for staff.
		s.log.Warn("central recorded a hub return drop-off as a conflict", "dropoff", d.DropoffID, "outcome", res.Outcome, "note", note)
		u = u.SetLastError(res.Outcome + ": " + note)
	}
	return u.Exec(ctx)
}
