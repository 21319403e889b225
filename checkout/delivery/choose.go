package delivery

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cart"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/deliverychoice"
	"github.com/merchd/merchd/ent/deliveryzone"
	"github.com/merchd/merchd/ent/pickuppoint"
	"github.com/merchd/merchd/ent/pickupwindow"
	"github.com/merchd/merchd/ent/predicate"
	"github.com/merchd/merchd/ent/shippingrate"
	"github.com/merchd/merchd/ent/viewer"
)

// Method is how an order reaches its buyer.
type Method = deliverychoice.Method

// Methods.
const (
	Pickup        = deliverychoice.MethodPICKUP
	LocalDelivery = deliverychoice.MethodLOCAL_DELIVERY
	Shipping      = deliverychoice.MethodSHIPPING
)

// Option is one way the viewer's cart can reach them, with its price.
type Option struct {
	Method Method
	Price  checkout.Money
	// PICKUP: the point, the window and how many places it has left.
	Point      *ent.PickupPoint
	Window     *ent.PickupWindow
	PlacesLeft int
	// LOCAL_DELIVERY: the zone, and whether an order placed now arrives today.
	Zone    *ent.DeliveryZone
	SameDay bool
	// SHIPPING: the rate.
	Rate *ent.ShippingRate
}

// cartState is what the options depend on: the cart's currency and the
// weight of what it holds.
type cartState struct {
	id       int
	currency string
	grams    int
	held     int // lines held and not expired
}

// stateOf reads a cart's currency and what it holds (in tx, if any).
func (s *Service) stateOf(ctx context.Context, db *ent.Client, k *ent.Cart, now time.Time) (cartState, error) {
	st := cartState{id: k.ID, currency: k.Currency}
	lines, err := db.CartLine.Query().
		Where(cartline.CartID(k.ID), cartline.StatusEQ(cartline.StatusHELD), cartline.ExpiresAtGT(now)).
		WithVariant().All(ctx)
	if err != nil {
		return st, err
	}
	for _, l := range lines {
		st.held++
		if l.Edges.Variant != nil {
			st.grams += l.Quantity * l.Edges.Variant.WeightGrams
		}
	}
	return st, nil
}

// placesLeft: a window with a place neither held nor sold.
var placesLeft = predicate.PickupWindow(func(s *sql.Selector) {
	s.Where(sql.ColumnsLT(s.C(pickupwindow.FieldTaken), s.C(pickupwindow.FieldCapacity)))
})

// AddressRef is an address for delivery: a saved one (by id) or one
// typed at checkout. Neither: options for pickup only.
type AddressRef struct {
	ID      *int
	Address *Address
}

// resolve returns the address the viewer means, validated; a saved
// address is read as the viewer, so another customer's is not found.
func (s *Service) resolve(ctx context.Context, ref AddressRef) (*Address, error) {
	switch {
	case ref.ID != nil && ref.Address != nil:
		return nil, checkout.BadInput("addressId", "give addressId or address, not both")
	case ref.ID != nil:
		a, err := s.db.CustomerAddress.Get(ctx, *ref.ID)
		if err != nil {
			if ent.IsNotFound(err) {
				return nil, checkout.BadInput("addressId", "no saved address with this id")
			}
			return nil, err
		}
		return &a.Address, nil
	case ref.Address != nil:
		a, err := ValidateAddress("address", *ref.Address)
		if err != nil {
			return nil, err
		}
		return &a, nil
	}
	return nil, nil
}

// Options lists what applies to the viewer's open cart: pickup windows
// with places left, the local delivery zones that cover the address (with
// same-day availability by their cutoff), and the shipping rates of the
// address's country for the cart's weight. Without an address, pickup
// only. Cheapest first within each method.
func (s *Service) Options(ctx context.Context, ref AddressRef) ([]Option, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return nil, err
	}
	addr, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	now := s.now()
	st := cartState{currency: s.currencies[0]}
	k, err := s.db.Cart.Query().Where(cart.CustomerID(customerID), cart.StatusEQ(cart.StatusOPEN)).Only(sys)
	switch {
	case err == nil:
		if st, err = s.stateOf(sys, s.db, k, now); err != nil {
			return nil, err
		}
	case !ent.IsNotFound(err):
		return nil, err
	}
	var out []Option
	windows, err := s.db.PickupWindow.Query().
		Where(pickupwindow.EndsAtGT(now), placesLeft,
			pickupwindow.HasPickupPointWith(pickuppoint.Active(true), pickuppoint.Currency(st.currency))).
		WithPickupPoint().Order(ent.Asc(pickupwindow.FieldStartsAt), ent.Asc(pickupwindow.FieldID)).Limit(200).All(sys)
	if err != nil {
		return nil, err
	}
	for _, w := range windows {
		p := w.Edges.PickupPoint
		out = append(out, Option{Method: Pickup, Price: checkout.Money{Amount: p.PriceAmount, Currency: p.Currency},
			Point: p, Window: w, PlacesLeft: w.Capacity - w.Taken})
	}
	if addr == nil {
		return out, nil
	}
	zones, err := s.zonesFor(sys, s.db, addr, st.currency)
	if err != nil {
		return nil, err
	}
	for _, z := range zones {
		out = append(out, Option{Method: LocalDelivery, Price: checkout.Money{Amount: z.PriceAmount, Currency: z.Currency},
			Zone: z, SameDay: sameDay(z, now)})
	}
	rates, err := s.ratesFor(sys, s.db, addr.Country, st.grams, st.currency)
	if err != nil {
		return nil, err
	}
	for _, r := range rates {
		out = append(out, Option{Method: Shipping, Price: checkout.Money{Amount: r.PriceAmount, Currency: r.Currency}, Rate: r})
	}
	return out, nil
}

// zonesFor lists the active zones in currency that cover a, cheapest first.
func (s *Service) zonesFor(ctx context.Context, db *ent.Client, a *Address, currency string) ([]*ent.DeliveryZone, error) {
	zs, err := db.DeliveryZone.Query().
		Where(deliveryzone.Active(true), deliveryzone.Country(a.Country), deliveryzone.Currency(currency)).
		Order(ent.Asc(deliveryzone.FieldPriceAmount), ent.Asc(deliveryzone.FieldID)).All(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(zs, func(z *ent.DeliveryZone) bool { return !ZoneCovers(z, a) }), nil
}

// ratesFor lists the active rates of country in currency whose band holds
// grams, cheapest first.
func (s *Service) ratesFor(ctx context.Context, db *ent.Client, country string, grams int, currency string) ([]*ent.ShippingRate, error) {
	rs, err := db.ShippingRate.Query().
		Where(shippingrate.Active(true), shippingrate.Country(country), shippingrate.Currency(currency)).
		Order(ent.Asc(shippingrate.FieldPriceAmount), ent.Asc(shippingrate.FieldID)).All(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(rs, func(r *ent.ShippingRate) bool { return !RateFits(r, grams) }), nil
}

// ZoneCovers reports whether zone z delivers to a: its country, and a
// postcode on its list (or starting with one of its prefixes), or a point
// within its radius.
func ZoneCovers(z *ent.DeliveryZone, a *Address) bool {
	if z.Country != a.Country {
		return false
	}
	if z.RadiusKm != nil {
		return a.Lat != nil && a.Lng != nil && z.CenterLat != nil && z.CenterLng != nil &&
			DistanceKm(*z.CenterLat, *z.CenterLng, *a.Lat, *a.Lng) <= *z.RadiusKm
	}
	pc := NormalizePostcode(a.Postcode)
	if pc == "" {
		return false
	}
	if _, found := slices.BinarySearch(z.Postcodes, pc); found || slices.Contains(z.Postcodes, pc) {
		return true
	}
	return slices.ContainsFunc(z.PostcodePrefixes, func(p string) bool { return strings.HasPrefix(pc, p) })
}

// RateFits reports whether a cart of grams ships at rate r.
func RateFits(r *ent.ShippingRate, grams int) bool {
	return (r.MinGrams == nil || grams >= *r.MinGrams) && (r.MaxGrams == nil || grams <= *r.MaxGrams)
}

// sameDay reports whether an order placed at now is before the zone's
// cutoff, in the zone's time zone.
func sameDay(z *ent.DeliveryZone, now time.Time) bool {
	loc, err := time.LoadLocation(z.Timezone)
	if err != nil {
		loc = time.UTC
	}
	return now.In(loc).Format("15:04") < z.SameDayCutoff
}

// ChooseInput is the customer's pick for their cart.
type ChooseInput struct {
	CartID   *int // nil: the viewer's open cart
	Method   Method
	WindowID *int // PICKUP
	ZoneID   *int // LOCAL_DELIVERY: nil picks the cheapest zone covering the address
	RateID   *int // SHIPPING: nil picks the cheapest rate that fits
	Address  AddressRef
	Contact  *Contact
}

// picked is a validated choice with its price, before it is written.
type picked struct {
	method   Method
	price    checkout.Money
	label    string
	point    *ent.PickupPoint
	window   *ent.PickupWindow
	zone     *ent.DeliveryZone
	rate     *ent.ShippingRate
	address  *Address
	sameDay  bool
	location *int
}

// pick judges a choice against the configuration as it is now, in db
// (the caller's transaction): what it costs, or why it does not apply.
// With follow (checkout, and the cart's price), a shipping rate whose
// weight band the cart left is followed to the rate of the same name that
// fits (the same service, the next band), else the cheapest that fits.
func (s *Service) pick(ctx context.Context, db *ent.Client, st cartState, method Method, windowID, zoneID, rateID *int, addr *Address, now time.Time, follow bool) (picked, error) {
	p := picked{method: method, address: addr}
	switch method {
	case Pickup:
		if windowID == nil {
			return p, checkout.BadInput("pickupWindowId", "choose a pickup window")
		}
		w, err := db.PickupWindow.Query().Where(pickupwindow.ID(*windowID)).WithPickupPoint().Only(ctx)
		if ent.IsNotFound(err) {
			return p, checkout.BadInput("pickupWindowId", "no such pickup window")
		}
		if err != nil {
			return p, err
		}
		pt := w.Edges.PickupPoint
		switch {
		case !pt.Active:
			return p, checkout.BadInput("pickupWindowId", "%s takes no pickups now; choose another point", pt.Name)
		case !w.EndsAt.After(now):
			return p, checkout.BadInput("pickupWindowId", "this pickup window ended at %s; choose another", w.EndsAt.UTC().Format(time.RFC3339))
		case pt.Currency != st.currency:
			return p, checkout.BadInput("pickupWindowId", "%s prices pickup in %s, the cart is in %s", pt.Name, pt.Currency, st.currency)
		}
		p.point, p.window, p.label, p.location = pt, w, pt.Name, &pt.LocationID
		p.price = checkout.Money{Amount: pt.PriceAmount, Currency: pt.Currency}
		p.address = nil
	case LocalDelivery:
		if addr == nil {
			return p, checkout.BadInput("address", "give addressId or address for local delivery")
		}
		zones, err := s.zonesFor(ctx, db, addr, st.currency)
		if err != nil {
			return p, err
		}
		if zoneID != nil {
			zones = slices.DeleteFunc(zones, func(z *ent.DeliveryZone) bool { return z.ID != *zoneID })
		}
		if len(zones) == 0 {
			if zoneID != nil {
				return p, checkout.BadInput("zoneId", "this zone does not deliver to %s %s", addr.Postcode, addr.Country)
			}
			return p, checkout.BadInput("address", "no local delivery reaches %s %s; choose pickup or shipping", addr.Postcode, addr.Country)
		}
		z := zones[0]
		p.zone, p.label, p.sameDay = z, z.Name, sameDay(z, now)
		p.price = checkout.Money{Amount: z.PriceAmount, Currency: z.Currency}
	case Shipping:
		if addr == nil {
			return p, checkout.BadInput("address", "give addressId or address for shipping")
		}
		rates, err := s.ratesFor(ctx, db, addr.Country, st.grams, st.currency)
		if err != nil {
			return p, err
		}
		if rateID != nil {
			chosen := slices.DeleteFunc(slices.Clone(rates), func(r *ent.ShippingRate) bool { return r.ID != *rateID })
			if len(chosen) == 0 && follow && len(rates) > 0 {
				prev, err := db.ShippingRate.Get(ctx, *rateID)
				if err != nil && !ent.IsNotFound(err) {
					return p, err
				}
				if prev != nil {
					chosen = slices.DeleteFunc(slices.Clone(rates), func(r *ent.ShippingRate) bool { return r.Name != prev.Name })
				}
				if len(chosen) == 0 {
					chosen = rates
				}
			}
			rates = chosen
		}
		if len(rates) == 0 {
			if rateID != nil {
				return p, checkout.BadInput("rateId", "this rate does not ship %d g to %s", st.grams, addr.Country)
			}
			return p, checkout.BadInput("address", "no shipping rate takes %d g to %s", st.grams, addr.Country)
		}
		r := rates[0]
		p.rate, p.label = r, r.Name
		p.price = checkout.Money{Amount: r.PriceAmount, Currency: r.Currency}
	default:
		return p, checkout.BadInput("method", "unknown delivery method %q", method)
	}
	return p, nil
}

// Choose sets how the viewer's cart reaches them, replacing any earlier
// choice. A pickup takes a place in its window now — WINDOW_FULL if none
// is left — held with the cart's holds and given back with them (or when
// another choice replaces it). The price is decided here, from staff's
// configuration. It returns the choice's id.
func (s *Service) Choose(ctx context.Context, in ChooseInput, key string) (int, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return 0, err
	}
	if deliverychoice.MethodValidator(in.Method) != nil {
		return 0, checkout.BadInput("method", "unknown delivery method %q", in.Method)
	}
	addr, err := s.resolve(ctx, in.Address)
	if err != nil {
		return 0, err
	}
	switch {
	case in.Method == Pickup && addr != nil:
		return 0, checkout.BadInput("address", "a pickup needs no address")
	case in.Method != Pickup && in.WindowID != nil:
		return 0, checkout.BadInput("pickupWindowId", "is for PICKUP only")
	case in.Method != LocalDelivery && in.ZoneID != nil:
		return 0, checkout.BadInput("zoneId", "is for LOCAL_DELIVERY only")
	case in.Method != Shipping && in.RateID != nil:
		return 0, checkout.BadInput("rateId", "is for SHIPPING only")
	}
	sys := viewer.SystemContext(ctx)
	contact := Contact{}
	if in.Contact != nil {
		if contact, err = ValidateContact("contact", *in.Contact); err != nil {
			return 0, err
		}
	}
	if contact.Name == "" || contact.Email == "" {
		c, err := s.db.Customer.Query().Where(customer.ID(customerID)).Only(sys)
		if err != nil {
			return 0, err
		}
		contact.Name = cmp.Or(contact.Name, c.Name, addrName(addr))
		contact.Email = cmp.Or(contact.Email, c.Email)
	}
	if contact.Phone == "" && addr != nil {
		contact.Phone = addr.Phone
	}
	req := struct {
		In      ChooseInput
		Address *Address
	}{in, addr}
	return txn.Idempotent(ctx, s.db, "setDeliveryMethod", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		now := s.now()
		k, err := s.lockCart(sys, tx, customerID, in.CartID)
		if err != nil {
			return 0, err
		}
		st, err := s.stateOf(sys, tx.Client(), k, now)
		if err != nil {
			return 0, err
		}
		if st.held == 0 {
			return 0, checkout.BadInput("cartId", "the cart holds nothing yet: add items, then choose how to receive them")
		}
		p, err := s.pick(sys, tx.Client(), st, in.Method, in.WindowID, in.ZoneID, in.RateID, addr, now, false)
		if err != nil {
			return 0, err
		}
		old, err := tx.DeliveryChoice.Query().Where(deliverychoice.CartID(k.ID)).Only(sys)
		if err != nil && !ent.IsNotFound(err) {
			return 0, err
		}
		// The cart's row lock (lockCart) orders this customer's choices;
		// the choice row is written before any window's counter, as every
		// path that moves a place does (choice, then window), so two
		// transactions never wait on each other in a cycle.
		keep := old != nil && old.Place == deliverychoice.PlaceHELD && p.window != nil && old.WindowID != nil && *old.WindowID == p.window.ID
		var give, take *int
		if old != nil && old.Place == deliverychoice.PlaceHELD && !keep {
			n, err := tx.DeliveryChoice.Update().Where(deliverychoice.ID(old.ID), deliverychoice.PlaceEQ(deliverychoice.PlaceHELD)).
				SetPlace(deliverychoice.PlaceRELEASED).Save(sys)
			if err != nil {
				return 0, err
			}
			if n == 1 {
				give = old.WindowID
			}
		}
		place := deliverychoice.PlaceNONE
		if p.window != nil {
			place = deliverychoice.PlaceHELD
			if !keep {
				take = &p.window.ID
			}
		}
		id, err := s.writeChoice(sys, tx, old, k, customerID, p, contact, place)
		if err != nil {
			return 0, err
		}
		if err := s.moveWindows(sys, tx, give, take, now); err != nil {
			return 0, err
		}
		s.AfterCommit(tx, checkout.CartTopic(customerID))
		return id, nil
	})
}

func addrName(a *Address) string {
	if a == nil {
		return ""
	}
	return a.Name
}

// lockCart takes the row lock of the viewer's open cart (the one named, or
// their only one) and returns it.
func (s *Service) lockCart(ctx context.Context, tx *ent.Tx, customerID int, cartID *int) (*ent.Cart, error) {
	q := tx.Cart.Query().Where(cart.CustomerID(customerID))
	if cartID != nil {
		q.Where(cart.ID(*cartID))
	} else {
		q.Where(cart.StatusEQ(cart.StatusOPEN))
	}
	k, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		if cartID != nil {
			return nil, fmt.Errorf("cart %d: %w", *cartID, checkout.ErrNotFound)
		}
		return nil, checkout.BadInput("cartId", "you have no open cart: add items first")
	}
	if err != nil {
		return nil, err
	}
	n, err := s.exec(ctx, tx, `UPDATE carts SET updated_at = ? WHERE id = ? AND status = 'OPEN'`, s.now().UTC(), k.ID)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("cart %d: %w", k.ID, checkout.ErrCartCheckedOut)
	}
	return k, nil
}

// writeChoice creates or rewrites the cart's choice row.
func (s *Service) writeChoice(ctx context.Context, tx *ent.Tx, old *ent.DeliveryChoice, k *ent.Cart, customerID int, p picked, contact Contact, place deliverychoice.Place) (int, error) {
	var windowID, zoneID, rateID, pointID *int
	var startsAt, endsAt *time.Time
	if p.window != nil {
		windowID, startsAt, endsAt = &p.window.ID, &p.window.StartsAt, &p.window.EndsAt
		pointID = &p.point.ID
	}
	if p.zone != nil {
		zoneID = &p.zone.ID
	}
	if p.rate != nil {
		rateID = &p.rate.ID
	}
	if old == nil {
		c := tx.DeliveryChoice.Create().SetCartID(k.ID).SetCustomerID(customerID).SetMethod(p.method).
			SetNillablePickupPointID(pointID).SetNillableLocationID(p.location).SetNillableWindowID(windowID).
			SetNillableZoneID(zoneID).SetNillableRateID(rateID).SetLabel(p.label).
			SetNillableWindowStartsAt(startsAt).SetNillableWindowEndsAt(endsAt).
			SetContact(contact).SetSameDay(p.sameDay).SetPlace(place).
			SetPriceAmount(p.price.Amount).SetCurrency(p.price.Currency)
		if p.address != nil {
			c.SetAddress(p.address)
		}
		ch, err := c.Save(ctx)
		if err != nil {
			return 0, err
		}
		return ch.ID, nil
	}
	u := tx.DeliveryChoice.Update().Where(deliverychoice.ID(old.ID), deliverychoice.OrderIDIsNil()).
		SetMethod(p.method).SetLabel(p.label).SetContact(contact).SetSameDay(p.sameDay).SetPlace(place).
		SetPriceAmount(p.price.Amount).SetCurrency(p.price.Currency).SetUpdatedAt(s.now())
	// Each column once: set, or cleared (PostgreSQL refuses both).
	if pointID != nil {
		u.SetPickupPointID(*pointID)
	} else {
		u.ClearPickupPointID()
	}
	if p.location != nil {
		u.SetLocationID(*p.location)
	} else {
		u.ClearLocationID()
	}
	if windowID != nil {
		u.SetWindowID(*windowID).SetWindowStartsAt(*startsAt).SetWindowEndsAt(*endsAt)
	} else {
		u.ClearWindowID().ClearWindowStartsAt().ClearWindowEndsAt()
	}
	if zoneID != nil {
		u.SetZoneID(*zoneID)
	} else {
		u.ClearZoneID()
	}
	if rateID != nil {
		u.SetRateID(*rateID)
	} else {
		u.ClearRateID()
	}
	if p.address != nil {
		u.SetAddress(p.address)
	} else {
		u.ClearAddress()
	}
	n, err := u.Save(ctx)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("cart %d: %w", k.ID, checkout.ErrCartCheckedOut)
	}
	return old.ID, nil
}

// moveWindows gives back a place in window give and takes one in window
// take (either may be nil), lower window id first, so that two customers
// swapping windows at once never wait on each other in a cycle.
func (s *Service) moveWindows(ctx context.Context, tx *ent.Tx, give, take *int, now time.Time) error {
	if give != nil && take != nil && *give == *take {
		return nil
	}
	doGive := func() error {
		if give == nil {
			return nil
		}
		return s.givePlace(ctx, tx, *give)
	}
	doTake := func() error {
		if take == nil {
			return nil
		}
		ok, err := s.takePlace(ctx, tx, *take, &now)
		if err == nil && !ok {
			err = fmt.Errorf("window %d: %w", *take, checkout.ErrWindowFull)
		}
		return err
	}
	if give != nil && take != nil && *take < *give {
		if err := doTake(); err != nil {
			return err
		}
		return doGive()
	}
	if err := doGive(); err != nil {
		return err
	}
	return doTake()
}

// takePlace takes one place in a window with one conditional write, and
// reports false (changing nothing) when none is left — or, with open set,
// when the window has ended by then.
func (s *Service) takePlace(ctx context.Context, tx *ent.Tx, windowID int, open *time.Time) (bool, error) {
	q := `UPDATE pickup_windows SET taken = taken + 1 WHERE id = ? AND taken < capacity`
	args := []any{windowID}
	if open != nil {
		q += ` AND ends_at > ?`
		args = append(args, open.UTC())
	}
	n, err := s.exec(ctx, tx, q, args...)
	return n == 1, err
}

// givePlace returns one place to a window, never below zero. Callers
// guard it with the choice's HELD → … transition, so it runs once per
// place.
func (s *Service) givePlace(ctx context.Context, tx *ent.Tx, windowID int) error {
	_, err := s.exec(ctx, tx, `UPDATE pickup_windows SET taken = taken - 1 WHERE id = ? AND taken > 0`, windowID)
	return err
}

// CartChoice is the choice of the viewer's cart (nil: none yet).
func (s *Service) CartChoice(ctx context.Context, cartID int) (*ent.DeliveryChoice, error) {
	c, err := s.db.DeliveryChoice.Query().Where(deliverychoice.CartID(cartID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return c, err
}

// OrderChoice is the choice an order was placed with (nil: none).
func (s *Service) OrderChoice(ctx context.Context, orderID int) (*ent.DeliveryChoice, error) {
	c, err := s.db.DeliveryChoice.Query().Where(deliverychoice.OrderID(orderID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return c, err
}

// Price is what a choice costs: on an order, what was charged; on a cart,
// what checkout would charge now (a shipping rate by weight follows the
// cart), or the price it was chosen at if it no longer applies.
func (s *Service) Price(ctx context.Context, c *ent.DeliveryChoice) (checkout.Money, error) {
	stored := checkout.Money{Amount: c.PriceAmount, Currency: c.Currency}
	if c.OrderID != nil {
		return stored, nil
	}
	sys := viewer.SystemContext(ctx)
	now := s.now()
	k, err := s.db.Cart.Get(sys, c.CartID)
	if err != nil {
		return stored, err
	}
	st, err := s.stateOf(sys, s.db, k, now)
	if err != nil {
		return stored, err
	}
	p, err := s.pick(sys, s.db, st, c.Method, c.WindowID, c.ZoneID, c.RateID, c.Address, now, true)
	if err != nil {
		if _, refused := checkout.CodeOf(err); refused {
			return stored, nil
		}
		return stored, err
	}
	return p.price, nil
}
