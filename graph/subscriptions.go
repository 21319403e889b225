package graph

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cart"
	"github.com/merchd/merchd/ent/drop"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/wallet"
	"github.com/merchd/merchd/graph/model"
	"github.com/merchd/merchd/graph/realtime"
)

// registerTopics tells the broker how to read each kind of topic. Reads run
// as the system: who may watch what is decided when subscribing.
func (r *Resolver) registerTopics() {
	r.Broker.Handle("stock", func(ctx context.Context, topic string) (any, error) {
		ctx = viewer.SystemContext(ctx)
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		v, err := r.Client.Variant.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		n, err := r.Client.Stock.Query().Where(stock.VariantID(id), stock.LocationID(r.Catalog.LocationID())).
			Select(stock.FieldAvailable).Int(ctx)
		if ent.IsNotFound(err) {
			n, err = 0, nil
		}
		return &model.VariantStock{Variant: v, Available: n}, err
	})
	r.Broker.Handle("drop", func(ctx context.Context, topic string) (any, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		return r.Client.Drop.Query().Where(drop.ID(id)).WithPools().Only(viewer.SystemContext(ctx))
	})
	r.Broker.Handle("cart", func(ctx context.Context, topic string) (any, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		c, err := r.Client.Cart.Query().Where(cart.CustomerID(id), cart.StatusEQ(cart.StatusOPEN)).Only(viewer.SystemContext(ctx))
		if ent.IsNotFound(err) {
			return (*ent.Cart)(nil), nil
		}
		return c, err
	})
	r.Broker.Handle("order", func(ctx context.Context, topic string) (any, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		return r.Client.Order.Get(viewer.SystemContext(ctx), id)
	})
	r.Broker.Handle("fulfillment", func(ctx context.Context, topic string) (any, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		return r.Client.Fulfillment.Get(viewer.SystemContext(ctx), id)
	})
	r.Broker.Handle("wallet", func(ctx context.Context, topic string) (any, error) {
		id, err := topicID(topic)
		if err != nil {
			return nil, err
		}
		return r.Client.Wallet.Query().Where(wallet.CustomerID(id)).All(viewer.SystemContext(ctx))
	})
}

func topicID(topic string) (int, error) {
	_, s, _ := strings.Cut(topic, ":")
	return strconv.Atoi(s)
}

// watch subscribes to topics whose values are Ts.
func watch[T any](ctx context.Context, r *Resolver, topics []string) (<-chan T, error) {
	if r.Broker == nil {
		return nil, errors.New("subscriptions are not enabled on this server")
	}
	if err := acquireSubscription(ctx); err != nil {
		return nil, err
	}
	return realtime.Watch(ctx, r.Broker, topics, func(v any) (T, bool) {
		t, ok := v.(T)
		return t, ok
	})
}

// watchWallet picks the wallet in currency from the customer's wallets.
func watchWallet(ctx context.Context, r *Resolver, customerID int, currency string) (<-chan *ent.Wallet, error) {
	if r.Broker == nil {
		return nil, errors.New("subscriptions are not enabled on this server")
	}
	if err := acquireSubscription(ctx); err != nil {
		return nil, err
	}
	return realtime.Watch(ctx, r.Broker, []string{checkout.WalletTopic(customerID)}, func(v any) (*ent.Wallet, bool) {
		ws, ok := v.([]*ent.Wallet)
		if !ok {
			return nil, false
		}
		for _, w := range ws {
			if w.Currency == currency {
				return w, true
			}
		}
		return nil, true
	})
}

// subscriptionLimit counts one websocket connection's live subscriptions.
type subscriptionLimit struct {
	max int32
	n   atomic.Int32
}

type subscriptionLimitKey struct{}

func withSubscriptionLimit(ctx context.Context, max int) context.Context {
	return context.WithValue(ctx, subscriptionLimitKey{}, &subscriptionLimit{max: int32(max)})
}

// errTooManySubscriptions refuses one subscription too many on a connection.
var errTooManySubscriptions = errors.New("too many subscriptions on this connection")

// acquireSubscription counts a subscription against its connection's limit
// until the subscription's context ends.
func acquireSubscription(ctx context.Context) error {
	l, _ := ctx.Value(subscriptionLimitKey{}).(*subscriptionLimit)
	if l == nil {
		return nil // SSE: one subscription per request
	}
	if l.n.Add(1) > l.max {
		l.n.Add(-1)
		return fmt.Errorf("%w (at most %d)", errTooManySubscriptions, l.max)
	}
	context.AfterFunc(ctx, func() { l.n.Add(-1) })
	return nil
}
