package graph

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/streams"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/drop"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/stream"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/model"
	"github.com/merchd/merchd/graph/realtime"
	"github.com/merchd/merchd/live"
)

// LiveHooks connects the relay to the shop: stream keys, live state, and
// viewer counts for the overlay.
type LiveHooks struct {
	Streams *streams.Service
	Hub     *realtime.Hub // may be nil
}

var _ live.Hooks = (*LiveHooks)(nil)

func streamID(s string) (int, error) {
	id, err := gid.Decode(s)
	if err != nil {
		return 0, live.ErrNoStream
	}
	return id, nil
}

// AuthorizePublisher implements live.Hooks.
func (h *LiveHooks) AuthorizePublisher(ctx context.Context, s, key string) error {
	id, err := streamID(s)
	if err != nil {
		return err
	}
	switch err := h.Streams.AuthorizeKey(ctx, id, key); {
	case errors.Is(err, checkout.ErrNotFound):
		return live.ErrNoStream
	case errors.Is(err, checkout.ErrUnauthenticated), errors.Is(err, checkout.ErrForbidden):
		return live.ErrUnauthorized
	default:
		return err
	}
}

// AuthorizeViewer implements live.Hooks.
func (h *LiveHooks) AuthorizeViewer(ctx context.Context, s string) error {
	id, err := streamID(s)
	if err != nil {
		return err
	}
	if err := h.Streams.Watchable(ctx, id); errors.Is(err, checkout.ErrNotFound) {
		return live.ErrNoStream
	} else if err != nil {
		return err
	}
	return nil
}

// Live implements live.Hooks.
func (h *LiveHooks) Live(s string, on bool) {
	if id, err := streamID(s); err == nil {
		_ = h.Streams.SetLive(context.Background(), id, on)
	}
}

// Viewers implements live.Hooks.
func (h *LiveHooks) Viewers(s string, _ int) {
	if id, err := streamID(s); err == nil && h.Hub != nil {
		h.Hub.Notify(context.Background(), checkout.StreamTopic(id))
	}
}

func (r *Resolver) pinnedProducts(ctx context.Context, st *ent.Stream) ([]*ent.Product, error) {
	if len(st.PinnedProductIds) == 0 {
		return []*ent.Product{}, nil
	}
	ps, err := r.Client.Product.Query().Where(product.IDIn(st.PinnedProductIds...)).All(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ps, func(a, b *ent.Product) int {
		return slices.Index(st.PinnedProductIds, a.ID) - slices.Index(st.PinnedProductIds, b.ID)
	})
	return ps, nil
}

// overlaySeq numbers each stream's overlay changes.
var overlaySeq sync.Map // stream id → *atomic.Int64

// registerOverlay makes "stream:<id>" a hub topic whose value is the whole
// overlay, read once per change for every viewer, and turns changes of a
// pinned product's stock or drop into overlay changes.
func (r *Resolver) registerOverlay() {
	h := r.Hub
	h.Handle("stream", func(ctx context.Context, topic string) (any, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		return r.overlay(viewer.SystemContext(ctx), id)
	})
	h.Derive("stock", "stream", func(ctx context.Context, topic string) ([]string, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		pid, err := r.Client.Variant.Query().Where(variant.ID(id)).Select(variant.FieldProductID).Int(viewer.SystemContext(ctx))
		if err != nil {
			return nil, err
		}
		return r.streamsPinning(ctx, pid)
	})
	h.Derive("drop", "stream", func(ctx context.Context, topic string) ([]string, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		pids, err := r.Client.Variant.Query().Where(variant.HasDropsWith(drop.ID(id))).Select(variant.FieldProductID).Ints(viewer.SystemContext(ctx))
		if err != nil {
			return nil, err
		}
		return r.streamsPinning(ctx, pids...)
	})
}

func (r *Resolver) streamsPinning(ctx context.Context, productIDs ...int) ([]string, error) {
	sts, err := r.Client.Stream.Query().Where(stream.StateNEQ(stream.StateENDED)).All(viewer.SystemContext(ctx))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, st := range sts {
		for _, p := range productIDs {
			if slices.Contains(st.PinnedProductIds, p) {
				out = append(out, checkout.StreamTopic(st.ID))
				break
			}
		}
	}
	return out, nil
}

// overlay reads a stream's whole overlay: one query per kind of thing, not
// per product.
func (r *Resolver) overlay(ctx context.Context, id int) (*model.StreamOverlayEvent, error) {
	st, err := r.Client.Stream.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	ev := &model.StreamOverlayEvent{Stream: st, Pinned: []*model.OverlayProduct{}}
	if r.Relay != nil {
		key := gid.Encode(id)
		ev.ViewerCount = r.Relay.Viewers(key)
		if mt, ok := r.Relay.MediaTime(key); ok {
			ev.MediaTime = &mt
		}
		if ts, ok := r.Relay.RTPTimestamp(key); ok {
			f := float64(ts)
			ev.RtpTimestamp = &f
		}
	}
	products, err := r.pinnedProducts(ctx, st)
	if err != nil {
		return nil, err
	}
	var vids []int
	byProduct := map[int][]*ent.Variant{}
	if len(products) > 0 {
		vs, err := r.Client.Variant.Query().Where(variant.ProductIDIn(st.PinnedProductIds...)).
			WithDrops(func(q *ent.DropQuery) { q.WithPools() }).Order(ent.Asc(variant.FieldPosition)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			byProduct[v.ProductID] = append(byProduct[v.ProductID], v)
			vids = append(vids, v.ID)
		}
	}
	levels := map[int]int{}
	if len(vids) > 0 {
		rows, err := r.Client.Stock.Query().Where(stock.VariantIDIn(vids...), stock.LocationID(r.Catalog.LocationID())).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range rows {
			levels[s.VariantID] = s.Available
		}
	}
	for _, p := range products {
		op := &model.OverlayProduct{Product: p, Variants: []*model.VariantStock{}}
		for _, v := range byProduct[p.ID] {
			op.Variants = append(op.Variants, &model.VariantStock{Variant: v, Available: levels[v.ID]})
			if op.Drop == nil && len(v.Edges.Drops) > 0 {
				op.Drop = latestDrop(v.Edges.Drops)
			}
		}
		if st.HighlightedProductID != nil && *st.HighlightedProductID == p.ID {
			ev.Highlighted = p
		}
		ev.Pinned = append(ev.Pinned, op)
	}
	seq, _ := overlaySeq.LoadOrStore(id, new(atomic.Int64))
	ev.Seq = int(seq.(*atomic.Int64).Add(1))
	return ev, nil
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

// watchOverlay subscribes to a stream's overlay: the first event a viewer
// gets is marked SNAPSHOT, the rest CHANGE.
func (r *Resolver) watchOverlay(ctx context.Context, id int) (<-chan *model.StreamOverlayEvent, error) {
	if r.Hub == nil {
		return nil, errors.New("subscriptions are not enabled on this server")
	}
	if err := acquireSubscription(ctx); err != nil {
		return nil, err
	}
	var first atomic.Bool
	first.Store(true)
	return realtime.Watch(ctx, r.Hub, []string{checkout.StreamTopic(id)}, func(v any) (*model.StreamOverlayEvent, bool) {
		ev, ok := v.(*model.StreamOverlayEvent)
		if !ok {
			return nil, false
		}
		out := *ev
		out.Kind = model.OverlayEventKindChange
		if first.Swap(false) {
			out.Kind = model.OverlayEventKindSnapshot
		}
		return &out, true
	})
}
