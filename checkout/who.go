package checkout

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/merchd/merchd/ent/predicate"
	"github.com/merchd/merchd/ent/schema/types"
	"github.com/merchd/merchd/ent/stafftoken"
	"github.com/merchd/merchd/ent/viewer"
)

// RequireHub lets staff, or the token of this hub, do a hub's business: a
// hub-scoped token may act only for its own hub.
func RequireHub(ctx context.Context, hubCode string) error {
	if err := RequireStaffOrHub(ctx); err != nil {
		return err
	}
	if v := viewer.FromContext(ctx); v.Role == viewer.HubToken && v.Hub != hubCode {
		return fmt.Errorf("the token of hub %s acts for hub %s: %w", v.Hub, hubCode, ErrForbidden)
	}
	return nil
}

// RequireStaffOrHub lets staff or any hub's token through (the caller
// scopes what a hub may touch).
func RequireStaffOrHub(ctx context.Context) error {
	if v := viewer.FromContext(ctx); v.Role == viewer.HubToken && v.Hub != "" {
		return nil
	}
	return RequireStaff(ctx)
}

// RequireStaff lets owners and staff (and the system) through: anonymous
// callers are ErrUnauthenticated, everyone else — clerks included —
// ErrForbidden. Clerks pass only the narrower RequireCounter.
func RequireStaff(ctx context.Context) error {
	switch v := viewer.FromContext(ctx); {
	case v.Role == viewer.Staff && v.Rank == viewer.RankClerk:
		return ErrForbidden.Detail("a clerk works the till, pickups and returns intake only")
	case v.IsStaff():
		return nil
	case v.Role == viewer.Anonymous:
		return ErrUnauthenticated
	default:
		return ErrForbidden
	}
}

// RequireOwner lets owners (and the system) through: tokens, staff,
// settings, webhooks and the return policy are theirs.
func RequireOwner(ctx context.Context) error {
	if err := RequireStaff(ctx); err != nil {
		return err
	}
	if v := viewer.FromContext(ctx); v.Role == viewer.Staff && v.Rank != viewer.RankOwner {
		return ErrForbidden.Detail("only an owner may do this (this token is %s)", v.Rank)
	}
	return nil
}

// RequireCounter lets through what may work a counter: owners, staff,
// hub tokens, and clerks. The caller then checks AtLocation once it
// knows where the work is.
func RequireCounter(ctx context.Context) error {
	if v := viewer.FromContext(ctx); v.Role == viewer.Staff && v.Rank == viewer.RankClerk {
		return nil
	}
	return RequireStaffOrHub(ctx)
}

// AtLocation refuses a clerk working anywhere but their own location
// (code); everybody else passes.
func AtLocation(ctx context.Context, code string) error {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Staff || v.Rank != viewer.RankClerk {
		return nil
	}
	if v.Location == "" || v.Location != code {
		where := code
		if where == "" {
			where = "no location"
		}
		return ErrForbidden.Detail("a clerk at %q cannot act for %s", v.Location, where)
	}
	return nil
}

// RequireCustomer returns the signed-in customer's id, or
// ErrUnauthenticated.
func RequireCustomer(ctx context.Context) (int, error) {
	v := viewer.FromContext(ctx)
	switch v.Role {
	case viewer.Customer:
		return v.CustomerID, nil
	case viewer.Anonymous:
		return 0, ErrUnauthenticated
	default:
		return 0, fmt.Errorf("only customers have carts: %w", ErrForbidden)
	}
}

// Channel is where a unit is sold: online, on a livestream, or at a hub.
type Channel = types.Channel

// Channels.
const (
	ChannelOnline = types.ChannelOnline
	ChannelLive   = types.ChannelLive
	ChannelHub    = types.ChannelHub
)

// clientIPKey carries the caller's network address, set by the transport.
type clientIPKey struct{}

// WithClientIP records the caller's address for throttling.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP is the address WithClientIP recorded, or "".
func ClientIP(ctx context.Context) string {
	s, _ := ctx.Value(clientIPKey{}).(string)
	return s
}

// ValidHubCode reports whether s can name a hub: 1 to 40 letters, digits,
// '-' or '_'.
func ValidHubCode(s string) bool {
	if len(s) < 1 || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// TokenInForce: a staff or hub token neither revoked nor expired at now.
func TokenInForce(now time.Time) predicate.StaffToken {
	return stafftoken.And(stafftoken.RevokedAtIsNil(), stafftoken.Or(stafftoken.ExpiresAtIsNil(), stafftoken.ExpiresAtGT(now)))
}

// NewToken returns a fresh random secret with prefix (e.g. "mst_"), and the
// SHA-256 that is stored in its place.
func NewToken(prefix string) (token string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	return token, sum[:]
}
