package streams

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/drop"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/stream"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
)

// Overlay is a stream's shoppable overlay at one moment: what its viewers
// see over the video.
type Overlay struct {
	// Seq is the stream's sequence number for this snapshot: see
	// Service.Overlay.
	Seq    int
	Stream *ent.Stream
	// Pinned are the pinned products, in overlay order.
	Pinned []OverlayProduct
	// Highlighted is the pinned product the creator shows now; nil: none.
	Highlighted *ent.Product
	// Viewers is how many watch the stream now.
	Viewers int
	// MediaTime (seconds of RTP clock) and RTPTimestamp are the publisher's
	// clocks when the snapshot was read; nil when not live.
	MediaTime    *float64
	RTPTimestamp *uint32
}

// OverlayProduct is a pinned product with its variants' stock.
type OverlayProduct struct {
	Product  *ent.Product
	Variants []VariantStock // by position
	// Drop is the latest-opening drop the product sells through; nil: none.
	Drop *ent.Drop
}

// VariantStock is what is left of a variant at the shop's location.
type VariantStock struct {
	Variant   *ent.Variant
	Available int
}

// Media is what the live relay knows of a stream now; *live.Relay is one.
// A stream is named by its global id (gid.Encode).
type Media interface {
	Viewers(stream string) int
	MediaTime(stream string) (float64, bool)
	RTPTimestamp(stream string) (uint32, bool)
}

// Overlay reads stream id's overlay as it is now, with stock at location
// and what media (nil: no relay) knows, and stamps it with the stream's
// next sequence number. Each successful read takes one number, whoever it
// is for: one read serves every viewer of the stream, so a viewer that
// missed a read sees a gap, never a repeat. A failed read takes none.
//
// The numbers strictly increase per stream for as long as the Service
// lives, across subscriptions, reconnects and the stream's end, so a
// client may drop any change whose number is not above the last it
// applied. They increase by one per read; the first read of a stream the
// Service has no numbering for (new to it, or forgotten) continues above
// every number it forgot so far (it starts at 1 while it forgot none).
//
// A stream's numbering is forgotten once a read finds it ENDED, so the
// Service only keeps streams that have not ended.
func (s *Service) Overlay(ctx context.Context, id, location int, media Media) (*Overlay, error) {
	sys := viewer.SystemContext(ctx)
	st, err := s.db.Stream.Get(sys, id)
	if err != nil {
		return nil, fmt.Errorf("streams: overlay %d: %w", id, err)
	}
	o := &Overlay{Stream: st, Pinned: []OverlayProduct{}}
	if media != nil {
		key := gid.Encode(id)
		o.Viewers = media.Viewers(key)
		if mt, ok := media.MediaTime(key); ok {
			o.MediaTime = &mt
		}
		if ts, ok := media.RTPTimestamp(key); ok {
			o.RTPTimestamp = &ts
		}
	}
	if err := s.readPinned(sys, st, location, o); err != nil {
		return nil, fmt.Errorf("streams: overlay %d: %w", id, err)
	}
	o.Seq = s.seqs.next(id, st.State == stream.StateENDED)
	return o, nil
}

// readPinned fills in the pinned products: one query per kind of thing,
// not per product.
func (s *Service) readPinned(ctx context.Context, st *ent.Stream, location int, o *Overlay) error {
	products, err := s.PinnedProducts(ctx, st)
	if err != nil || len(products) == 0 {
		return err
	}
	vs, err := s.db.Variant.Query().Where(variant.ProductIDIn(st.PinnedProductIds...)).
		WithDrops(func(q *ent.DropQuery) { q.WithPools() }).Order(ent.Asc(variant.FieldPosition)).All(ctx)
	if err != nil {
		return err
	}
	var vids []int
	byProduct := map[int][]*ent.Variant{}
	for _, v := range vs {
		byProduct[v.ProductID] = append(byProduct[v.ProductID], v)
		vids = append(vids, v.ID)
	}
	levels := map[int]int{}
	if len(vids) > 0 {
		rows, err := s.db.Stock.Query().Where(stock.VariantIDIn(vids...), stock.LocationID(location)).All(ctx)
		if err != nil {
			return err
		}
		for _, r := range rows {
			levels[r.VariantID] = r.Available
		}
	}
	for _, p := range products {
		op := OverlayProduct{Product: p, Variants: []VariantStock{}}
		for _, v := range byProduct[p.ID] {
			op.Variants = append(op.Variants, VariantStock{Variant: v, Available: levels[v.ID]})
			if op.Drop == nil && len(v.Edges.Drops) > 0 {
				op.Drop = latestDrop(v.Edges.Drops)
			}
		}
		if st.HighlightedProductID != nil && *st.HighlightedProductID == p.ID {
			o.Highlighted = p
		}
		o.Pinned = append(o.Pinned, op)
	}
	return nil
}

func latestDrop(ds []*ent.Drop) *ent.Drop {
	best := ds[0]
	for _, d := range ds[1:] {
		if d.OpensAt.After(best.OpensAt) {
			best = d
		}
	}
	return best
}

// PinnedProducts returns a stream's pinned products in overlay order, read
// as the viewer in ctx.
func (s *Service) PinnedProducts(ctx context.Context, st *ent.Stream) ([]*ent.Product, error) {
	if len(st.PinnedProductIds) == 0 {
		return []*ent.Product{}, nil
	}
	ps, err := s.db.Product.Query().Where(product.IDIn(st.PinnedProductIds...)).All(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ps, func(a, b *ent.Product) int {
		return slices.Index(st.PinnedProductIds, a.ID) - slices.Index(st.PinnedProductIds, b.ID)
	})
	return ps, nil
}

// PinningVariant returns the streams, not ended, that pin the variant's
// product: a change of its stock changes their overlays.
func (s *Service) PinningVariant(ctx context.Context, variantID int) ([]int, error) {
	sys := viewer.SystemContext(ctx)
	pid, err := s.db.Variant.Query().Where(variant.ID(variantID)).Select(variant.FieldProductID).Int(sys)
	if err != nil {
		return nil, err
	}
	return s.pinning(sys, pid)
}

// PinningDrop returns the streams, not ended, that pin a product selling
// through the drop: a change of the drop changes their overlays.
func (s *Service) PinningDrop(ctx context.Context, dropID int) ([]int, error) {
	sys := viewer.SystemContext(ctx)
	pids, err := s.db.Variant.Query().Where(variant.HasDropsWith(drop.ID(dropID))).Select(variant.FieldProductID).Ints(sys)
	if err != nil {
		return nil, err
	}
	return s.pinning(sys, pids...)
}

func (s *Service) pinning(ctx context.Context, productIDs ...int) ([]int, error) {
	sts, err := s.db.Stream.Query().Where(stream.StateNEQ(stream.StateENDED)).All(ctx)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, st := range sts {
		for _, p := range productIDs {
			if slices.Contains(st.PinnedProductIds, p) {
				out = append(out, st.ID)
				break
			}
		}
	}
	return out, nil
}

// sequences numbers each stream's overlay snapshots. It is safe for
// concurrent use; the zero value is ready.
type sequences struct {
	mu   sync.Mutex
	last map[int]int // stream id → the last number it was given
	// floor is the highest number of any stream forgotten so far: a
	// stream numbered again after it was forgotten continues above it.
	floor int
}

// next gives stream id its next number; forget drops the stream's entry
// afterwards (its overlay has ended).
func (q *sequences) next(id int, forget bool) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, ok := q.last[id]
	if !ok {
		n = q.floor
	}
	n++
	if forget {
		delete(q.last, id)
		q.floor = max(q.floor, n)
		return n
	}
	if q.last == nil {
		q.last = map[int]int{}
	}
	q.last[id] = n
	return n
}

// tracked reports whether stream id has an entry (for tests).
func (q *sequences) tracked(id int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.last[id]
	return ok
}
