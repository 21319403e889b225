package delivery

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // zones' cutoffs are in their own time zone, wherever the server runs

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/pickuppoint"
	"github.com/merchd/merchd/ent/pickupwindow"
	"github.com/merchd/merchd/ent/schema/types"
	"github.com/merchd/merchd/ent/viewer"
)

// Service configures delivery methods (staff), keeps customers' addresses
// and each cart's choice, and holds pickup window places with the cart's
// holds.
type Service struct {
	db         *ent.Client
	dialect    string
	currencies []string
	now        func() time.Time
	txn.Announcer
}

// New returns the delivery service; prices are in one of currencies (the
// shop's).
func New(db *ent.Client, dialectName string, currencies []string, now func() time.Time) *Service {
	return &Service{db: db, dialect: dialectName, currencies: currencies, now: now}
}

func (s *Service) exec(ctx context.Context, tx *ent.Tx, query string, args ...any) (int64, error) {
	return txn.Exec(ctx, tx, s.dialect, query, args...)
}

func (s *Service) checkPrice(field string, m checkout.Money) error {
	switch {
	case m.Amount < 0:
		return checkout.BadInput(field, "amount %d is negative", m.Amount)
	case m.Amount > checkout.MaxPrice:
		return checkout.BadInput(field, "amount %d is larger than %d", m.Amount, checkout.MaxPrice)
	case !slices.Contains(s.currencies, m.Currency):
		return checkout.BadInput(field, "currency %q is not one of this shop's (%s)", m.Currency, strings.Join(s.currencies, ", "))
	}
	return nil
}

var (
	codeRE = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)
	hhmmRE = regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d$`)
	days   = []string{"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"}
)

// PointKind is what a pickup point is.
type PointKind = pickuppoint.Kind

// PointInput creates or changes a pickup point; nil fields are left as
// they are on update.
type PointInput struct {
	// Code names the point's location (lower-case slug): an existing
	// location of the same kind (central, a hub) or a new one.
	Code         string
	Kind         PointKind
	Name         *string
	Address      *Address
	OpeningHours []types.OpeningHours
	Price        *checkout.Money
	Active       *bool
}

func validateHours(hs []types.OpeningHours) ([]types.OpeningHours, error) {
	if len(hs) > 21 {
		return nil, checkout.BadInput("openingHours", "at most 21 entries (three a day)")
	}
	out := make([]types.OpeningHours, len(hs))
	for i, h := range hs {
		h.Day = strings.ToUpper(strings.TrimSpace(h.Day))
		field := fmt.Sprintf("openingHours[%d]", i)
		switch {
		case !slices.Contains(days, h.Day):
			return nil, checkout.BadInput(field+".day", "%q is not one of %s", h.Day, strings.Join(days, ", "))
		case !hhmmRE.MatchString(h.Opens):
			return nil, checkout.BadInput(field+".opens", "%q is not a time like 09:30", h.Opens)
		case !hhmmRE.MatchString(h.Closes) && h.Closes != "24:00":
			return nil, checkout.BadInput(field+".closes", "%q is not a time like 18:00", h.Closes)
		case h.Closes <= h.Opens:
			return nil, checkout.BadInput(field+".closes", "must be after opens (%s)", h.Opens)
		}
		out[i] = h
	}
	return out, nil
}

func (s *Service) checkPoint(in *PointInput, create bool) error {
	if create {
		if !codeRE.MatchString(in.Code) || len(in.Code) > 64 {
			return checkout.BadInput("code", "must be a lower-case slug like venue-north (at most 64 characters)")
		}
		if pickuppoint.KindValidator(in.Kind) != nil {
			return checkout.BadInput("kind", "unknown kind %q", in.Kind)
		}
		if in.Name == nil || in.Address == nil {
			return checkout.BadInput("", "name and address are required")
		}
	}
	if in.Name != nil {
		n, err := text("name", *in.Name, 200, true)
		if err != nil {
			return err
		}
		in.Name = &n
	}
	if in.Address != nil {
		a, err := ValidateAddress("address", *in.Address)
		if err != nil {
			return err
		}
		in.Address = &a
	}
	if in.OpeningHours != nil {
		hs, err := validateHours(in.OpeningHours)
		if err != nil {
			return err
		}
		in.OpeningHours = hs
	}
	if in.Price != nil {
		return s.checkPrice("price", *in.Price)
	}
	return nil
}

// CreatePickupPoint adds a pickup point (staff). Its location is the one
// with the code if there is one of the same kind (central, a hub), or a
// new location of the point's kind.
func (s *Service) CreatePickupPoint(ctx context.Context, in PointInput, key string) (*ent.PickupPoint, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return nil, err
	}
	if err := s.checkPoint(&in, true); err != nil {
		return nil, err
	}
	price := checkout.Money{Currency: s.currencies[0]}
	if in.Price != nil {
		price = *in.Price
	}
	id, err := txn.Idempotent(ctx, s.db, "createPickupPoint", key, in, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		kind := location.Kind(in.Kind)
		if err := tx.Location.Create().SetCode(in.Code).SetName(*in.Name).SetKind(kind).
			OnConflictColumns(location.FieldCode).Ignore().Exec(sys); err != nil {
			return 0, err
		}
		loc, err := tx.Location.Query().Where(location.Code(in.Code)).Only(sys)
		if err != nil {
			return 0, err
		}
		if loc.Kind != kind {
			return 0, checkout.BadInput("kind", "location %s is a %s, not a %s", in.Code, loc.Kind, kind)
		}
		if ok, err := tx.PickupPoint.Query().Where(pickuppoint.LocationID(loc.ID)).Exist(sys); err != nil || ok {
			if err == nil {
				err = checkout.BadInput("code", "location %s is a pickup point already", in.Code)
			}
			return 0, err
		}
		c := tx.PickupPoint.Create().SetLocationID(loc.ID).SetKind(in.Kind).SetName(*in.Name).SetAddress(*in.Address).
			SetPriceAmount(price.Amount).SetCurrency(price.Currency)
		if in.OpeningHours != nil {
			c.SetOpeningHours(in.OpeningHours)
		}
		if in.Active != nil {
			c.SetActive(*in.Active)
		}
		p, err := c.Save(ctx)
		if err != nil {
			return 0, checkout.WrapWrite("create pickup point", err)
		}
		return p.ID, nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.PickupPoint.Get(ctx, id)
}

// UpdatePickupPoint changes a pickup point (staff). Places already held
// or sold keep the price they were chosen at.
func (s *Service) UpdatePickupPoint(ctx context.Context, id int, in PointInput, key string) (*ent.PickupPoint, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return nil, err
	}
	if err := s.checkPoint(&in, false); err != nil {
		return nil, err
	}
	req := struct {
		ID int
		In PointInput
	}{id, in}
	_, err := txn.Idempotent(ctx, s.db, "updatePickupPoint", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		u := tx.PickupPoint.UpdateOneID(id)
		if in.Name != nil {
			u.SetName(*in.Name)
		}
		if in.Address != nil {
			u.SetAddress(*in.Address)
		}
		if in.OpeningHours != nil {
			u.SetOpeningHours(in.OpeningHours)
		}
		if in.Price != nil {
			u.SetPriceAmount(in.Price.Amount).SetCurrency(in.Price.Currency)
		}
		if in.Active != nil {
			u.SetActive(*in.Active)
		}
		_, err := u.Save(ctx)
		return id, checkout.WrapWrite("update pickup point", err)
	})
	if err != nil {
		return nil, err
	}
	return s.db.PickupPoint.Get(ctx, id)
}

// WindowInput creates a pickup window or changes its capacity.
type WindowInput struct {
	PickupPointID    int
	StartsAt, EndsAt time.Time
	Capacity         int
}

// MaxWindowCapacity bounds a window: more is a typo.
const MaxWindowCapacity = 100_000

// CreatePickupWindow adds a window to a pickup point (staff).
func (s *Service) CreatePickupWindow(ctx context.Context, in WindowInput, key string) (*ent.PickupWindow, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	switch {
	case in.Capacity < 1 || in.Capacity > MaxWindowCapacity:
		return nil, checkout.BadInput("capacity", "must be between 1 and %d", MaxWindowCapacity)
	case !in.EndsAt.After(in.StartsAt):
		return nil, checkout.BadInput("endsAt", "must be after startsAt")
	case in.EndsAt.Sub(in.StartsAt) > 31*24*time.Hour:
		return nil, checkout.BadInput("endsAt", "a window lasts at most 31 days")
	}
	id, err := txn.Idempotent(ctx, s.db, "createPickupWindow", key, in, func(ctx context.Context, tx *ent.Tx) (int, error) {
		if _, err := tx.PickupPoint.Get(ctx, in.PickupPointID); err != nil {
			return 0, checkout.NotFoundAs(err, "pickup point")
		}
		w, err := tx.PickupWindow.Create().SetPickupPointID(in.PickupPointID).
			SetStartsAt(in.StartsAt.UTC()).SetEndsAt(in.EndsAt.UTC()).SetCapacity(in.Capacity).Save(ctx)
		if err != nil {
			return 0, checkout.WrapWrite("create pickup window", err)
		}
		return w.ID, nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.PickupWindow.Get(ctx, id)
}

// SetWindowCapacity changes how many places a window has (staff). It
// never goes below the places already held or sold: one conditional
// write, `SET capacity = ? WHERE taken <= ?`.
func (s *Service) SetWindowCapacity(ctx context.Context, id, capacity int, key string) (*ent.PickupWindow, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	if capacity < 1 || capacity > MaxWindowCapacity {
		return nil, checkout.BadInput("capacity", "must be between 1 and %d", MaxWindowCapacity)
	}
	req := struct{ ID, Capacity int }{id, capacity}
	_, err := txn.Idempotent(ctx, s.db, "updatePickupWindow", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		n, err := tx.PickupWindow.Update().Where(pickupwindow.ID(id), pickupwindow.TakenLTE(capacity)).
			SetCapacity(capacity).Save(ctx)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			w, err := tx.PickupWindow.Get(ctx, id)
			if err != nil {
				return 0, checkout.NotFoundAs(err, "pickup window")
			}
			return 0, checkout.BadInput("capacity", "%d places are held or sold already", w.Taken)
		}
		return id, nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.PickupWindow.Get(ctx, id)
}

// ZoneInput creates or changes a local delivery zone; nil fields are left
// as they are on update.
type ZoneInput struct {
	Name             *string
	Country          *string
	Postcodes        []string
	PostcodePrefixes []string
	CenterLat        *float64
	CenterLng        *float64
	RadiusKm         *float64
	SameDayCutoff    *string
	Timezone         *string
	Price            *checkout.Money
	Active           *bool
}

func cleanPostcodes(field string, ps []string) ([]string, error) {
	if len(ps) > 5000 {
		return nil, checkout.BadInput(field, "at most 5000 entries")
	}
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		n := NormalizePostcode(p)
		if n == "" || len(n) > 12 || strings.IndexFunc(n, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
		}) >= 0 {
			return nil, checkout.BadInput(field, "%q is not a postcode", p)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// checkZone validates in; for an update, z is the zone as it is, and the
// zone as it would be must still be one kind: postcodes or a radius.
func (s *Service) checkZone(in *ZoneInput, z *ent.DeliveryZone) error {
	if z == nil && (in.Name == nil || in.Country == nil || in.Price == nil) {
		return checkout.BadInput("", "name, country and price are required")
	}
	var err error
	if in.Name != nil {
		n, err := text("name", *in.Name, 200, true)
		if err != nil {
			return err
		}
		in.Name = &n
	}
	if in.Country != nil {
		c, err := ValidCountry("country", *in.Country)
		if err != nil {
			return err
		}
		in.Country = &c
	}
	if in.Postcodes != nil {
		if in.Postcodes, err = cleanPostcodes("postcodes", in.Postcodes); err != nil {
			return err
		}
	}
	if in.PostcodePrefixes != nil {
		if in.PostcodePrefixes, err = cleanPostcodes("postcodePrefixes", in.PostcodePrefixes); err != nil {
			return err
		}
	}
	if in.SameDayCutoff != nil && !hhmmRE.MatchString(*in.SameDayCutoff) {
		return checkout.BadInput("sameDayCutoff", "%q is not a time of day like 14:00", *in.SameDayCutoff)
	}
	if in.Timezone != nil {
		if _, err := time.LoadLocation(*in.Timezone); err != nil || *in.Timezone == "" || *in.Timezone == "Local" {
			return checkout.BadInput("timezone", "%q is not an IANA time zone like Europe/Berlin", *in.Timezone)
		}
	}
	if in.Price != nil {
		if err := s.checkPrice("price", *in.Price); err != nil {
			return err
		}
	}
	// The zone as it would be.
	var codes, prefixes []string
	var lat, lng, radius *float64
	if z != nil {
		codes, prefixes, lat, lng, radius = z.Postcodes, z.PostcodePrefixes, z.CenterLat, z.CenterLng, z.RadiusKm
	}
	if in.Postcodes != nil {
		codes = in.Postcodes
	}
	if in.PostcodePrefixes != nil {
		prefixes = in.PostcodePrefixes
	}
	if in.CenterLat != nil {
		lat = in.CenterLat
	}
	if in.CenterLng != nil {
		lng = in.CenterLng
	}
	if in.RadiusKm != nil {
		radius = in.RadiusKm
	}
	byPostcode := len(codes) > 0 || len(prefixes) > 0
	byRadius := lat != nil || lng != nil || radius != nil
	switch {
	case z != nil && z.RadiusKm != nil && (in.Postcodes != nil || in.PostcodePrefixes != nil):
		return checkout.BadInput("postcodes", "this zone is a radius; create a postcode zone instead")
	case z != nil && z.RadiusKm == nil && (in.CenterLat != nil || in.CenterLng != nil || in.RadiusKm != nil):
		return checkout.BadInput("radiusKm", "this zone is postcodes; create a radius zone instead")
	case byPostcode && byRadius:
		return checkout.BadInput("radiusKm", "a zone is postcodes or a radius, not both")
	case !byPostcode && !byRadius:
		return checkout.BadInput("postcodes", "give postcodes, postcodePrefixes, or centerLat, centerLng and radiusKm")
	case byRadius && (lat == nil || lng == nil || radius == nil):
		return checkout.BadInput("radiusKm", "a radius zone needs centerLat, centerLng and radiusKm")
	case byRadius && (math.IsNaN(*lat) || *lat < -90 || *lat > 90):
		return checkout.BadInput("centerLat", "must be between -90 and 90")
	case byRadius && (math.IsNaN(*lng) || *lng < -180 || *lng > 180):
		return checkout.BadInput("centerLng", "must be between -180 and 180")
	case byRadius && (math.IsNaN(*radius) || *radius <= 0 || *radius > 500):
		return checkout.BadInput("radiusKm", "must be more than 0 and at most 500")
	}
	return nil
}

// CreateDeliveryZone adds a local delivery zone (staff).
func (s *Service) CreateDeliveryZone(ctx context.Context, in ZoneInput, key string) (*ent.DeliveryZone, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return nil, err
	}
	if err := s.checkZone(&in, nil); err != nil {
		return nil, err
	}
	id, err := txn.Idempotent(ctx, s.db, "createDeliveryZone", key, in, func(ctx context.Context, tx *ent.Tx) (int, error) {
		c := tx.DeliveryZone.Create().SetName(*in.Name).SetCountry(*in.Country).
			SetPriceAmount(in.Price.Amount).SetCurrency(in.Price.Currency).
			SetNillableCenterLat(in.CenterLat).SetNillableCenterLng(in.CenterLng).SetNillableRadiusKm(in.RadiusKm).
			SetNillableSameDayCutoff(in.SameDayCutoff).SetNillableTimezone(in.Timezone).SetNillableActive(in.Active)
		if in.Postcodes != nil {
			c.SetPostcodes(in.Postcodes)
		}
		if in.PostcodePrefixes != nil {
			c.SetPostcodePrefixes(in.PostcodePrefixes)
		}
		z, err := c.Save(ctx)
		if err != nil {
			return 0, checkout.WrapWrite("create delivery zone", err)
		}
		return z.ID, nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.DeliveryZone.Get(ctx, id)
}

// UpdateDeliveryZone changes a zone (staff). Orders placed keep the price
// and same-day promise they were placed with.
func (s *Service) UpdateDeliveryZone(ctx context.Context, id int, in ZoneInput, key string) (*ent.DeliveryZone, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return nil, err
	}
	req := struct {
		ID int
		In ZoneInput
	}{id, in}
	_, err := txn.Idempotent(ctx, s.db, "updateDeliveryZone", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		// A zone keeps its kind (postcodes or radius) for life, so two
		// concurrent updates, each judged on the zone as it read it, can
		// never make it both or neither.
		z, err := tx.DeliveryZone.Get(ctx, id)
		if err != nil {
			return 0, checkout.NotFoundAs(err, "delivery zone")
		}
		if err := s.checkZone(&in, z); err != nil {
			return 0, err
		}
		u := tx.DeliveryZone.UpdateOneID(id).
			SetNillableName(in.Name).SetNillableCountry(in.Country).
			SetNillableCenterLat(in.CenterLat).SetNillableCenterLng(in.CenterLng).SetNillableRadiusKm(in.RadiusKm).
			SetNillableSameDayCutoff(in.SameDayCutoff).SetNillableTimezone(in.Timezone).SetNillableActive(in.Active).
			SetUpdatedAt(s.now())
		if in.Postcodes != nil {
			u.SetPostcodes(in.Postcodes)
		}
		if in.PostcodePrefixes != nil {
			u.SetPostcodePrefixes(in.PostcodePrefixes)
		}
		if in.Price != nil {
			u.SetPriceAmount(in.Price.Amount).SetCurrency(in.Price.Currency)
		}
		_, err = u.Save(ctx)
		return id, checkout.WrapWrite("update delivery zone", err)
	})
	if err != nil {
		return nil, err
	}
	return s.db.DeliveryZone.Get(ctx, id)
}

// RateInput creates or changes a shipping rate; nil fields are left as
// they are on update. A rate without band (both nil) is flat.
type RateInput struct {
	Name      *string
	Country   *string
	MinGrams  *int
	MaxGrams  *int
	ClearBand bool
	Price     *checkout.Money
	Active    *bool
}

func (s *Service) checkRate(in *RateInput, r *ent.ShippingRate) error {
	if r == nil && (in.Name == nil || in.Country == nil || in.Price == nil) {
		return checkout.BadInput("", "name, country and price are required")
	}
	if in.Name != nil {
		n, err := text("name", *in.Name, 200, true)
		if err != nil {
			return err
		}
		in.Name = &n
	}
	if in.Country != nil {
		c, err := ValidCountry("country", *in.Country)
		if err != nil {
			return err
		}
		in.Country = &c
	}
	const maxGrams = 1_000_000_000
	if in.MinGrams != nil && (*in.MinGrams < 0 || *in.MinGrams > maxGrams) {
		return checkout.BadInput("minGrams", "must be between 0 and %d", maxGrams)
	}
	if in.MaxGrams != nil && (*in.MaxGrams < 0 || *in.MaxGrams > maxGrams) {
		return checkout.BadInput("maxGrams", "must be between 0 and %d", maxGrams)
	}
	lo, hi := in.MinGrams, in.MaxGrams
	if r != nil && !in.ClearBand {
		if lo == nil {
			lo = r.MinGrams
		}
		if hi == nil {
			hi = r.MaxGrams
		}
	}
	if lo != nil && hi != nil && *lo > *hi {
		return checkout.BadInput("maxGrams", "is below minGrams (%d)", *lo)
	}
	if in.Price != nil {
		return s.checkPrice("price", *in.Price)
	}
	return nil
}

// CreateShippingRate adds a shipping rate (staff).
func (s *Service) CreateShippingRate(ctx context.Context, in RateInput, key string) (*ent.ShippingRate, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return nil, err
	}
	if err := s.checkRate(&in, nil); err != nil {
		return nil, err
	}
	id, err := txn.Idempotent(ctx, s.db, "createShippingRate", key, in, func(ctx context.Context, tx *ent.Tx) (int, error) {
		r, err := tx.ShippingRate.Create().SetName(*in.Name).SetCountry(*in.Country).
			SetNillableMinGrams(in.MinGrams).SetNillableMaxGrams(in.MaxGrams).
			SetPriceAmount(in.Price.Amount).SetCurrency(in.Price.Currency).SetNillableActive(in.Active).Save(ctx)
		if err != nil {
			return 0, checkout.WrapWrite("create shipping rate", err)
		}
		return r.ID, nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.ShippingRate.Get(ctx, id)
}

// UpdateShippingRate changes a rate (staff).
func (s *Service) UpdateShippingRate(ctx context.Context, id int, in RateInput, key string) (*ent.ShippingRate, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return nil, err
	}
	req := struct {
		ID int
		In RateInput
	}{id, in}
	_, err := txn.Idempotent(ctx, s.db, "updateShippingRate", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		r, err := tx.ShippingRate.Get(ctx, id)
		if err != nil {
			return 0, checkout.NotFoundAs(err, "shipping rate")
		}
		if err := s.checkRate(&in, r); err != nil {
			return 0, err
		}
		u := tx.ShippingRate.UpdateOneID(id).
			SetNillableName(in.Name).SetNillableCountry(in.Country).SetNillableActive(in.Active).SetUpdatedAt(s.now())
		if in.ClearBand {
			u.ClearMinGrams().ClearMaxGrams()
		}
		u.SetNillableMinGrams(in.MinGrams).SetNillableMaxGrams(in.MaxGrams)
		if in.Price != nil {
			u.SetPriceAmount(in.Price.Amount).SetCurrency(in.Price.Currency)
		}
		// The band's CHECK (min <= max) refuses what two concurrent
		// updates would make of it together.
		_, err = u.Save(ctx)
		return id, checkout.WrapWrite("update shipping rate", err)
	})
	if err != nil {
		return nil, err
	}
	return s.db.ShippingRate.Get(ctx, id)
}
