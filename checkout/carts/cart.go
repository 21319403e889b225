package carts

import (
	"context"
	stdsql "database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/drops"
	"github.com/merchd/merchd/checkout/inventory"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cart"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/drop"
	"github.com/merchd/merchd/ent/droppool"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/predicate"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/stream"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
)

// Config configures holds.
type Config struct {
	// HoldTTL is how long an added item stays reserved outside drops
	// (drops set their own).
	HoldTTL time.Duration
	// PaymentWindow is how long holds stay reserved once checkout starts.
	PaymentWindow time.Duration
	// MaxQuantity bounds one addToCart; more is a typo or an attack.
	MaxQuantity int
	// MaxHeldPerVariant bounds the units of one variant a customer holds
	// at once outside drops (a drop's per-customer limit governs its own).
	MaxHeldPerVariant int
	// MaxHeldUnits bounds the units a customer holds at once outside
	// drops, all variants together.
	MaxHeldUnits int
	// MaxUnpaidOrders bounds a customer's orders awaiting a card payment:
	// each keeps its holds for the payment window.
	MaxUnpaidOrders int
	// HoldBatch turns on group commit: concurrent holds of one variant
	// (same drop and channel) share one transaction (batch.go).
	HoldBatch bool
}

// DefaultConfig holds for 10 minutes and waits 15 for a payment; a
// customer holds at most 10 units of a variant, 50 in all, and has at most
// 3 orders awaiting payment.
func DefaultConfig() Config {
	return Config{HoldTTL: 10 * time.Minute, PaymentWindow: 15 * time.Minute, MaxQuantity: 100,
		MaxHeldPerVariant: 10, MaxHeldUnits: 50, MaxUnpaidOrders: 3, HoldBatch: true}
}

// Validate reports unusable settings.
func (c Config) Validate() error {
	switch {
	case c.HoldTTL < 30*time.Second || c.HoldTTL > time.Hour:
		return fmt.Errorf("carts: hold TTL %s is outside 30s..1h", c.HoldTTL)
	case c.PaymentWindow < time.Minute || c.PaymentWindow > 24*time.Hour:
		return fmt.Errorf("carts: payment window %s is outside 1m..24h", c.PaymentWindow)
	case c.MaxQuantity < 1:
		return fmt.Errorf("carts: max quantity %d is below 1", c.MaxQuantity)
	case c.MaxHeldPerVariant < 1:
		return fmt.Errorf("carts: --max-held-per-variant %d is below 1", c.MaxHeldPerVariant)
	case c.MaxHeldUnits < c.MaxHeldPerVariant:
		return fmt.Errorf("carts: --max-held-units %d is below --max-held-per-variant %d", c.MaxHeldUnits, c.MaxHeldPerVariant)
	case c.MaxUnpaidOrders < 1:
		return fmt.Errorf("carts: --max-unpaid-orders %d is below 1", c.MaxUnpaidOrders)
	}
	return nil
}

// Service takes and returns holds. Every unit moves through a conditional
// atomic update; a hold returns its units exactly once, guarded by the
// HELD → RELEASED/EXPIRED transition of its own row.
type Service struct {
	db         *ent.Client
	dialect    string
	Cfg        Config
	now        func() time.Time
	drops      *drops.Service
	locationID int
	hubKnown   atomic.Pointer[bool]
	// Pricer, when set, is what a customer pays per unit (member prices);
	// the price is fixed when the hold is taken.
	Pricer func(ctx context.Context, customerID int, v *ent.Variant) (int64, error)
	// Places, when set, is what a cart holds besides its lines' units (a
	// pickup window's place, checkout/delivery): told in the transaction
	// that releases each line, it gives the place back with the last.
	Places CartPlaces
	txn.Announcer
	// batch queues holds for group commit; batchCount counts its
	// transactions.
	batch      batcher
	batchCount atomic.Int64
	// soldOut refuses a sold-out drop's holds from memory (soldout.go).
	soldOut soldOutMemo
}

// CartPlaces holds, for a whole cart, what goes back with its last hold.
type CartPlaces interface {
	// LineReleased runs in the transaction that released a line of the
	// cart (expired: it timed out).
	LineReleased(ctx context.Context, tx *ent.Tx, cartID int, expired bool) error
}

// New returns the cart service; holds take stock at locationID.
func New(db *ent.Client, dialectName string, cfg Config, now func() time.Time, drops *drops.Service, locationID int) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{db: db, dialect: dialectName, Cfg: cfg, now: now, drops: drops, locationID: locationID}, nil
}

// AddToCartInput is one addToCart call.
type AddToCartInput struct {
	VariantID int
	Quantity  int
	DropID    *int
	Channel   checkout.Channel
	StreamID  *int
	Key       string
}

// AddToCart holds quantity units of a variant for the signed-in customer
// and returns the new cart line (the hold).
func (c *Service) AddToCart(ctx context.Context, in AddToCartInput) (int, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return 0, err
	}
	if in.Quantity < 1 || in.Quantity > c.Cfg.MaxQuantity {
		return 0, checkout.BadInput("quantity", "must be between 1 and %d", c.Cfg.MaxQuantity)
	}
	if in.Channel != "" {
		if err := droppool.ChannelValidator(in.Channel); err != nil {
			return 0, checkout.BadInput("channel", "unknown channel %q", in.Channel)
		}
	}
	if err := txn.ValidateIdempotencyKey(in.Key); err != nil {
		return 0, err
	}
	sys := viewer.SystemContext(ctx)
	var (
		v       *ent.Variant
		d       *ent.Drop
		unit    int64
		now     = c.now()
		channel checkout.Channel
	)
	memo := soldOutKey{variant: in.VariantID, channel: in.Channel}
	if in.DropID != nil {
		memo.drop = *in.DropID
	}
	if in.StreamID != nil {
		memo.stream = *in.StreamID
	}
	check := func() error {
		if c.soldOut.soldOut(memo, now) {
			return fmt.Errorf("variant %d: %w (sold out)", in.VariantID, checkout.ErrOutOfStock)
		}
		gen := c.soldOut.generation()
		if channel, err = c.channelFor(sys, in); err != nil {
			return err
		}
		v, err = c.db.Variant.Query().
			Where(variant.ID(in.VariantID), variant.HasProductWith(product.StatusEQ(product.StatusACTIVE))).
			Only(sys)
		if err != nil {
			return checkout.NotFoundAs(err, "variant")
		}
		if d, err = c.dropFor(sys, in); err != nil {
			return err
		}
		if d != nil {
			if err := c.checkDropOpen(ctx, customerID, d, now); err != nil {
				return err
			}
			if d.PerCustomerLimit > 0 && in.Quantity > d.PerCustomerLimit {
				return fmt.Errorf("%d units, limit %d: %w", in.Quantity, d.PerCustomerLimit, checkout.ErrLimitExceeded)
			}
			// Sold out: refuse without taking the write lock.
			if p := poolOf(d, channel); p == nil || p.Remaining < in.Quantity {
				if p == nil || p.Remaining == 0 {
					c.soldOut.remember(memo, gen, now)
				}
				return fmt.Errorf("drop %d %s pool: %w", d.ID, channel, checkout.ErrOutOfStock)
			}
		}
		avail, err := c.db.Stock.Query().Where(stock.VariantID(v.ID), stock.LocationID(c.locationID)).
			Select(stock.FieldAvailable).Int(sys)
		if ent.IsNotFound(err) || (err == nil && avail < in.Quantity) {
			if avail == 0 {
				c.soldOut.remember(memo, gen, now)
			}
			return fmt.Errorf("variant %d: %w", v.ID, checkout.ErrOutOfStock)
		}
		if err != nil {
			return err
		}
		// Priced here, before the write transaction: never read through
		// another pooled connection while holding the write lock.
		unit = v.PriceAmount
		if c.Pricer != nil {
			unit, err = c.Pricer(ctx, customerID, v)
		}
		return err
	}
	req := struct {
		Variant, Quantity int
		Drop, Stream      *int
		Channel           checkout.Channel
	}{in.VariantID, in.Quantity, in.DropID, in.StreamID, in.Channel}
	var batch func(txn.Claim) (int, bool, error)
	if c.Cfg.HoldBatch {
		batch = func(cl txn.Claim) (int, bool, error) {
			r := &holdReq{claim: cl, customerID: customerID, variant: v, channel: channel, quantity: in.Quantity,
				unit: unit, streamID: in.StreamID, ttl: c.Cfg.HoldTTL, now: now, done: make(chan holdAns, 1)}
			k := batchKey{variant: v.ID, channel: channel}
			if d != nil {
				r.dropID, r.limit, r.ttl = &d.ID, d.PerCustomerLimit, time.Duration(d.HoldTTLSeconds)*time.Second
				k.drop = d.ID
			}
			a := c.submit(ctx, k, r)
			return a.lineID, !a.alone, a.err
		}
	}
	return txn.IdempotentBatched(ctx, c.db, "addToCart", in.Key, req, check, batch, func(ctx context.Context, tx *ent.Tx) (int, error) {
		cartID, err := c.lockOpenCart(sys, tx, customerID, v.Currency)
		if err != nil {
			return 0, err
		}
		h := hold{variantID: v.ID, locationID: c.locationID, customerID: customerID, channel: channel, quantity: in.Quantity}
		ttl := c.Cfg.HoldTTL
		if d != nil {
			h.dropID, h.limit = &d.ID, d.PerCustomerLimit
			ttl = time.Duration(d.HoldTTLSeconds) * time.Second
		} else if err := c.checkHeldCaps(sys, tx, customerID, v.ID, in.Quantity, now); err != nil {
			return 0, err
		}
		if err := c.take(sys, tx, h); err != nil {
			return 0, err
		}
		line, err := tx.CartLine.Create().
			SetCartID(cartID).SetVariantID(v.ID).SetNillableDropID(h.dropID).SetLocationID(c.locationID).
			SetCustomerID(customerID).SetChannel(channel).SetQuantity(in.Quantity).
			SetUnitAmount(unit).SetCurrency(v.Currency).SetNillableStreamID(in.StreamID).
			SetExpiresAt(now.Add(ttl)).SetCreatedAt(now).
			Save(sys)
		if err != nil {
			return 0, err
		}
		return line.ID, nil
	})
}

// channelFor derives the channel pool a purchase draws on. The server
// decides it, never the client: HUB on a hub's own server (its till and its
// counter), LIVE for a purchase made from a stream that is live right now
// (streamId; the stream's creator is paid on attribution, so it must be a
// real, live stream), ONLINE otherwise. A channel the client names is only
// a claim: one that differs from the derived channel is refused, so a
// customer online cannot take the live stream's or the pop-up's units.
func (c *Service) channelFor(ctx context.Context, in AddToCartInput) (checkout.Channel, error) {
	atHub, err := c.atHub(ctx)
	if err != nil {
		return "", err
	}
	derived := checkout.ChannelOnline
	switch {
	case atHub && in.StreamID != nil:
		return "", checkout.BadInput("streamId", "a hub sells at its counter, not for a livestream")
	case atHub:
		derived = checkout.ChannelHub
	case in.StreamID != nil:
		st, err := c.db.Stream.Query().Where(stream.ID(*in.StreamID)).Select(stream.FieldState).Only(ctx)
		if ent.IsNotFound(err) {
			return "", checkout.BadInput("streamId", "no such stream")
		}
		if err != nil {
			return "", err
		}
		if st.State != stream.StateLIVE {
			return "", fmt.Errorf("stream %d is %s: %w", *in.StreamID, st.State, checkout.ErrStreamNotLive)
		}
		derived = checkout.ChannelLive
	}
	if in.Channel == "" || in.Channel == derived {
		return derived, nil
	}
	switch in.Channel {
	case checkout.ChannelHub:
		return "", checkout.BadInput("channel", "HUB units are sold only at the hub's counter")
	case checkout.ChannelLive:
		return "", checkout.BadInput("channel", "LIVE units are sold only with the streamId of a stream that is live")
	default:
		return "", checkout.BadInput("channel", "this purchase is %s, not %s; omit channel and the server derives it", derived, in.Channel)
	}
}

// atHub reports whether this server's stock location is a hub (merchd
// edge). The answer never changes, so it is read once.
func (c *Service) atHub(ctx context.Context) (bool, error) {
	if v := c.hubKnown.Load(); v != nil {
		return *v, nil
	}
	kind, err := c.db.Location.Query().Where(location.ID(c.locationID)).Select(location.FieldKind).String(ctx)
	if err != nil {
		return false, fmt.Errorf("carts: this server's location: %w", err)
	}
	hub := kind == location.KindHUB.String()
	c.hubKnown.Store(&hub)
	return hub, nil
}

// dropFor is the drop governing this purchase: the one named, or else the
// variant's latest drop. A variant that was ever in a drop is only sold
// through its latest one — after that drop closes it is not for sale until
// staff schedule another — so caps and limits cannot be bypassed.
func (c *Service) dropFor(ctx context.Context, in AddToCartInput) (*ent.Drop, error) {
	q := c.db.Drop.Query().WithPools().Where(drop.HasVariantsWith(variant.ID(in.VariantID)))
	if in.DropID != nil {
		d, err := q.Where(drop.ID(*in.DropID)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, checkout.BadInput("dropId", "the variant is not part of this drop")
		}
		return d, err
	}
	d, err := q.Order(ent.Desc(drop.FieldOpensAt)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return d, err
}

func (c *Service) checkDropOpen(ctx context.Context, customerID int, d *ent.Drop, now time.Time) error {
	switch {
	case !now.Before(d.ClosesAt):
		return checkout.ErrDropNotOpen.Detail("closed at %s", d.ClosesAt.Format(time.RFC3339))
	case !now.Before(d.OpensAt):
		return nil
	case d.EarlyAccessAt != nil && !now.Before(*d.EarlyAccessAt):
		ok, err := c.drops.Gate(ctx, customerID, d)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		return checkout.ErrDropNotOpen.Detail("members only until %s", d.OpensAt.Format(time.RFC3339))
	default:
		return checkout.ErrDropNotOpen.Detail("opens at %s", d.OpensAt.Format(time.RFC3339))
	}
}

func poolOf(d *ent.Drop, ch checkout.Channel) *ent.DropPool {
	for _, p := range d.Edges.Pools {
		if p.Channel == ch {
			return p
		}
	}
	return nil
}

// openCart returns the customer's open cart, creating it if needed; two
// concurrent first adds meet at the unique open-cart index.
func (c *Service) openCart(ctx context.Context, tx *ent.Tx, customerID int, currency string) (int, error) {
	find := func() (*ent.Cart, error) {
		return tx.Cart.Query().Where(cart.CustomerID(customerID), cart.StatusEQ(cart.StatusOPEN)).Only(ctx)
	}
	k, err := find()
	if ent.IsNotFound(err) {
		_, err = c.exec(ctx, tx,
			`INSERT INTO carts (customer_id, status, currency, created_at, updated_at) VALUES (?, 'OPEN', ?, ?, ?)
			 ON CONFLICT (customer_id) WHERE status = 'OPEN' DO NOTHING`,
			customerID, currency, c.now().UTC(), c.now().UTC())
		if err != nil {
			return 0, err
		}
		k, err = find()
	}
	if err != nil {
		return 0, err
	}
	if k.Currency != currency {
		return 0, checkout.BadInput("variantId", "priced in %s, but the cart is in %s", currency, k.Currency)
	}
	return k.ID, nil
}

// checkHeldCaps refuses a hold outside drops that would take the
// customer past MaxHeldPerVariant or MaxHeldUnits. It counts inside the
// write transaction after locking the customer's open cart row: every add
// of one customer goes through that one row (one open cart per customer),
// so concurrent adds count one after another, never both from the same
// stale total. (SQLite's transactions are serialized anyway.)
func (c *Service) checkHeldCaps(ctx context.Context, tx *ent.Tx, customerID, variantID, quantity int, now time.Time) error {
	var rows []struct {
		VariantID int `json:"variant_id"`
		Sum       int `json:"sum"`
	}
	// Lines of a pending order stay HELD until it is paid or canceled, so
	// they count; a hold past its expiry is already lost to its owner.
	err := tx.CartLine.Query().
		Where(cartline.CustomerID(customerID), cartline.StatusEQ(cartline.StatusHELD), cartline.DropIDIsNil(),
			cartline.ExpiresAtGT(now)).
		GroupBy(cartline.FieldVariantID).Aggregate(ent.Sum(cartline.FieldQuantity)).Scan(ctx, &rows)
	if err != nil {
		return err
	}
	total, same := 0, 0
	for _, r := range rows {
		total += r.Sum
		if r.VariantID == variantID {
			same = r.Sum
		}
	}
	if same+quantity > c.Cfg.MaxHeldPerVariant {
		return &checkout.LimitError{What: "units of one item held at once", Limit: c.Cfg.MaxHeldPerVariant, Have: same}
	}
	if total+quantity > c.Cfg.MaxHeldUnits {
		return &checkout.LimitError{What: "units held at once", Limit: c.Cfg.MaxHeldUnits, Have: total}
	}
	return nil
}

// lockOpenCart takes the row lock of the customer's open cart (opening one
// if needed) and returns it. A cart checked out while we waited for its
// lock is not ours to add to: the customer's next open cart is.
func (c *Service) lockOpenCart(ctx context.Context, tx *ent.Tx, customerID int, currency string) (int, error) {
	for range 3 {
		cartID, err := c.openCart(ctx, tx, customerID, currency)
		if err != nil {
			return 0, err
		}
		n, err := c.exec(ctx, tx, `UPDATE carts SET updated_at = ? WHERE id = ? AND status = 'OPEN'`, c.now().UTC(), cartID)
		if err != nil {
			return 0, err
		}
		if n == 1 {
			return cartID, nil
		}
	}
	return 0, fmt.Errorf("customer %d: %w", customerID, checkout.ErrCartCheckedOut)
}

// hold is what one cart line takes from stock.
type hold struct {
	variantID, locationID, customerID int
	dropID                            *int
	limit                             int
	channel                           checkout.Channel
	quantity                          int
}

// take decrements stock, the drop pool and the customer's allowance, each
// with a conditional atomic update; any zero-row update refuses the whole
// transaction. The order (stock, pool, customer) is the same everywhere, so
// concurrent transactions never wait on each other in a cycle.
func (c *Service) take(ctx context.Context, tx *ent.Tx, h hold) error {
	ok, err := inventory.Take(ctx, tx, h.variantID, h.locationID, h.quantity)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("variant %d: %w", h.variantID, checkout.ErrOutOfStock)
	}
	c.AfterCommit(tx, checkout.StockTopic(h.variantID), checkout.CartTopic(h.customerID))
	if h.dropID == nil {
		return nil
	}
	c.AfterCommit(tx, checkout.DropTopic(*h.dropID))
	return c.drops.Claim(ctx, tx, drops.Claim{DropID: *h.dropID, CustomerID: h.customerID, Channel: h.channel, Units: h.quantity, Limit: h.limit})
}

// give returns what take took. Callers guard it with the line's status
// transition, so it runs once per hold.
func (c *Service) give(ctx context.Context, tx *ent.Tx, l *ent.CartLine) error {
	if _, err := tx.Stock.Update().Where(stock.VariantID(l.VariantID), stock.LocationID(l.LocationID)).
		AddAvailable(l.Quantity).Save(ctx); err != nil {
		return err
	}
	if err := inventory.MarkStockOut(ctx, tx, l.VariantID, l.LocationID, time.Now()); err != nil {
		return err
	}
	c.AfterCommit(tx, checkout.StockTopic(l.VariantID), checkout.CartTopic(l.CustomerID))
	if l.DropID == nil {
		return nil
	}
	c.AfterCommit(tx, checkout.DropTopic(*l.DropID))
	return c.drops.Unclaim(ctx, tx, drops.Claim{DropID: *l.DropID, CustomerID: l.CustomerID, Channel: l.Channel, Units: l.Quantity})
}

// Release moves a HELD line to status and returns its units; false if the
// line was no longer held (someone else released or sold it first).
func (c *Service) Release(ctx context.Context, tx *ent.Tx, l *ent.CartLine, status cartline.Status) (bool, error) {
	n, err := tx.CartLine.Update().Where(cartline.ID(l.ID), cartline.StatusEQ(cartline.StatusHELD)).
		SetStatus(status).Save(ctx)
	if err != nil || n == 0 {
		return false, err
	}
	if err := c.give(ctx, tx, l); err != nil {
		return false, err
	}
	if c.Places != nil {
		return true, c.Places.LineReleased(ctx, tx, l.CartID, status == cartline.StatusEXPIRED)
	}
	return true, nil
}

// Retake holds a line's units again (a payment that arrived after its hold
// expired); the line is SOLD on success.
func (c *Service) Retake(ctx context.Context, tx *ent.Tx, l *ent.CartLine) error {
	d := hold{variantID: l.VariantID, locationID: l.LocationID, customerID: l.CustomerID,
		dropID: l.DropID, channel: l.Channel, quantity: l.Quantity}
	if l.DropID != nil {
		dr, err := tx.Drop.Get(ctx, *l.DropID)
		if err != nil {
			return err
		}
		d.limit = dr.PerCustomerLimit
	}
	if err := c.take(ctx, tx, d); err != nil {
		return err
	}
	n, err := tx.CartLine.Update().Where(cartline.ID(l.ID), cartline.StatusEQ(l.Status)).SetStatus(cartline.StatusSOLD).Save(ctx)
	if err == nil && n == 0 {
		// Another transaction moved the line since it was read: the
		// caller's transaction rolls back, units and all.
		err = fmt.Errorf("cart line %d changed while it was taken again: %w", l.ID, checkout.ErrHoldExpired)
	}
	return err
}

// RemoveFromCart releases one of the viewer's lines and returns its cart.
func (c *Service) RemoveFromCart(ctx context.Context, lineID int, key string) (int, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return 0, err
	}
	return txn.Idempotent(ctx, c.db, "removeFromCart", key, lineID, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		l, err := tx.CartLine.Query().Where(cartline.ID(lineID), cartline.CustomerID(customerID)).Only(sys)
		if err != nil {
			return 0, checkout.NotFoundAs(err, "cart line")
		}
		switch {
		case l.OrderID != nil && l.Status == cartline.StatusHELD:
			return 0, checkout.BadInput("lineId", "the line is being paid for in an order")
		case l.Status == cartline.StatusSOLD:
			return 0, checkout.BadInput("lineId", "the line was sold")
		case l.Status == cartline.StatusHELD:
			if _, err := c.Release(sys, tx, l, cartline.StatusRELEASED); err != nil {
				return 0, err
			}
		case l.Status == cartline.StatusEXPIRED:
			// Acknowledge an expired hold: nothing to return, it leaves the
			// cart (if a payment took it again meanwhile, it stays SOLD).
			if _, err := tx.CartLine.Update().Where(cartline.ID(l.ID), cartline.StatusEQ(cartline.StatusEXPIRED)).
				SetStatus(cartline.StatusRELEASED).Save(sys); err != nil {
				return 0, err
			}
			c.AfterCommit(tx, checkout.CartTopic(customerID))
		}
		return l.CartID, nil
	})
}

// Cart returns the viewer's open cart (nil if none), after returning the
// units of any of its holds that expired — the check on access that backs
// up the sweeper.
func (c *Service) Cart(ctx context.Context) (*ent.Cart, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	k, err := c.db.Cart.Query().Where(cart.CustomerID(customerID), cart.StatusEQ(cart.StatusOPEN)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := c.expire(sys, cartline.CartID(k.ID), cartline.OrderIDIsNil()); err != nil {
		return nil, err
	}
	return c.db.Cart.Get(ctx, k.ID)
}

// expire marks held lines past their expiry EXPIRED and returns their
// units, in one transaction; it returns the lines it expired.
func (c *Service) expire(ctx context.Context, where ...predicate.CartLine) ([]*ent.CartLine, error) {
	now := c.now()
	ps := append([]predicate.CartLine{cartline.StatusEQ(cartline.StatusHELD), cartline.ExpiresAtLTE(now)}, where...)
	due, err := c.db.CartLine.Query().Where(ps...).Limit(200).All(ctx)
	if err != nil || len(due) == 0 {
		return nil, err
	}
	return txn.Do(ctx, c.db, "expire holds", func(tx *ent.Tx) ([]*ent.CartLine, error) {
		var done []*ent.CartLine
		for _, l := range due {
			ok, err := c.Release(ctx, tx, l, cartline.StatusEXPIRED)
			if err != nil {
				return nil, err
			}
			if ok {
				done = append(done, l)
			}
		}
		return done, nil
	})
}

// Exec runs a statement written with ? placeholders and returns the rows it
// affected.
func (c *Service) exec(ctx context.Context, tx *ent.Tx, query string, args ...any) (int64, error) {
	return txn.Exec(ctx, tx, c.dialect, query, args...)
}

// query runs a query written with ? placeholders inside tx.
func (c *Service) query(ctx context.Context, tx *ent.Tx, query string, args ...any) (*stdsql.Rows, error) {
	if c.dialect == dialect.Postgres {
		query = txn.ToDollar(query)
	}
	return tx.QueryContext(ctx, query, args...)
}
