package graph

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/streams"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/graph/model"
	"github.com/merchd/merchd/graph/realtime"
	"github.com/merchd/merchd/live"
)

// LiveHooks connects the relay to the shop: stream keys, live state, and
// viewer counts for the overlay.
type LiveHooks struct {
	Streams *streams.Service
	Broker  *realtime.Broker // may be nil
	// Changed hears of every change in a stream's live state or viewers
	// (the node registry writes early); may be nil.
	Changed func()
}

var _ live.Hooks = (*LiveHooks)(nil)

// The overlay reads viewer counts and media time from the relay.
var _ streams.Media = (*live.Relay)(nil)

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
	if h.Changed != nil {
		h.Changed()
	}
	if id, err := streamID(s); err == nil {
		_ = h.Streams.SetLive(context.Background(), id, on)
	}
}

// Viewers implements live.Hooks.
func (h *LiveHooks) Viewers(s string, _ int) {
	if h.Changed != nil {
		h.Changed()
	}
	if id, err := streamID(s); err == nil && h.Broker != nil {
		h.Broker.Notify(context.Background(), checkout.StreamTopic(id))
	}
}

// registerOverlay makes "stream:<id>" a broker topic whose value is the whole
// overlay, read and stamped by the stream service once per change for every
// viewer, and turns changes of a pinned product's stock or drop into
// overlay changes.
func (r *Resolver) registerOverlay() {
	r.Broker.Handle("stream", func(ctx context.Context, topic string) (any, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		o, err := r.Streams.Overlay(ctx, id, r.Catalog.LocationID(), r.media())
		if err != nil {
			return nil, err
		}
		return overlayEvent(o), nil
	})
	r.Broker.Derive("stock", "stream", func(ctx context.Context, topic string) ([]string, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		return streamTopics(r.Streams.PinningVariant(ctx, id))
	})
	r.Broker.Derive("drop", "stream", func(ctx context.Context, topic string) ([]string, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		return streamTopics(r.Streams.PinningDrop(ctx, id))
	})
}

// media is the relay as the overlay reads it; nil without one.
func (r *Resolver) media() streams.Media {
	if r.LiveMedia != nil {
		return r.LiveMedia
	}
	if r.Relay == nil {
		return nil
	}
	return r.Relay
}

func streamTopics(ids []int, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		out = append(out, checkout.StreamTopic(id))
	}
	return out, nil
}

// overlayEvent maps a stamped overlay to its GraphQL event (Kind is set per
// subscriber).
func overlayEvent(o *streams.Overlay) *model.StreamOverlayEvent {
	ev := &model.StreamOverlayEvent{
		Seq: o.Seq, Stream: o.Stream, Highlighted: o.Highlighted,
		ViewerCount: o.Viewers, MediaTime: o.MediaTime,
		Pinned: make([]*model.OverlayProduct, 0, len(o.Pinned)),
	}
	if o.RTPTimestamp != nil {
		f := float64(*o.RTPTimestamp)
		ev.RtpTimestamp = &f
	}
	for _, p := range o.Pinned {
		op := &model.OverlayProduct{Product: p.Product, Drop: p.Drop, Variants: make([]*model.VariantStock, 0, len(p.Variants))}
		for _, v := range p.Variants {
			op.Variants = append(op.Variants, &model.VariantStock{Variant: v.Variant, Available: v.Available})
		}
		ev.Pinned = append(ev.Pinned, op)
	}
	return ev
}

// watchOverlay subscribes to a stream's overlay: the first event a viewer
// gets is marked SNAPSHOT, the rest CHANGE.
func (r *Resolver) watchOverlay(ctx context.Context, id int) (<-chan *model.StreamOverlayEvent, error) {
	if r.Broker == nil {
		return nil, errors.New("subscriptions are not enabled on this server")
	}
	if err := acquireSubscription(ctx); err != nil {
		return nil, err
	}
	var first atomic.Bool
	first.Store(true)
	return realtime.Watch(ctx, r.Broker, []string{checkout.StreamTopic(id)}, func(v any) (*model.StreamOverlayEvent, bool) {
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
