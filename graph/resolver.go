// Package graph is merchd's GraphQL API: the gqlgen schema, thin resolvers
// over ent and the checkout services, and the HTTP handler with its
// transports and limits.
package graph

import (
	"context"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/accounts"
	"github.com/merchd/merchd/checkout/analytics"
	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/catalog"
	"github.com/merchd/merchd/checkout/delivery"
	"github.com/merchd/merchd/checkout/drops"
	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/memberships"
	"github.com/merchd/merchd/checkout/notify"
	"github.com/merchd/merchd/checkout/orders"
	"github.com/merchd/merchd/checkout/qrcodes"
	"github.com/merchd/merchd/checkout/returns"
	"github.com/merchd/merchd/checkout/settings"
	"github.com/merchd/merchd/checkout/streams"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/graph/model"
	"github.com/merchd/merchd/graph/realtime"
	"github.com/merchd/merchd/live"

	"github.com/merchd/merchd/ent"
)

// Resolver is the API's only dependency injection.
type Resolver struct {
	// present is the API's error presenter (set by NewServer), for errors
	// that travel inside a payload rather than as GraphQL errors.
	present graphql.ErrorPresenterFunc
	// log is the API's logger (set by NewServer), for causes kept out of
	// a payload.
	log      *slog.Logger
	Client   *ent.Client
	Accounts *accounts.Service
	Catalog  *catalog.Service
	Drops    *drops.Service
	Carts    *carts.Service
	Orders   *orders.Service
	Wallets  *wallets.Service
	Members  *memberships.Service
	// Currency is the shop's default currency.
	Currency string
	// Broker serves subscriptions; nil turns them off.
	Broker *realtime.Broker
	// Bus announces committed changes to every replica (the notifier the
	// services use); nil: this process's Broker only.
	Bus     checkout.Notifier
	Streams *streams.Service
	// Relay is the live relay (viewer counts, media time); may be nil.
	Relay *live.Relay
	// LiveMedia, when set, is what the overlay and viewerCount read instead
	// of Relay: viewer counts summed across live nodes.
	LiveMedia streams.Media
	QR        *qrcodes.Service
	// Fulfillment hands paid orders over; nil at a hub.
	Fulfil *fulfillment.Service
	// Delivery is how orders reach their buyers, chosen at checkout;
	// nil at a hub.
	Delivery *delivery.Service
	// Returns takes goods back; nil at a hub.
	Returns *returns.Service
	// Analytics measures sales; nil at a hub.
	Analytics *analytics.Service
	// Notify registers webhook endpoints; nil at a hub.
	Notify *notify.Service
	// Settings are the shop's name, logo, colour and currency as an owner
	// set them; nil: the defaults only.
	Settings *settings.Service
	// Hubs is central's side of the pop-up protocol: leases, hub sales
	// recorded exactly once, phone and card payments for them.
	Hubs *hubs.Service
	// Sales sells at this pop-up hub (edge.Sales); nil on central.
	Sales HubSales
	// Pickups hands pickups over at this pop-up hub, with or without the
	// link (edge.Sales); nil on central.
	Pickups HubPickups
	// Dropoffs takes returns dropped off at this pop-up hub, with or
	// without the link (edge.Sales); nil on central.
	Dropoffs HubDropoffs
	// HubLink is the hub's sync loop; nil on central.
	HubLink hubs.LinkReporter
	// Central is a hub's link to central for card payments; nil on central.
	Central hubs.CentralLink
	// Upstream is central's base URL, at a hub (its phone-payment QR codes
	// point there).
	Upstream string
	// PublicURL is the shop's public base URL (--public-url): the venue
	// QR codes hold it, so a phone camera opens them. Empty: a bare path.
	PublicURL string
	// Receipts prints hub sale receipts; nil when no printer is attached.
	Receipts hubs.SalePrinter
	// Labels prints hub sales' smart labels; nil without a label printer.
	Labels hubs.LabelPrinter
	// Now is the clock drop states are computed with.
	Now func() time.Time
	// NoopHold, when set, answers addToCart instead of taking a hold: the
	// flash-drop benchmark's ceiling (HTTP and GraphQL with a no-op hold).
	// Tests only; production leaves it nil.
	NoopHold func(ctx context.Context, in carts.AddToCartInput) (*model.AddToCartPayload, error)
}

// HubSales is the selling side of a pop-up hub, as the API uses it.
type HubSales interface {
	HubCode() string
	Sell(ctx context.Context, in hubs.SaleInput) (hubs.RemoteSale, error)
	TillContext(ctx context.Context) (context.Context, error)
	ScanToTill(ctx context.Context, cs *carts.Service, code, key string) (int, error)
	Close(ctx context.Context, key string) (hubs.RemoteReturn, error)
	PaymentRequest(ctx context.Context, lines []hubs.SellLine) (hubs.PaymentRequest, error)
	Queue(ctx context.Context) (hubs.HubQueue, error)
	OfflineWallet(ctx context.Context, pass string) (hubs.OfflineWallet, error)
}

// HubPickups is a pop-up hub's handover of pickups, as the API uses it.
type HubPickups interface {
	CollectPickup(ctx context.Context, code, key string) (fulfillment.HubHandover, error)
	Handovers(ctx context.Context, first int) ([]fulfillment.HubHandover, error)
}

// HubDropoffs is a pop-up hub's drop-off of returns, as the API uses it.
type HubDropoffs interface {
	ReceiveReturn(ctx context.Context, code, key string) (returns.HubDropoff, error)
}
