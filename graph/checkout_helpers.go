package graph

import (
	"context"
	"time"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/droppool"
)

func (r *Resolver) dropPools(ctx context.Context, d *ent.Drop) ([]*ent.DropPool, error) {
	if pools, err := d.Edges.PoolsOrErr(); err == nil {
		return pools, nil // loaded with the drop (subscriptions read them once for everyone)
	}
	return r.Client.DropPool.Query().Where(droppool.DropID(d.ID)).Order(ent.Asc(droppool.FieldChannel)).All(ctx)
}

func sumRemaining(pools []*ent.DropPool) int {
	n := 0
	for _, p := range pools {
		n += p.Remaining
	}
	return n
}

func (r *Resolver) cartTotal(ctx context.Context, c *ent.Cart) (*ent.Money, error) {
	lines, err := r.Client.CartLine.Query().Where(cartline.CartID(c.ID), cartline.StatusEQ(cartline.StatusHELD)).All(ctx)
	if err != nil {
		return nil, err
	}
	total := &ent.Money{Currency: c.Currency}
	for _, l := range lines {
		total.Amount += int64(l.Quantity) * l.UnitAmount
	}
	return total, nil
}

func seconds(n *int) *time.Duration {
	if n == nil {
		return nil
	}
	d := time.Duration(*n) * time.Second
	return &d
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
