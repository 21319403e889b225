package fulfillment

import (
	"context"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/fulfillmentline"
	"github.com/merchd/merchd/ent/viewer"
)

// Withdraw takes up to n units of order line lineID out of the order's
// fulfilments not yet handed over, in tx: units refunded before their
// handover are not handed over too. Part by part (oldest first), each
// part is first locked by its guarded touch — a handover of it waits,
// then hands over what is left — and its line decremented by one
// conditional write; a part left with no unit is canceled. Units already
// handed over stay as they are (refunding them is a refund after the
// handover). It returns how many units it took.
func (s *Service) Withdraw(ctx context.Context, tx *ent.Tx, orderID, lineID, n int, note string) (int, error) {
	sys := viewer.SystemContext(ctx)
	parts, err := tx.Fulfillment.Query().Where(fulfillment.OrderID(orderID), fulfillment.StatusIn(splittable...),
		fulfillment.HasLinesWith(fulfillmentline.OrderLineID(lineID), fulfillmentline.QuantityGT(0))).
		Order(ent.Asc(fulfillment.FieldID)).IDs(sys)
	if err != nil {
		return 0, err
	}
	taken := 0
	for _, id := range parts {
		if taken == n {
			break
		}
		locked, err := s.lockOpen(ctx, tx, id)
		if err != nil {
			return 0, err
		}
		if !locked {
			continue // handed over in between: those units reached the buyer
		}
		have, err := tx.FulfillmentLine.Query().Where(fulfillmentline.FulfillmentID(id), fulfillmentline.OrderLineID(lineID)).
			Aggregate(ent.Sum(fulfillmentline.FieldQuantity)).Int(sys)
		if err != nil {
			return 0, err
		}
		k := min(have, n-taken)
		if k <= 0 {
			continue
		}
		took, err := s.take(ctx, tx, id, lineID, k)
		if err != nil {
			return 0, err
		}
		if !took {
			continue
		}
		taken += k
		if err := dropEmptyLines(ctx, tx, id); err != nil {
			return 0, err
		}
		left, err := tx.FulfillmentLine.Query().Where(fulfillmentline.FulfillmentID(id)).Count(sys)
		if err != nil {
			return 0, err
		}
		if left == 0 {
			if _, err := s.move(ctx, tx, id, fulfillment.StatusCANCELED, note, ""); err != nil {
				return 0, err
			}
		} else {
			s.AfterCommit(tx, checkout.OrderTopic(orderID), checkout.FulfillmentTopic(id))
		}
	}
	return taken, nil
}
