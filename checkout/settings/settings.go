// Package settings keeps the shop's own settings an owner edits in the
// console — its name, logo, brand colour and the currency it shows — in
// one database row, with the flags (--shop-name, --logo-url,
// --brand-color, --currency) as defaults. Every replica caches the row;
// a change invalidates the cache at once on the replica that made it and,
// through the change notifications (PostgreSQL LISTEN/NOTIFY), on every
// other one; a short TTL bounds staleness should a notification be lost.
package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/setting"
	"github.com/merchd/merchd/ent/viewer"
)

// Topic is the change notification a settings write sends.
const Topic = "settings:shop"

// key is the settings row's key in the settings table.
const key = "shop"

// TTL bounds how long a replica shows a value another replica replaced
// when that replica's notification never arrived.
const TTL = 30 * time.Second

// Shop is the shop's look and name.
type Shop struct {
	Name       string    `json:"name,omitempty"`
	LogoURL    string    `json:"logoUrl,omitempty"`
	BrandColor string    `json:"brandColor,omitempty"`
	Currency   string    `json:"currency,omitempty"`
	UpdatedAt  time.Time `json:"updatedAt,omitzero"`
	// UpdatedBy is the staff member who made the last change (0: never changed).
	UpdatedBy int `json:"updatedBy,omitempty"`
}

// Patch is a change: nil fields keep their value; an empty LogoURL or
// BrandColor goes back to the default.
type Patch struct {
	Name, LogoURL, BrandColor, Currency *string
}

// Service reads and changes the settings.
type Service struct {
	db       *ent.Client
	defaults Shop
	now      func() time.Time
	notifier checkout.Notifier
	cache    atomic.Pointer[cached]
}

type cached struct {
	shop Shop
	at   time.Time
}

// New returns the settings of db, with defaults where the owner set
// nothing (the flags; Validate them first).
func New(db *ent.Client, defaults Shop, now func() time.Time) *Service {
	if defaults.Name == "" {
		defaults.Name = "merchd"
	}
	return &Service{db: db, defaults: defaults, now: now}
}

// SetNotifier makes writes announce themselves (Topic) to every replica.
func (s *Service) SetNotifier(n checkout.Notifier) { s.notifier = n }

// Invalidate drops the cached value: the next Get reads the database.
// Call it when Topic (or "*") is notified.
func (s *Service) Invalidate() { s.cache.Store(nil) }

// Hear drops the cache when topics name the settings (or "*", all):
// hand it to the broker, which hears every replica's notifications.
func (s *Service) Hear(topics []string) {
	for _, t := range topics {
		if t == Topic || t == "*" {
			s.Invalidate()
			return
		}
	}
}

// Defaults are the values from the flags.
func (s *Service) Defaults() Shop { return s.defaults }

// Get returns the settings in force: the owner's over the defaults.
// Served from the cache (at most TTL old); on a database error it keeps
// serving the last value it read, or the defaults.
func (s *Service) Get(ctx context.Context) Shop {
	if c := s.cache.Load(); c != nil && s.now().Sub(c.at) < TTL {
		return c.shop
	}
	stored, _, err := s.read(ctx)
	if err != nil {
		if c := s.cache.Load(); c != nil {
			return c.shop
		}
		return s.defaults
	}
	out := s.merge(stored)
	s.cache.Store(&cached{shop: out, at: s.now()})
	return out
}

// merge lays the stored values over the defaults.
func (s *Service) merge(stored Shop) Shop {
	out := s.defaults
	if stored.Name != "" {
		out.Name = stored.Name
	}
	if stored.LogoURL != "" {
		out.LogoURL = stored.LogoURL
	}
	if stored.BrandColor != "" {
		out.BrandColor = stored.BrandColor
	}
	if stored.Currency != "" {
		out.Currency = stored.Currency
	}
	out.UpdatedAt, out.UpdatedBy = stored.UpdatedAt, stored.UpdatedBy
	return out
}

// read returns the stored row (zero when none) and its raw value.
func (s *Service) read(ctx context.Context) (Shop, []byte, error) {
	st, err := s.db.Setting.Query().Where(setting.Key(key)).Only(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return Shop{}, nil, nil
	}
	if err != nil {
		return Shop{}, nil, fmt.Errorf("settings: read: %w", err)
	}
	var out Shop
	if err := json.Unmarshal(st.Value, &out); err != nil {
		return Shop{}, nil, fmt.Errorf("settings: stored value: %w", err)
	}
	return out, st.Value, nil
}

// Update applies p for an owner. The row is replaced with one guarded
// write (UPDATE … WHERE key = 'shop' AND value = <the value read>): a
// concurrent change makes it touch no row, and the patch is laid again
// over the newer value, so no change is lost.
func (s *Service) Update(ctx context.Context, p Patch) (Shop, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return Shop{}, err
	}
	if err := p.Validate(); err != nil {
		return Shop{}, err
	}
	sys := viewer.SystemContext(ctx)
	for range 20 {
		stored, raw, err := s.read(ctx)
		if err != nil {
			return Shop{}, err
		}
		next := p.apply(stored)
		next.UpdatedAt, next.UpdatedBy = s.now().UTC(), viewer.FromContext(ctx).StaffID
		b, _ := json.Marshal(next)
		if raw == nil {
			// The first change: the unique key makes two first changes one.
			err := s.db.Setting.Create().SetKey(key).SetValue(b).Exec(sys)
			if err == nil {
				return s.changed(ctx, next), nil
			}
			if !ent.IsConstraintError(err) {
				return Shop{}, fmt.Errorf("settings: create: %w", err)
			}
			continue // another change made the row first: lay p over it
		}
		n, err := s.db.Setting.Update().Where(setting.Key(key), setting.ValueEQ(raw)).SetValue(b).Save(sys)
		if err != nil {
			return Shop{}, fmt.Errorf("settings: update: %w", err)
		}
		if n == 1 {
			return s.changed(ctx, next), nil
		}
	}
	return Shop{}, fmt.Errorf("settings: update: too many concurrent changes")
}

// changed drops the caches (here, and through the notifier everywhere)
// and returns the settings now in force.
func (s *Service) changed(ctx context.Context, stored Shop) Shop {
	s.Invalidate()
	if s.notifier != nil {
		s.notifier.Notify(context.WithoutCancel(ctx), Topic)
	}
	return s.merge(stored)
}

// apply lays p over stored.
func (p Patch) apply(stored Shop) Shop {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&stored.Name, p.Name)
	set(&stored.LogoURL, p.LogoURL)
	set(&stored.BrandColor, p.BrandColor)
	set(&stored.Currency, p.Currency)
	return stored
}

// MaxName is the longest shop name, in characters.
const MaxName = 80

var hexColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// Validate refuses what the pages cannot show, as BAD_USER_INPUT naming
// the field (name, logoUrl, brandColor, currency).
func (p Patch) Validate() error {
	if p.Name != nil {
		n := strings.TrimSpace(*p.Name)
		if n == "" {
			return checkout.BadInput("name", "the shop needs a name")
		}
		if utf8.RuneCountInString(n) > MaxName {
			return checkout.BadInput("name", "at most %d characters", MaxName)
		}
		if strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return checkout.BadInput("name", "no control characters")
		}
	}
	if p.BrandColor != nil {
		if c := strings.TrimSpace(*p.BrandColor); c != "" && !hexColor.MatchString(c) {
			return checkout.BadInput("brandColor", "%q is not a colour like #0b57d0", c)
		}
	}
	if p.LogoURL != nil {
		if u := strings.TrimSpace(*p.LogoURL); u != "" && (len(u) > 500 || !PageURL(u)) {
			return checkout.BadInput("logoUrl", "%q is neither an https URL nor a path like /assets/logo.svg", u)
		}
	}
	if p.Currency != nil {
		if _, err := checkout.ParseCurrency(strings.TrimSpace(*p.Currency)); err != nil {
			return err
		}
	}
	return nil
}

// PageURL reports an https URL, or a path on this server (one leading
// slash), that a page may load: the rule of web.Brand.Validate.
func PageURL(s string) bool {
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.ContainsAny(s, "\\\"'<> ") {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && validHost(u.Host)
}

func validHost(h string) bool {
	if len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-:[]", c) >= 0) {
			return false
		}
	}
	return true
}
