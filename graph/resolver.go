// Package graph is merchd's GraphQL API: the gqlgen schema, thin resolvers
// over ent and the checkout services, and the HTTP handler with its
// transports and limits.
package graph

import (
	"github.com/99designs/gqlgen/graphql"
	"time"

	"github.com/merchd/merchd/graph/realtime"
	"github.com/merchd/merchd/live"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
)

// Resolver is the API's only dependency injection.
type Resolver struct {
	// present is the API's error presenter (set by NewServer), for errors
	// that travel inside a payload rather than as GraphQL errors.
	present  graphql.ErrorPresenterFunc
	Client   *ent.Client
	Accounts *checkout.Accounts
	Catalog  *checkout.Catalog
	Drops    *checkout.Drops
	Carts    *checkout.Carts
	Orders   *checkout.Orders
	Wallets  *checkout.Wallets
	Members  *checkout.Memberships
	// Currency is the shop's default currency.
	Currency string
	// Hub serves subscriptions; nil turns them off.
	Hub     *realtime.Hub
	Streams *checkout.Streams
	// Relay is the live relay (viewer counts, media time); may be nil.
	Relay *live.Relay
	QR    *checkout.QRCodes
	// Hubs sells at a pop-up hub and records hub sales on central.
	Hubs *checkout.Hubs
	// HubLink is the hub's sync loop; nil on central.
	HubLink checkout.LinkReporter
	// Central is a hub's link to central for card payments; nil on central.
	Central checkout.CentralLink
	// Upstream is central's base URL, at a hub (its phone-payment QR codes
	// point there).
	Upstream string
	// Till prints hub sale receipts; nil when no printer is attached.
	Till checkout.SalePrinter
	// Labels prints hub sales' smart labels; nil without a label printer.
	Labels checkout.LabelPrinter
	// Now is the clock drop states are computed with.
	Now func() time.Time
}
