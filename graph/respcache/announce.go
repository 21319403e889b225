package respcache

import (
	"context"
	"sync"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
)

// Topic is announced after every committed write to a catalog type, by
// whatever path it comes (the API, a CSV import, a hub's sync): the
// caches of every replica start a new generation.
const Topic = "catalog"

// CatalogTypes are the entity types an anonymous catalog page shows
// (stock and drops announce their own topics on every change).
var CatalogTypes = map[string]bool{
	ent.TypeProduct: true, ent.TypeVariant: true, ent.TypeImage: true, ent.TypeCollection: true,
	ent.TypeMemberPrice: true, ent.TypeMembershipTier: true, ent.TypeDrop: true, ent.TypeDropPool: true,
	ent.TypeLocation: true,
}

// Announce makes client announce Topic on n once each write to a catalog
// type commits (once per transaction, nothing when it rolls back).
func Announce(client *ent.Client, n checkout.Notifier) {
	var mu sync.Mutex
	pending := map[*ent.Tx]bool{}
	client.Use(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			v, err := next.Mutate(ctx, m)
			if err != nil || !CatalogTypes[m.Type()] {
				return v, err
			}
			txm, ok := m.(interface{ Tx() (*ent.Tx, error) })
			tx, terr := (*ent.Tx)(nil), error(nil)
			if ok {
				tx, terr = txm.Tx()
			}
			if !ok || terr != nil {
				n.Notify(context.WithoutCancel(ctx), Topic)
				return v, err
			}
			mu.Lock()
			seen := pending[tx]
			pending[tx] = true
			mu.Unlock()
			if seen {
				return v, err
			}
			done := func() { mu.Lock(); delete(pending, tx); mu.Unlock() }
			tx.OnCommit(func(next ent.Committer) ent.Committer {
				return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
					err := next.Commit(ctx, tx)
					done()
					if err == nil {
						n.Notify(context.WithoutCancel(ctx), Topic)
					}
					return err
				})
			})
			tx.OnRollback(func(next ent.Rollbacker) ent.Rollbacker {
				return ent.RollbackFunc(func(ctx context.Context, tx *ent.Tx) error {
					done()
					return next.Rollback(ctx, tx)
				})
			})
			return v, err
		})
	})
}
