package streams

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"slices"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/stream"
	"github.com/merchd/merchd/ent/viewer"
)

const streamKeyPrefix = "msk_"

// maxPinned bounds a stream's overlay.
const maxPinned = 24

// Service runs livestreams: keys, pinned products, what is highlighted, and
// whether a stream is live.
type Service struct {
	db  *ent.Client
	now func() time.Time
	txn.Announcer
	// seqs numbers the overlay snapshots of each stream not ended.
	seqs sequences
}

// New returns the stream service.
func New(db *ent.Client, now func() time.Time) *Service {
	return &Service{db: db, now: now}
}

func (s *Service) checkProducts(ctx context.Context, ids []int) error {
	if len(ids) > maxPinned {
		return checkout.BadInput("productIds", "at most %d pinned products", maxPinned)
	}
	uniq := slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(uniq) != len(ids) {
		return checkout.BadInput("productIds", "a product is pinned twice")
	}
	n, err := s.db.Product.Query().Where(product.IDIn(ids...)).Count(viewer.SystemContext(ctx))
	if err != nil {
		return err
	}
	if n != len(ids) {
		return checkout.BadInput("productIds", "some products do not exist")
	}
	return nil
}

// CreateStream creates an idle stream and returns it with its key, which
// is shown this once.
func (s *Service) CreateStream(ctx context.Context, title string, pinned []int) (*ent.Stream, string, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, "", err
	}
	if err := s.checkProducts(ctx, pinned); err != nil {
		return nil, "", err
	}
	key, hash := checkout.NewToken(streamKeyPrefix)
	st, err := s.db.Stream.Create().SetTitle(title).SetKeyHash(hash).SetPinnedProductIds(pinned).Save(viewer.SystemContext(ctx))
	return st, key, checkout.WrapWrite("create stream", err)
}

// RotateKey replaces a stream's key; the old one stops working at once
// (a live publisher keeps its session).
func (s *Service) RotateKey(ctx context.Context, id int) (*ent.Stream, string, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, "", err
	}
	key, hash := checkout.NewToken(streamKeyPrefix)
	st, err := s.db.Stream.UpdateOneID(id).SetKeyHash(hash).Save(viewer.SystemContext(ctx))
	return st, key, checkout.WrapWrite("rotate stream key", checkout.NotFoundAs(err, "stream"))
}

// PinProducts sets the overlay's products, in order, also while live.
func (s *Service) PinProducts(ctx context.Context, id int, productIDs []int) (*ent.Stream, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	if err := s.checkProducts(ctx, productIDs); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	st, err := s.db.Stream.Get(sys, id)
	if err != nil {
		return nil, checkout.WrapWrite("pin products", checkout.NotFoundAs(err, "stream"))
	}
	u := s.db.Stream.UpdateOneID(id).SetPinnedProductIds(productIDs)
	if st.HighlightedProductID != nil && !slices.Contains(productIDs, *st.HighlightedProductID) {
		u.ClearHighlightedProductID() // unpinned: no longer highlighted
	}
	st, err = u.Save(sys)
	if err == nil {
		s.Announce(ctx, checkout.StreamTopic(id))
	}
	return st, checkout.WrapWrite("pin products", err)
}

// Highlight says what the creator shows right now (nil: nothing).
func (s *Service) Highlight(ctx context.Context, id int, productID *int) (*ent.Stream, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	st, err := s.db.Stream.Get(sys, id)
	if err != nil {
		return nil, checkout.WrapWrite("highlight", checkout.NotFoundAs(err, "stream"))
	}
	u := s.db.Stream.UpdateOneID(id)
	if productID == nil {
		u.ClearHighlightedProductID()
	} else {
		if !slices.Contains(st.PinnedProductIds, *productID) {
			return nil, checkout.BadInput("productId", "pin the product before highlighting it")
		}
		u.SetHighlightedProductID(*productID)
	}
	st, err = u.Save(sys)
	if err == nil {
		s.Announce(ctx, checkout.StreamTopic(id))
	}
	return st, checkout.WrapWrite("highlight", err)
}

// End ends a stream for good; its key stops working.
func (s *Service) End(ctx context.Context, id int) (*ent.Stream, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	st, err := s.db.Stream.UpdateOneID(id).SetState(stream.StateENDED).SetEndedAt(s.now()).Save(viewer.SystemContext(ctx))
	if err == nil {
		s.Announce(ctx, checkout.StreamTopic(id))
	}
	return st, checkout.WrapWrite("end stream", checkout.NotFoundAs(err, "stream"))
}

// AuthorizeKey checks a publisher's stream key.
func (s *Service) AuthorizeKey(ctx context.Context, id int, key string) error {
	st, err := s.db.Stream.Get(viewer.SystemContext(ctx), id)
	if err != nil {
		return checkout.NotFoundAs(err, "stream")
	}
	sum := sha256.Sum256([]byte(key))
	if subtle.ConstantTimeCompare(sum[:], st.KeyHash) != 1 {
		return checkout.ErrUnauthenticated
	}
	if st.State == stream.StateENDED {
		return fmt.Errorf("stream ended: %w", checkout.ErrForbidden)
	}
	return nil
}

// Watchable reports whether a stream exists and has not ended.
func (s *Service) Watchable(ctx context.Context, id int) error {
	st, err := s.db.Stream.Get(viewer.SystemContext(ctx), id)
	if err != nil {
		return checkout.NotFoundAs(err, "stream")
	}
	if st.State == stream.StateENDED {
		return fmt.Errorf("stream ended: %w", checkout.ErrNotFound)
	}
	return nil
}

// SetLive moves a stream between IDLE and LIVE as its publisher comes and goes.
func (s *Service) SetLive(ctx context.Context, id int, live bool) error {
	sys := viewer.SystemContext(ctx)
	u := s.db.Stream.Update().Where(stream.ID(id), stream.StateNEQ(stream.StateENDED))
	if live {
		u.SetState(stream.StateLIVE).SetStartedAt(s.now())
	} else {
		u.SetState(stream.StateIDLE)
	}
	if _, err := u.Save(sys); err != nil {
		return err
	}
	s.Announce(ctx, checkout.StreamTopic(id))
	return nil
}
