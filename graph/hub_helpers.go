package graph

import (
	"context"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/graph/model"
)

// allocationLines pairs SKUs with their variants (one query) and counts.
func (r *Resolver) allocationLines(ctx context.Context, skus []string, units func(i int) int) ([]*model.HubAllocationLine, error) {
	vs, err := r.Client.Variant.Query().Where(variant.SkuIn(skus...)).All(ctx)
	if err != nil {
		return nil, err
	}
	bySKU := make(map[string]int, len(vs))
	for i, v := range vs {
		bySKU[v.Sku] = i
	}
	out := make([]*model.HubAllocationLine, len(skus))
	for i, sku := range skus {
		out[i] = &model.HubAllocationLine{Sku: sku, Available: units(i)}
		if j, ok := bySKU[sku]; ok {
			out[i].Variant = vs[j]
		}
	}
	return out, nil
}

// tillCart is the hub till's open cart.
func (r *Resolver) tillCart(ctx context.Context) (*ent.Cart, error) {
	till, err := r.Hubs.TillContext(ctx)
	if err != nil {
		return nil, err
	}
	return r.Carts.Cart(till)
}
