package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/pickuppoint"
	"github.com/merchd/merchd/ent/pickupwindow"
)

// NextWindow is where a pickup missed at location goes: the next window
// at the same point that starts after now and has a place, else the
// earliest such window at another active point. It takes that place in tx
// with the one conditional write every place is taken with, so a reroute
// that loses its race (the buyer collected meanwhile) gives it back by
// rolling back. ok is false when no window anywhere has a place.
func (s *Service) NextWindow(ctx context.Context, tx *ent.Tx, location int, now time.Time) (w *ent.PickupWindow, point *ent.PickupPoint, ok bool, err error) {
	now = now.UTC()
	for _, same := range []bool{true, false} {
		pointPred := pickuppoint.And(pickuppoint.Active(true), pickuppoint.LocationIDNEQ(location))
		if same {
			pointPred = pickuppoint.LocationID(location)
		}
		cands, err := tx.PickupWindow.Query().
			Where(pickupwindow.StartsAtGT(now), pickupwindow.HasPickupPointWith(pointPred)).
			Order(ent.Asc(pickupwindow.FieldStartsAt), ent.Asc(pickupwindow.FieldID)).Limit(20).All(ctx)
		if err != nil {
			return nil, nil, false, fmt.Errorf("delivery: next window: %w", err)
		}
		for _, c := range cands {
			if c.Taken >= c.Capacity {
				continue
			}
			took, err := s.takePlace(ctx, tx, c.ID, &now)
			if err != nil {
				return nil, nil, false, err
			}
			if !took {
				continue // filled in between
			}
			p, err := tx.PickupPoint.Get(ctx, c.PickupPointID)
			if err != nil {
				return nil, nil, false, err
			}
			return c, p, true, nil
		}
	}
	return nil, nil, false, nil
}
