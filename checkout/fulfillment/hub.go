// Pickups handed over at a pop-up hub, with or without its link to
// central: the hub checks the pickup pass with central's public key,
// records the handover in its outbox (edge.Sales.CollectPickup), and
// central applies it here, once per collection id, with the fulfilment's
// one guarded transition.

package fulfillment

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/hubcollection"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/viewer"
)

// OutboxHubCollection is the outbox kind of a pickup handed over at a hub.
const OutboxHubCollection = "hubCollection"

// RemoteCollection is a pickup handed over at a hub, as the hub's outbox
// delivers it to central.
type RemoteCollection struct {
	// CollectionID is the hub's id of the handover: central applies it
	// once by it, however often it is delivered.
	CollectionID  string `json:"collectionId"`
	FulfillmentID int    `json:"fulfillmentId"`
	// Code is what the clerk scanned or typed: the pickup pass, or its
	// fallback code.
	Code        string    `json:"code"`
	CollectedAt time.Time `json:"collectedAt"`
}

// Outcomes of a hub's handover on central. Each is final: the hub records
// it and does not send the handover again.
const (
	// HubCollected: this handover collected the pickup on central.
	HubCollected = "COLLECTED"
	// HubAlreadyCollected: central had the pickup collected before (at the
	// counter, or by another scan): a conflict, noted on the fulfilment
	// for staff.
	HubAlreadyCollected = "ALREADY_COLLECTED"
	// HubConflict: the pickup's state on central allowed no handover
	// (canceled, say); noted on the fulfilment for staff.
	HubConflict = "CONFLICT"
)

// HubCollectResult is central's answer to one delivered handover; a
// redelivery answers the same.
type HubCollectResult struct {
	Outcome string
	// CollectedAt is when central holds the pickup collected: the hub's
	// time (clamped), or the earlier collection's.
	CollectedAt *time.Time
	// Note says why, for ALREADY_COLLECTED and CONFLICT.
	Note string
}

// HubQueued is the state of a handover at a hub that central has not
// answered yet; once it has, the state is central's outcome.
const HubQueued = "QUEUED"

// HubHandover is a pickup handed over at a hub, as the hub knows it.
type HubHandover struct {
	CollectionID           string
	FulfillmentID, OrderID int
	Code                   string // the fallback code
	CollectedAt            time.Time
	// State is HubQueued until central answers, then its outcome.
	State string
	// Note is central's, for ALREADY_COLLECTED and CONFLICT; or why
	// central refused it so far (it stays queued for staff).
	Note string
}

// WaitingPickup is a pickup waiting at a hub, as central lists it for the
// hub (which then takes its fallback code without a link).
type WaitingPickup struct {
	FulfillmentID, OrderID int
	Code                   string
}

// NormalizeCode is a typed fallback code as it is stored: upper case,
// without the dashes a clerk may type.
func NormalizeCode(code string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
}

// IsPass reports whether code is a scanned pickup pass (a signed code),
// not a typed fallback code.
func IsPass(code string) bool { return strings.HasPrefix(strings.TrimSpace(code), "M1.") }

// HubOf returns the hub whose token asks: central takes a hub's handovers
// only with that hub's own token, and never on the hub's word.
func HubOf(ctx context.Context) (string, error) {
	switch v := viewer.FromContext(ctx); {
	case v.Role == viewer.HubToken && v.Hub != "":
		return v.Hub, nil
	case v.Role == viewer.Anonymous:
		return "", checkout.ErrUnauthenticated
	}
	return "", checkout.ErrForbidden.Detail("a hub's handovers are recorded with that hub's own token")
}

// waitingStates are the states a pickup can be handed over from.
func waitingStates() []Status { return transitions[fulfillment.StatusCOLLECTED] }

// WaitingAtHub lists the pickups waiting at hub (its location is their
// pickup point), by fulfilment id, first of them after the id after.
func (s *Service) WaitingAtHub(ctx context.Context, hub string, after, first int) ([]WaitingPickup, error) {
	if err := checkout.RequireHub(ctx, hub); err != nil {
		return nil, err
	}
	if first < 1 || first > 1000 {
		return nil, checkout.BadInput("first", "must be between 1 and 1000")
	}
	sys := viewer.SystemContext(ctx)
	loc, err := s.db.Location.Query().Where(location.Code(hub), location.KindEQ(location.KindHUB)).OnlyID(sys)
	if ent.IsNotFound(err) {
		return []WaitingPickup{}, nil // a hub central never set up has nothing waiting
	} else if err != nil {
		return nil, err
	}
	rows, err := s.db.Fulfillment.Query().
		Where(fulfillment.LocationID(loc), fulfillment.StatusIn(waitingStates()...), fulfillment.MethodEQ(fulfillment.MethodPICKUP), fulfillment.IDGT(after)).
		Order(fulfillment.ByID()).Limit(first).All(sys)
	if err != nil {
		return nil, err
	}
	out := make([]WaitingPickup, len(rows))
	for i, f := range rows {
		out[i] = WaitingPickup{FulfillmentID: f.ID, OrderID: f.OrderID, Code: f.PickupCode}
	}
	return out, nil
}

// CollectFromHub applies a handover made at the hub whose token asks,
// once per collection id: a redelivery answers what the first delivery
// did and changes nothing. The hub may hand over only pickups whose
// pickup point is its own location (central decides, from the token),
// shown by their pass or fallback code. The handover is the fulfilment's
// one guarded transition to COLLECTED, by actor HUB, at the hub's time
// clamped to [paid, now]; a pickup central had collected before is
// ALREADY_COLLECTED and one whose state allows no handover is CONFLICT,
// each noted on the fulfilment for staff and final for the hub.
func (s *Service) CollectFromHub(ctx context.Context, c RemoteCollection) (HubCollectResult, error) {
	hub, err := HubOf(ctx)
	if err != nil {
		return HubCollectResult{}, err
	}
	c.Code = strings.TrimSpace(c.Code)
	switch {
	case c.CollectionID == "" || len(c.CollectionID) > 64:
		return HubCollectResult{}, checkout.BadInput("collectionId", "1 to 64 characters")
	case c.FulfillmentID <= 0:
		return HubCollectResult{}, checkout.BadInput("fulfillmentId", "needs the fulfilment handed over")
	case c.Code == "" || len(c.Code) > 4096:
		return HubCollectResult{}, checkout.BadInput("code", "needs the pass scanned or the code typed")
	case c.CollectedAt.IsZero():
		return HubCollectResult{}, checkout.BadInput("collectedAt", "needs the time of the handover")
	}
	sys := viewer.SystemContext(ctx)
	return txn.Do(sys, s.db, "record hub collection", func(tx *ent.Tx) (HubCollectResult, error) {
		if r, ok, err := recordedCollection(sys, tx, hub, c); ok || err != nil {
			return r, err
		}
		f, err := tx.Fulfillment.Get(sys, c.FulfillmentID)
		if err != nil {
			return HubCollectResult{}, checkout.NotFoundAs(err, "fulfillment")
		}
		loc, err := tx.Location.Query().Where(location.Code(hub), location.KindEQ(location.KindHUB)).OnlyID(sys)
		if err != nil && !ent.IsNotFound(err) {
			return HubCollectResult{}, err
		}
		if err != nil || f.LocationID == nil || *f.LocationID != loc {
			return HubCollectResult{}, checkout.ErrForbidden.Detail("order %d is not picked up at hub %s", f.OrderID, hub)
		}
		if f.Method != fulfillment.MethodPICKUP {
			return HubCollectResult{}, checkout.BadInput("code", "order %d is not a pickup", f.OrderID)
		}
		if !s.shows(f, c.Code) {
			return HubCollectResult{}, checkout.BadInput("code", "this is not the pickup pass or code of order %d", f.OrderID)
		}
		at, err := s.clampCollectedAt(sys, tx, f, c.CollectedAt)
		if err != nil {
			return HubCollectResult{}, err
		}
		n, err := txn.Exec(sys, tx, s.dialect,
			`INSERT INTO hub_collections (collection_id, hub, fulfillment_id, outcome, claimed_at, recorded_at, note)
			 VALUES (?, ?, ?, 'COLLECTED', ?, ?, '') ON CONFLICT (collection_id) DO NOTHING`,
			c.CollectionID, hub, f.ID, c.CollectedAt.UTC(), s.now().UTC())
		if err != nil {
			return HubCollectResult{}, err
		}
		if n == 0 { // a concurrent first delivery recorded it
			r, _, err := recordedCollection(sys, tx, hub, c)
			return r, err
		}
		r, err := s.collectAtHub(ctx, tx, f.ID, hub, c, at)
		if err != nil {
			return HubCollectResult{}, err
		}
		err = tx.HubCollection.Update().Where(hubcollection.CollectionID(c.CollectionID)).
			SetOutcome(hubcollection.Outcome(r.Outcome)).SetNillableCollectedAt(r.CollectedAt).SetNote(r.Note).Exec(sys)
		return r, err
	})
}

// recordedCollection is the answer recorded for c's collection id, if any
// (ok). The id recorded for another hub or pickup is refused.
func recordedCollection(ctx context.Context, tx *ent.Tx, hub string, c RemoteCollection) (HubCollectResult, bool, error) {
	prev, err := tx.HubCollection.Query().Where(hubcollection.CollectionID(c.CollectionID)).Only(ctx)
	if ent.IsNotFound(err) {
		return HubCollectResult{}, false, nil
	} else if err != nil {
		return HubCollectResult{}, false, err
	}
	if prev.Hub != hub || prev.FulfillmentID != c.FulfillmentID {
		return HubCollectResult{}, false, checkout.BadInput("collectionId", "collection %s was recorded before for another pickup", c.CollectionID)
	}
	return HubCollectResult{Outcome: prev.Outcome.String(), CollectedAt: prev.CollectedAt, Note: prev.Note}, true, nil
}

// shows reports whether code is f's pickup pass, signed by central, or
// its fallback code.
func (s *Service) shows(f *ent.Fulfillment, code string) bool {
	if !IsPass(code) {
		return NormalizeCode(code) == f.PickupCode
	}
	var p Pass
	return s.signer != nil && s.signer.Verify(code, KindPickup, &p) == nil &&
		p.FulfillmentID == f.ID && p.OrderID == f.OrderID && p.Code == f.PickupCode
}

// clampCollectedAt is the hub's time of a handover as central records it:
// not later than central's now, not before the order was paid.
func (s *Service) clampCollectedAt(ctx context.Context, tx *ent.Tx, f *ent.Fulfillment, claimed time.Time) (time.Time, error) {
	at, now := claimed.UTC(), s.now().UTC()
	if at.After(now) {
		at = now
	}
	paid := f.CreatedAt
	o, err := tx.Order.Get(ctx, f.OrderID)
	if err != nil {
		return time.Time{}, checkout.NotFoundAs(err, "order")
	}
	if o.PaidAt != nil {
		paid = *o.PaidAt
	}
	if at.Before(paid) {
		at = paid.UTC()
	}
	return at, nil
}

// collectAtHub is the handover's guarded transition: UPDATE … SET status
// = COLLECTED WHERE id = ? AND status = <the state read>, as move does, at
// the hub's time. Zero rows: another move won in between, and the state
// is judged again. A pickup already collected, or in a state that allows
// no handover, is noted on the fulfilment for staff.
func (s *Service) collectAtHub(ctx context.Context, tx *ent.Tx, id int, hub string, c RemoteCollection, at time.Time) (HubCollectResult, error) {
	sys := viewer.SystemContext(ctx)
	stamp := at.Format(time.RFC3339)
	for range 4 {
		f, err := tx.Fulfillment.Get(sys, id)
		if err != nil {
			return HubCollectResult{}, err
		}
		switch {
		case slices.Contains(waitingStates(), f.Status):
			n, err := tx.Fulfillment.Update().Where(fulfillment.ID(id), fulfillment.StatusEQ(f.Status)).
				SetStatus(fulfillment.StatusCOLLECTED).SetCollectedAt(at).SetUpdatedAt(s.now().UTC()).Save(sys)
			if err != nil {
				return HubCollectResult{}, err
			}
			if n == 0 {
				continue
			}
			s.AfterCommit(tx, checkout.OrderTopic(f.OrderID), checkout.FulfillmentTopic(f.ID))
			note := fmt.Sprintf("handed over at hub %s at %s (collection %s)", hub, stamp, c.CollectionID)
			if err := s.event(ctx, tx, f, string(f.Status), string(fulfillment.StatusCOLLECTED), note, string(ScanCollected)); err != nil {
				return HubCollectResult{}, err
			}
			return HubCollectResult{Outcome: HubCollected, CollectedAt: &at}, s.tell(ctx, tx, f, fulfillment.StatusCOLLECTED)
		case f.Status == fulfillment.StatusCOLLECTED:
			prev := "an earlier time"
			if f.CollectedAt != nil {
				prev = f.CollectedAt.UTC().Format(time.RFC3339)
			}
			note := fmt.Sprintf("conflict: hub %s handed this over at %s (collection %s), but it was collected at %s", hub, stamp, c.CollectionID, prev)
			s.AfterCommit(tx, checkout.OrderTopic(f.OrderID), checkout.FulfillmentTopic(f.ID))
			return HubCollectResult{Outcome: HubAlreadyCollected, CollectedAt: f.CollectedAt, Note: note}, s.event(ctx, tx, f, string(f.Status), string(f.Status), note, "")
		default:
			note := fmt.Sprintf("conflict: hub %s handed this over at %s (collection %s), but the order is %s", hub, stamp, c.CollectionID, f.Status)
			s.AfterCommit(tx, checkout.OrderTopic(f.OrderID), checkout.FulfillmentTopic(f.ID))
			return HubCollectResult{Outcome: HubConflict, Note: note}, s.event(ctx, tx, f, string(f.Status), string(f.Status), note, "")
		}
	}
	return HubCollectResult{}, fmt.Errorf("fulfillment %d keeps changing under us", id)
}
