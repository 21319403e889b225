package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/outbox"
)

const recordHandoversMutation = `mutation($in: RecordHubCollectionsInput!) {
  recordHubCollections(input: $in) { results { collectionId outcome note error code } }
}`

// handoverResult is central's answer for one delivered handover.
type handoverResult struct {
	CollectionID string
	Outcome      *string
	Note         *string
	Error        *string
	Code         *string
}

// deliverHandovers sends the run of pickup handovers at the head of due
// in one call and settles each by central's answer: an outcome
// (COLLECTED, ALREADY_COLLECTED, CONFLICT) is final; a refusal waits
// cfg.Refused for staff, a failure of central's goes again after the
// backoff. A refusal of the whole call (a token that is not the hub's)
// parks the run, so the sales queued behind it still go.
func (s *Syncer) deliverHandovers(ctx context.Context, due []*ent.Outbox) (int, error) {
	for i, o := range due {
		if o.Kind != fulfillment.OutboxHubCollection {
			due = due[:i]
			break
		}
	}
	in := make([]map[string]any, len(due))
	ids := make([]string, len(due))
	for i, o := range due {
		var c fulfillment.RemoteCollection
		if err := json.Unmarshal(o.Payload, &c); err != nil {
			return 1, s.refused(ctx, s.db, o, "unreadable payload: "+err.Error())
		}
		ids[i] = c.CollectionID
		in[i] = map[string]any{"collectionId": c.CollectionID, "fulfillmentId": gid.Encode(c.FulfillmentID),
			"code": c.Code, "collectedAt": c.CollectedAt}
	}
	var out struct {
		RecordHubCollections struct{ Results []handoverResult }
	}
	err := s.call(ctx, recordHandoversMutation, map[string]any{"in": map[string]any{"collections": in}}, &out)
	var ce *centralError
	if errors.As(err, &ce) && ce.refusal() {
		for _, o := range due {
			if err := s.refused(ctx, s.db, o, ce.Error()); err != nil {
				return 0, err
			}
		}
		return len(due), nil
	} else if err != nil {
		return 0, err
	}
	res := out.RecordHubCollections.Results
	if len(res) != len(due) {
		return 0, fmt.Errorf("central answered %d results for %d handovers", len(res), len(due))
	}
	for i, r := range res {
		if r.CollectionID != ids[i] {
			return 0, fmt.Errorf("central answered for handover %s, expected %s", r.CollectionID, ids[i])
		}
	}
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return 0, err
	}
	if err := s.settleHandovers(ctx, tx, due, res); err != nil {
		_ = tx.Rollback()
		return 0, err
	}
	return len(due), tx.Commit()
}

// settleHandovers records central's answers in tx.
func (s *Syncer) settleHandovers(ctx context.Context, tx *ent.Tx, due []*ent.Outbox, res []handoverResult) error {
	now := s.now()
	for i, r := range res {
		sr := saleResult{Error: r.Error, Code: r.Code}
		switch {
		case r.Error != nil && sr.outcome() == saleRetry:
			if err := s.retry(ctx, tx.Client(), due[i], sr.reason()); err != nil {
				return err
			}
			continue
		case r.Error != nil || r.Outcome == nil:
			reason := "central answered neither an outcome nor an error"
			if r.Error != nil {
				reason = sr.reason()
			}
			if err := s.refused(ctx, tx.Client(), due[i], reason); err != nil {
				return err
			}
			continue
		}
		note := ""
		if r.Note != nil {
			note = *r.Note
		}
		if *r.Outcome != fulfillment.HubCollected {
			// Final: central noted the conflict on the fulfilment for staff.
			s.log.Warn("central recorded a hub pickup handover as a conflict", "collection", r.CollectionID, "outcome", *r.Outcome, "note", note)
		}
		if err := settleHandover(ctx, tx, r.CollectionID, *r.Outcome, note, now); err != nil {
			return err
		}
		if err := tx.Outbox.UpdateOneID(due[i].ID).SetStatus(outbox.StatusDONE).SetDoneAt(now).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

const pickupsQuery = `query($hub: String!, $after: ID, $first: Int) {
  hubPickups(hub: $hub, after: $after, first: $first) { fulfillmentId orderId pickupCode }
}`

// pickupsPage bounds one hubPickups call.
const pickupsPage = 1000

// adoptPickups pulls the pickups waiting at this hub, page by page, so a
// clerk can take their fallback codes without a link. A central that
// does not list pickups (an older version) leaves the hub with passes
// only.
func (s *Syncer) adoptPickups(ctx context.Context) error {
	listedAt := s.now()
	var all []fulfillment.WaitingPickup
	var after *string
	for {
		var out struct {
			HubPickups []struct{ FulfillmentID, OrderID, PickupCode string }
		}
		err := s.call(ctx, pickupsQuery, map[string]any{"hub": s.cfg.Hub, "after": after, "first": pickupsPage}, &out)
		var ce *centralError
		if errors.As(err, &ce) && ce.code == "GRAPHQL_VALIDATION_FAILED" {
			s.log.Warn("central does not list pickups waiting at hubs; typed pickup codes will not work here", "error", err)
			return nil
		} else if err != nil {
			return err
		}
		for _, p := range out.HubPickups {
			fid, err1 := gid.Decode(p.FulfillmentID)
			oid, err2 := gid.Decode(p.OrderID)
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("central listed pickup %q: %w", p.FulfillmentID, err)
			}
			all = append(all, fulfillment.WaitingPickup{FulfillmentID: fid, OrderID: oid, Code: p.PickupCode})
		}
		if len(out.HubPickups) < pickupsPage {
			break
		}
		after = &out.HubPickups[len(out.HubPickups)-1].FulfillmentID
	}
	return s.hubs.AdoptPickups(ctx, all, listedAt)
}
