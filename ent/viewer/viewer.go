// Package viewer carries who is asking through a context, so that ent privacy
// rules and services can decide what they may see and do.
package viewer

import (
	"context"
	"strings"
)

// Role says what kind of principal a Viewer is.
type Role int

const (
	// Anonymous is the zero Role: nobody signed in.
	Anonymous Role = iota
	// Customer is a signed-in shopper.
	Customer
	// Staff is a shop operator using a staff API token.
	Staff
	// System is merchd itself (seeding, token lookups, background jobs).
	System
	// HubToken is a pop-up hub's box, with a token scoped to one hub
	// (Viewer.Hub): it does that hub's business on central and is not
	// staff — to ent privacy it sees what a customer sees.
	HubToken
)

func (r Role) String() string {
	switch r {
	case Customer:
		return "customer"
	case Staff:
		return "staff"
	case System:
		return "system"
	case HubToken:
		return "hub"
	default:
		return "anonymous"
	}
}

// Rank is what a staff viewer may do. The zero Rank is RankOwner: staff
// tokens issued before ranks existed could do everything, and still do.
type Rank int

const (
	// RankOwner does everything: tokens, settings, staff, webhooks.
	RankOwner Rank = iota
	// RankStaff runs the catalog, drops, orders, fulfilment, customers,
	// streams and refunds.
	RankStaff
	// RankClerk works the till, pickups and returns intake at one
	// location (Viewer.Location).
	RankClerk
)

func (r Rank) String() string {
	switch r {
	case RankStaff:
		return "STAFF"
	case RankClerk:
		return "CLERK"
	default:
		return "OWNER"
	}
}

// ParseRank reads OWNER, STAFF or CLERK (any case).
func ParseRank(s string) (Rank, bool) {
	for _, r := range []Rank{RankOwner, RankStaff, RankClerk} {
		if strings.EqualFold(s, r.String()) {
			return r, true
		}
	}
	return 0, false
}

// Viewer is the principal behind a request.
type Viewer struct {
	Role       Role
	CustomerID int // set when Role == Customer
	StaffID    int // set when Role == Staff
	// Rank and Location, for Role == Staff: what the member may do, and
	// the code of the one location a clerk works at.
	Rank      Rank
	Location  string
	SessionID int // the customer session or staff token row that authenticated this viewer
	// Hub, for a HubToken, is the one hub whose business the viewer may
	// do; "" for everybody else.
	Hub string
}

// IsStaff reports whether v may perform staff actions (staff or system).
func (v Viewer) IsStaff() bool { return v.Role == Staff || v.Role == System }

type ctxKey struct{}

// NewContext returns a copy of ctx carrying v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer in ctx, or the anonymous viewer.
func FromContext(ctx context.Context) Viewer {
	v, _ := ctx.Value(ctxKey{}).(Viewer)
	return v
}

// SystemContext returns ctx acting as merchd itself. Use it only for work that
// has already been authorised, or that no client can trigger directly.
func SystemContext(ctx context.Context) context.Context {
	return NewContext(ctx, Viewer{Role: System})
}

// TillEmail is the email of the customer account a hub's till sells from
// (hub is the hub's location code): nobody signs in as it, and a clerk of
// that hub may read its cart.
func TillEmail(hub string) string { return "till@" + hub + ".hub.invalid" }
