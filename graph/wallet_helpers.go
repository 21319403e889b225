package graph

import (
	"context"
	"sync"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/viewer"
)

// memberCache remembers the viewer's active tier for one response (a
// query, or one value of a subscription), so listing 60 variants asks for
// it once.
type memberCache struct {
	once sync.Once
	tier *ent.MembershipTier
	err  error
}

type memberCacheKey struct{}

func withMemberCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, memberCacheKey{}, &memberCache{})
}

func (r *Resolver) viewerTier(ctx context.Context) (*ent.MembershipTier, error) {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Customer || r.Members == nil {
		return nil, nil
	}
	c, _ := ctx.Value(memberCacheKey{}).(*memberCache)
	if c == nil {
		return r.Members.ActiveTier(ctx, v.CustomerID)
	}
	c.once.Do(func() { c.tier, c.err = r.Members.ActiveTier(ctx, v.CustomerID) })
	return c.tier, c.err
}

func (r *Resolver) memberPrice(ctx context.Context, v *ent.Variant) (*ent.Money, error) {
	t, err := r.viewerTier(ctx)
	if err != nil || t == nil {
		return nil, err
	}
	p, err := r.Members.TierPrice(ctx, t, v)
	if err != nil || p >= v.PriceAmount {
		return nil, err
	}
	return &ent.Money{Amount: p, Currency: v.Currency}, nil
}

func (r *Resolver) entryMoney(ctx context.Context, e *ent.WalletEntry, amount int64) (*ent.Money, error) {
	w, err := r.Client.Wallet.Get(ctx, e.WalletID)
	if err != nil {
		return nil, err
	}
	return &ent.Money{Amount: amount, Currency: w.Currency}, nil
}
