// Package shop is merchd's one composition root: it builds every domain
// service of checkout once, wires them to each other, and runs their
// background jobs. `merchd serve`, `merchd edge` and the test harness
// (graph/graphtest) all build the shop here, so what runs in tests is what
// runs in production. Nothing but main and the test harness imports it.
//
// It owns no invariant of its own; each domain package says which it owns.
package shop

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

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
	"github.com/merchd/merchd/checkout/payments"
	"github.com/merchd/merchd/checkout/qrcodes"
	"github.com/merchd/merchd/checkout/returns"
	"github.com/merchd/merchd/checkout/settings"
	"github.com/merchd/merchd/checkout/streams"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
)

// Config is everything the shop is built from. The zero value of each
// optional field is the documented default.
type Config struct {
	DB *entdb.DB
	// Currencies the catalog accepts; the first is the shop's default.
	Currencies []string
	// Hub is this server's pop-up hub code (merchd edge), or "" on central.
	Hub      string
	Accounts accounts.Config
	Cart     carts.Config
	Wallet   wallets.Config
	// Retention (zero: orders.DefaultRetention).
	Retention orders.RetentionConfig
	// Returns is the default return policy (zero: returns.DefaultConfig:
	// 30 days, wallet credit on drop-off); staff may change it.
	Returns returns.Config
	// HubWalletLimit is, on central, the most one wallet pass pays at hubs
	// (zero: hubs.DefaultHubWalletLimit).
	HubWalletLimit int64
	// Pay and Subs take card payments and subscriptions (nil: cards off);
	// Install is this database's id on a Stripe account shared by several.
	Pay     checkout.PaymentProvider
	Subs    checkout.Subscriptions
	Install string
	// Terminal drives card readers for hub sales on central (nil: none).
	Terminal hubs.Terminal
	// Fulfillment holds the fulfilment SLAs (zero: fulfillment's defaults).
	Fulfillment fulfillment.Config
	// Notifier hears every committed change (nil: nobody).
	Notifier checkout.Notifier
	// Notify configures email and outbound webhooks (central only).
	Notify notify.Config
	// Look is the defaults (the flags) of the settings an owner edits:
	// shop name, logo, brand colour, currency (empty Name: Notify's
	// ShopName; empty Currency: the first of Currencies).
	Look settings.Shop
	Now  func() time.Time
	Log  *slog.Logger
}

// Shop is every domain service, built once.
type Shop struct {
	Accounts *accounts.Service
	Catalog  *catalog.Service
	Drops    *drops.Service
	Carts    *carts.Service
	Orders   *orders.Service
	Wallets  *wallets.Service
	Members  *memberships.Service
	Streams  *streams.Service
	QR       *qrcodes.Service
	// Hubs is central's side of the pop-up protocol (leases, hub sales
	// recorded exactly once, payments for them); the hub's side is
	// edge.Sales, which main builds at a hub.
	Hubs *hubs.Service
	// Fulfillment hands paid orders over (central only; nil at a hub).
	Fulfillment *fulfillment.Service
	// Delivery is how orders reach their buyers, chosen at checkout:
	// pickup windows, local zones, shipping rates, addresses (central
	// only; nil at a hub, which sells at its counter).
	Delivery *delivery.Service
	// Returns takes goods back (central only; nil at a hub).
	Returns *returns.Service
	// Analytics measures sales (central only; nil at a hub).
	Analytics *analytics.Service
	// Notify is the outbox: buyers' emails and the merchant's webhooks,
	// recorded with each change and sent after (central only; nil at a
	// hub, whose sales reach central's outbox when they sync).
	Notify *notify.Service
	// Settings are the shop's name, logo, brand colour and currency as
	// an owner set them, over the flags.
	Settings *settings.Service

	log *slog.Logger
}

// New builds the shop. It provisions what the services need in the
// database (this server's stock location, the signing keys).
func New(ctx context.Context, cfg Config) (*Shop, error) {
	if cfg.DB == nil || len(cfg.Currencies) == 0 || cfg.Now == nil || cfg.Log == nil {
		return nil, fmt.Errorf("shop: DB, Currencies, Now and Log are required")
	}
	db, dialect, now := cfg.DB.Client, cfg.DB.Dialect, cfg.Now
	s := &Shop{log: cfg.Log}
	var err error
	look := cfg.Look
	if look.Name == "" {
		look.Name = cfg.Notify.ShopName
	}
	if look.Currency == "" {
		look.Currency = cfg.Currencies[0]
	}
	s.Settings = settings.New(db, look, now)
	if cfg.Notifier != nil {
		s.Settings.SetNotifier(cfg.Notifier)
	}
	if s.Accounts, err = accounts.New(db, cfg.Accounts); err != nil {
		return nil, err
	}
	location := "central"
	if cfg.Hub != "" {
		location = cfg.Hub
	}
	if s.Catalog, err = catalog.New(ctx, db, catalog.Config{Currencies: cfg.Currencies, Location: location}); err != nil {
		return nil, err
	}
	if s.Wallets, err = wallets.New(db, dialect, cfg.Wallet, cfg.Pay, now); err != nil {
		return nil, err
	}
	s.Members = memberships.New(db, dialect, s.Wallets, cfg.Subs, now, cfg.Log)
	s.Drops = drops.New(db, dialect, now, s.Members.EarlyAccess, cfg.Log)
	if s.Carts, err = carts.New(db, dialect, cfg.Cart, now, s.Drops, s.Catalog.LocationID()); err != nil {
		return nil, err
	}
	s.Carts.Pricer = s.Members.Price
	s.Hubs = hubs.New(db, dialect, now)
	// Central signs codes (wallet passes, receipts, pickup passes) with its
	// key; a hub only checks them, and hands orders over at its till.
	var (
		signer *hubs.Signer
		fulfil checkout.Fulfiller
	)
	if cfg.Hub == "" {
		if signer, err = hubs.NewSigner(ctx, db); err != nil {
			return nil, err
		}
		if cfg.Fulfillment.LateCurrency == "" {
			cfg.Fulfillment.LateCurrency = cfg.Currencies[0]
		}
		if err := cfg.Fulfillment.Validate(); err != nil {
			return nil, err
		}
		s.Fulfillment = fulfillment.New(db, dialect, signer, s.Catalog.LocationID(), now)
		fulfil = s.Fulfillment
		if s.Notify, err = notify.New(db, cfg.Notify, now, cfg.Log); err != nil {
			return nil, err
		}
	}
	s.Orders = orders.New(db, dialect, s.Carts, s.Wallets, s.Members, cfg.Pay, now, cfg.Log, fulfil, s.Hubs)
	if cfg.Hub == "" {
		// A pickup place is held with the cart's holds and goes back with
		// the last of them; checkout puts the price on the order.
		s.Delivery = delivery.New(db, dialect, cfg.Currencies, now)
		s.Carts.Places = s.Delivery
		s.Orders.UseDelivery(s.Delivery)
	}
	retention := cfg.Retention
	if retention == (orders.RetentionConfig{}) {
		retention = orders.DefaultRetention()
	}
	if err := s.Orders.SetRetention(retention); err != nil {
		return nil, err
	}
	s.Orders.IgnoreOtherInstallations(cfg.Install)
	if s.Notify != nil {
		s.Notify.SetShopName(func(ctx context.Context) string { return s.Settings.Get(ctx).Name })
		s.Orders.SetOutbox(s.Notify)
		s.Accounts.SetOutbox(s.Notify)
	}
	if cfg.Hub != "" {
		s.Orders.SellAtTillOnly(cfg.Hub)
	} else {
		s.Hubs.Central(signer, s.Wallets, cfg.Pay)
		if cfg.HubWalletLimit != 0 {
			s.Hubs.LimitHubWalletSales(cfg.HubWalletLimit)
		}
		if cfg.Terminal != nil {
			s.Hubs.UseTerminal(cfg.Terminal)
		}
	}
	if s.Fulfillment != nil {
		fc := cfg.Fulfillment
		if fc.LabelURL == "" {
			fc.LabelURL = cfg.Notify.PublicURL // label QR codes open the shop's console
		}
		d := fulfillment.Deps{Config: fc, Credit: s.Wallets}
		if s.Delivery != nil {
			d.Windows = reroutes{s.Delivery}
		}
		if s.Notify != nil {
			d.Outbox = s.Notify
		}
		s.Fulfillment.Wire(d)
	}
	if cfg.Hub == "" {
		if s.Returns, err = returns.New(db, dialect, cfg.Returns, signer, s.Orders, now, cfg.Log); err != nil {
			return nil, err
		}
		if s.Notify != nil {
			s.Returns.SetOutbox(s.Notify)
		}
		s.Analytics = analytics.New(cfg.DB, now)
	}
	s.Streams = streams.New(db, now)
	if s.QR, err = qrcodes.New(ctx, db); err != nil {
		return nil, err
	}
	if cfg.Notifier != nil {
		// The carts' sold-out memo hears every change first.
		cfg.Notifier = s.Carts.Watching(cfg.Notifier)
		for _, a := range []interface{ SetNotifier(checkout.Notifier) }{s.Catalog, s.Drops, s.Carts, s.Orders, s.Wallets, s.Streams, s.Hubs} {
			a.SetNotifier(cfg.Notifier)
		}
		if s.Fulfillment != nil {
			s.Fulfillment.SetNotifier(cfg.Notifier)
			s.Returns.SetNotifier(cfg.Notifier)
		}
		if s.Delivery != nil {
			s.Delivery.SetNotifier(cfg.Notifier)
		}
	}
	return s, nil
}

// Webhook serves Stripe's events, verified with secret.
func (s *Shop) Webhook(secret checkout.Secret) http.Handler {
	return payments.WebhookHandler(secret, payments.Router{Payments: s.Orders, Subscriptions: s.Members}, s.log)
}

// Run runs the shop's background jobs until ctx ends, each domain its
// own: the drop scheduler (on the clock), the notification worker (on
// central), and every sweepInterval the orders' sweeper (expired holds,
// overdue orders, refund retries, retention), gift expiry, membership
// renewals, fulfilment SLAs, pickup places and returns whose card refund
// went through on a retry.
func (s *Shop) Run(ctx context.Context, sweepInterval time.Duration) {
	var wg sync.WaitGroup
	wg.Go(func() { s.Drops.RunScheduler(ctx) })
	wg.Go(func() { s.Orders.RunSweeper(ctx, sweepInterval) })
	wg.Go(func() { s.every(ctx, sweepInterval, "expire gifts", s.Wallets.ExpireGifts) })
	wg.Go(func() { s.every(ctx, sweepInterval, "renew memberships", s.Members.Renew) })
	if s.Fulfillment != nil {
		wg.Go(func() { s.every(ctx, sweepInterval, "fulfilment SLAs", s.Fulfillment.Sweep) })
	}
	if s.Delivery != nil {
		wg.Go(func() { s.every(ctx, sweepInterval, "sweep pickup places", s.Delivery.SweepPlaces) })
	}
	if s.Returns != nil {
		wg.Go(func() { s.every(ctx, sweepInterval, "settle returns", s.Returns.Settle) })
	}
	if s.Notify != nil {
		wg.Go(func() { s.Notify.Run(ctx) })
	}
	wg.Wait()
}

// Sweep runs every periodic job once, now (tests move a fake clock and
// sweep). It returns the holds the orders' sweeper expired.
func (s *Shop) Sweep(ctx context.Context) (int, error) {
	n, err := s.Orders.Sweep(ctx)
	if err != nil {
		return n, err
	}
	if _, err := s.Wallets.ExpireGifts(ctx); err != nil {
		return n, err
	}
	if _, err = s.Members.Renew(ctx); err != nil {
		return n, err
	}
	if s.Delivery != nil {
		if _, err = s.Delivery.SweepPlaces(ctx); err != nil {
			return n, err
		}
	}
	if s.Returns != nil {
		if _, err = s.Returns.Settle(ctx); err != nil {
			return n, err
		}
	}
	if s.Fulfillment != nil {
		_, err = s.Fulfillment.Sweep(ctx)
	}
	return n, err
}

// every runs job every interval until ctx ends, logging its failures.
func (s *Shop) every(ctx context.Context, interval time.Duration, name string, job func(context.Context) (int, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := job(ctx); err != nil && ctx.Err() == nil {
			s.log.Error(name, "error", err)
		} else if n > 0 {
			s.log.Info(name, "n", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reroutes finds a missed pickup's next window for fulfilment's SLA sweep
// among delivery's pickup windows.
type reroutes struct{ d *delivery.Service }

func (r reroutes) Reroute(ctx context.Context, tx *ent.Tx, f *ent.Fulfillment, now time.Time) (fulfillment.Reroute, bool, error) {
	if f.LocationID == nil {
		return fulfillment.Reroute{}, false, nil
	}
	w, p, ok, err := r.d.NextWindow(ctx, tx, *f.LocationID, now)
	if !ok || err != nil {
		return fulfillment.Reroute{}, false, err
	}
	id := w.ID
	label := fmt.Sprintf("%s · %s–%s UTC", p.Name, w.StartsAt.UTC().Format("Mon 02 Jan 15:04"), w.EndsAt.UTC().Format("15:04"))
	return fulfillment.Reroute{LocationID: p.LocationID, WindowID: &id, Due: w.EndsAt.UTC(), Label: label}, true, nil
}
