package txn

import (
	"context"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
)

// Announcer is embedded by the services: nil-safe, and never announces work
// that did not commit.
type Announcer struct{ n checkout.Notifier }

// SetNotifier wires real-time notifications (nil turns them off).
func (s *Announcer) SetNotifier(n checkout.Notifier) { s.n = n }

// AfterCommit announces topics once tx commits; nothing if it rolls back.
func (s *Announcer) AfterCommit(tx *ent.Tx, topics ...string) {
	if s.n == nil || len(topics) == 0 {
		return
	}
	n := s.n
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			if err == nil {
				n.Notify(context.WithoutCancel(ctx), topics...)
			}
			return err
		})
	})
}

// Announce announces topics for a write that is already committed.
func (s *Announcer) Announce(ctx context.Context, topics ...string) {
	if s.n != nil && len(topics) > 0 {
		s.n.Notify(context.WithoutCancel(ctx), topics...)
	}
}
