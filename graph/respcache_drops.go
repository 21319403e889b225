package graph

import (
	"context"
	"time"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/drop"
	"github.com/merchd/merchd/ent/predicate"
	"github.com/merchd/merchd/ent/viewer"
)

// nextDropChange is the first moment after now at which a drop's state
// changes by the clock alone (its early window opens, it opens, it
// closes): a cached catalog response showing drops must end there. The
// zero time when nothing is scheduled.
func (r *Resolver) nextDropChange(ctx context.Context, now time.Time) (time.Time, error) {
	ctx = viewer.SystemContext(ctx)
	var next time.Time
	for _, c := range []struct {
		after predicate.Drop
		order drop.OrderOption
		at    func(*ent.Drop) time.Time
	}{
		{drop.OpensAtGT(now), drop.ByOpensAt(), func(d *ent.Drop) time.Time { return d.OpensAt }},
		{drop.ClosesAtGT(now), drop.ByClosesAt(), func(d *ent.Drop) time.Time { return d.ClosesAt }},
		{drop.EarlyAccessAtGT(now), drop.ByEarlyAccessAt(), func(d *ent.Drop) time.Time { return *d.EarlyAccessAt }},
	} {
		d, err := r.Client.Drop.Query().Where(c.after).Order(c.order).First(ctx)
		if ent.IsNotFound(err) {
			continue
		}
		if err != nil {
			return time.Time{}, err
		}
		if at := c.at(d); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, nil
}
