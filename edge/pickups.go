package edge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/hubpickup"
	"github.com/merchd/merchd/ent/outbox"
	"github.com/merchd/merchd/ent/viewer"
)

// CollectPickup hands a pickup over at this hub, with or without the link
// to central: code is the buyer's pickup pass, checked with central's
// public key (the key the hub checks wallet passes with), or its fallback
// code, which the hub knows only for the pickups central listed as
// waiting here at the last sync. The handover and its outbox entry commit
// in one transaction, under the unique index on the fulfilment: of two
// clerks scanning one pass, one hands over and the other is
// ALREADY_COLLECTED, link or not. Central applies the handover once when
// the outbox delivers it; the clerk is answered at once.
func (h *Sales) CollectPickup(ctx context.Context, code, key string) (fulfillment.HubHandover, error) {
	if err := h.counter(ctx); err != nil {
		return fulfillment.HubHandover{}, err
	}
	if h.code == "" {
		return fulfillment.HubHandover{}, checkout.BadInput("hub", "this server is not a hub; run `merchd edge`")
	}
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 4096 {
		return fulfillment.HubHandover{}, checkout.BadInput("code", "scan the pickup pass or type its code")
	}
	var pass *fulfillment.Pass
	if fulfillment.IsPass(code) {
		v := h.central.Load()
		if v == nil {
			return fulfillment.HubHandover{}, checkout.BadInput("code", "this hub has not reached central yet, so it cannot check pickup passes")
		}
		pass = &fulfillment.Pass{}
		if v.Verify(code, fulfillment.KindPickup, pass) != nil {
			return fulfillment.HubHandover{}, checkout.BadInput("code", "this pickup pass is not valid (damaged or not from this shop)")
		}
	}
	hv, err := txn.Idempotent(ctx, h.db, "collectPickup", key, code, func(ctx context.Context, tx *ent.Tx) (fulfillment.HubHandover, error) {
		sys := viewer.SystemContext(ctx)
		var fid int
		if pass != nil {
			// A pickup central has not listed here yet (paid or moved here
			// since the last sync) is known from its signed pass.
			if err := tx.HubPickup.Create().SetFulfillmentID(pass.FulfillmentID).SetOrderID(pass.OrderID).SetPickupCode(pass.Code).
				OnConflictColumns(hubpickup.FieldFulfillmentID).Ignore().Exec(sys); err != nil {
				return fulfillment.HubHandover{}, err
			}
			fid = pass.FulfillmentID
		} else {
			p, err := h.pickupByCode(sys, tx, fulfillment.NormalizeCode(code))
			if err != nil {
				return fulfillment.HubHandover{}, err
			}
			fid = p.FulfillmentID
		}
		now := h.now().UTC()
		id := hubs.NewSaleID()
		n, err := tx.HubPickup.Update().Where(hubpickup.FulfillmentID(fid), hubpickup.StatusEQ(hubpickup.StatusWAITING)).
			SetStatus(hubpickup.StatusCOLLECTED).SetCollectionID(id).SetCollectedAt(now).Save(sys)
		if err != nil {
			return fulfillment.HubHandover{}, err
		}
		p, err := tx.HubPickup.Query().Where(hubpickup.FulfillmentID(fid)).Only(sys)
		if err != nil {
			return fulfillment.HubHandover{}, err
		}
		if n == 0 {
			return fulfillment.HubHandover{}, notWaiting(p)
		}
		rc := fulfillment.RemoteCollection{CollectionID: id, FulfillmentID: fid, Code: code, CollectedAt: now}
		if err := h.enqueue(sys, tx, fulfillment.OutboxHubCollection, "hubcollect-"+id, rc); err != nil {
			return fulfillment.HubHandover{}, err
		}
		return handover(p), nil
	})
	if err == nil {
		h.Nudge()
	}
	return hv, err
}

// pickupByCode finds the pickup a typed fallback code names among those
// central listed here: the waiting one, else the last one handed over (to
// answer ALREADY_COLLECTED rather than "unknown").
func (h *Sales) pickupByCode(ctx context.Context, tx *ent.Tx, code string) (*ent.HubPickup, error) {
	p, err := tx.HubPickup.Query().Where(hubpickup.PickupCode(code), hubpickup.StatusEQ(hubpickup.StatusWAITING)).First(ctx)
	if ent.IsNotFound(err) {
		p, err = tx.HubPickup.Query().Where(hubpickup.PickupCode(code)).Order(ent.Desc(hubpickup.FieldID)).First(ctx)
	}
	if !ent.IsNotFound(err) {
		return p, err
	}
	last, err := tx.HubPickup.Query().Where(hubpickup.ListedAtNotNil()).Order(ent.Desc(hubpickup.FieldListedAt)).First(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, checkout.BadInput("code", "no pickup waiting at this hub has code %s: this hub has no list of its pickups from central yet, so scan the pickup pass", code)
	case err != nil:
		return nil, err
	}
	return nil, checkout.BadInput("code", "no pickup waiting at this hub has code %s (as central listed them at %s): scan the pickup pass",
		code, last.ListedAt.UTC().Format(time.RFC3339))
}

// notWaiting is the refusal of a handover of p, which is not waiting here.
func notWaiting(p *ent.HubPickup) error {
	if p.Status == hubpickup.StatusCOLLECTED {
		at := "before"
		if p.CollectedAt != nil {
			at = "at " + p.CollectedAt.UTC().Format(time.RFC3339)
		}
		return fulfillment.ErrAlreadyCollected.Detail("handed over at this hub %s", at)
	}
	since := ""
	if p.ListedAt != nil {
		since = " since " + p.ListedAt.UTC().Format(time.RFC3339)
	}
	return checkout.BadInput("code", "central no longer lists order %d as waiting at this hub%s: it was collected, canceled or moved; check with central",
		p.OrderID, since)
}

// handover is p as the API shows a handover at this hub.
func handover(p *ent.HubPickup) fulfillment.HubHandover {
	hv := fulfillment.HubHandover{FulfillmentID: p.FulfillmentID, OrderID: p.OrderID, Code: p.PickupCode, State: fulfillment.HubQueued, Note: p.Note}
	if p.CollectionID != nil {
		hv.CollectionID = *p.CollectionID
	}
	if p.CollectedAt != nil {
		hv.CollectedAt = *p.CollectedAt
	}
	if p.Outcome != nil {
		hv.State = p.Outcome.String()
	}
	return hv
}

// Handovers lists the pickups handed over at this hub, latest first, with
// what central made of each (QUEUED until it answers; why it refused so
// far, if it did).
func (h *Sales) Handovers(ctx context.Context, first int) ([]fulfillment.HubHandover, error) {
	if err := h.counter(ctx); err != nil {
		return nil, err
	}
	if first < 1 || first > 500 {
		return nil, checkout.BadInput("first", "must be between 1 and 500")
	}
	sys := viewer.SystemContext(ctx)
	rows, err := h.db.HubPickup.Query().Where(hubpickup.StatusEQ(hubpickup.StatusCOLLECTED)).
		Order(ent.Desc(hubpickup.FieldCollectedAt), ent.Desc(hubpickup.FieldID)).Limit(first).All(sys)
	if err != nil {
		return nil, err
	}
	out := make([]fulfillment.HubHandover, len(rows))
	var queued []string
	for i, p := range rows {
		out[i] = handover(p)
		if p.Outcome == nil && p.CollectionID != nil {
			queued = append(queued, "hubcollect-"+*p.CollectionID)
		}
	}
	if len(queued) == 0 {
		return out, nil
	}
	// Queued: why central refused each so far, if it did.
	boxes, err := h.db.Outbox.Query().Where(outbox.KeyIn(queued...), outbox.LastErrorNEQ("")).All(sys)
	if err != nil {
		return nil, err
	}
	why := map[string]string{}
	for _, o := range boxes {
		why[strings.TrimPrefix(o.Key, "hubcollect-")] = o.LastError
	}
	for i := range out {
		if out[i].State == fulfillment.HubQueued && why[out[i].CollectionID] != "" {
			out[i].Note = why[out[i].CollectionID]
		}
	}
	return out, nil
}

// AdoptPickups makes the hub's list of waiting pickups central's, as
// central listed them at listedAt: those listed are waiting here (again,
// if they had gone), those waiting and not listed are GONE (collected
// elsewhere, canceled or moved). Handovers made here are kept as they are.
func (h *Sales) AdoptPickups(ctx context.Context, listed []fulfillment.WaitingPickup, listedAt time.Time) error {
	sys := viewer.SystemContext(ctx)
	_, err := txn.Do(sys, h.db, "adopt pickups", func(tx *ent.Tx) (struct{}, error) {
		ids := make([]int, 0, len(listed))
		for _, p := range listed {
			if err := tx.HubPickup.Create().SetFulfillmentID(p.FulfillmentID).SetOrderID(p.OrderID).SetPickupCode(p.Code).SetListedAt(listedAt).
				OnConflictColumns(hubpickup.FieldFulfillmentID).UpdateListedAt().Exec(sys); err != nil {
				return struct{}{}, err
			}
			ids = append(ids, p.FulfillmentID)
		}
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 500)]
			ids = ids[len(chunk):]
			if err := tx.HubPickup.Update().Where(hubpickup.FulfillmentIDIn(chunk...), hubpickup.StatusEQ(hubpickup.StatusGONE)).
				SetStatus(hubpickup.StatusWAITING).Exec(sys); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, tx.HubPickup.Update().
			Where(hubpickup.StatusEQ(hubpickup.StatusWAITING), hubpickup.Or(hubpickup.ListedAtIsNil(), hubpickup.ListedAtLT(listedAt))).
			SetStatus(hubpickup.StatusGONE).Exec(sys)
	})
	return err
}

// settleHandover records in tx central's final answer for the handover
// collectionID.
func settleHandover(ctx context.Context, tx *ent.Tx, collectionID, outcome, note string, at time.Time) error {
	o := hubpickup.Outcome(outcome)
	if err := hubpickup.OutcomeValidator(o); err != nil {
		return fmt.Errorf("central answered outcome %q for handover %s", outcome, collectionID)
	}
	if len(note) > 1000 {
		note = note[:1000]
	}
	return tx.HubPickup.Update().Where(hubpickup.CollectionID(collectionID)).
		SetOutcome(o).SetNote(note).SetSyncedAt(at).Exec(ctx)
}

// Nudge asks the sync loop, if the link is up, to deliver what was just
// queued now rather than at its next poll.
func (h *Sales) Nudge() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}
