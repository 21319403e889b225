package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/staff"
	"github.com/merchd/merchd/ent/stafftoken"
	"github.com/merchd/merchd/ent/viewer"
)

// StaffSessionTTL is how long a staff sign-in lasts: one working day.
const StaffSessionTTL = 12 * time.Hour

// StaffSession is what a successful staff sign-in returns: a staff token
// labelled "session" that ends by itself, so revoking tokens and
// disabling members end it as they end any token.
type StaffSession struct {
	Token     string
	ExpiresAt time.Time
	Staff     *ent.Staff
}

// StaffSignIn checks a staff member's password and opens a session. It is
// throttled as customers' sign-in is (per address, per email); an unknown
// email, a wrong password, a member without a password and a disabled
// member are all ErrInvalidCredentials, after the same hashing work.
func (a *Service) StaffSignIn(ctx context.Context, email, password string) (*StaffSession, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, checkout.ErrInvalidCredentials
	}
	if err := a.throttle.allow("sign-in", limitCheck{a.throttle.signIn, checkout.ClientIP(ctx)},
		limitCheck{a.throttle.account, "staff:" + email}); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	s, err := a.db.Staff.Query().Where(staff.Email(email)).Only(sys)
	if err != nil && !ent.IsNotFound(err) {
		return nil, fmt.Errorf("accounts: staff sign in: %w", err)
	}
	if s == nil || s.PasswordHash == "" || s.DisabledAt != nil {
		if err := a.throttle.hash(ctx, func() { hashPassword(password, a.cfg.Password) }); err != nil {
			return nil, err
		}
		return nil, checkout.ErrInvalidCredentials
	}
	ok := false
	if err := a.throttle.hash(ctx, func() { ok = checkPassword(s.PasswordHash, password) }); err != nil {
		return nil, err
	}
	if !ok {
		return nil, checkout.ErrInvalidCredentials
	}
	token, hash := checkout.NewToken(staffTokenPrefix)
	exp := a.now().Add(StaffSessionTTL).UTC().Truncate(time.Second)
	if _, err := a.db.StaffToken.Create().SetStaffID(s.ID).SetTokenHash(hash).SetLabel("session").SetExpiresAt(exp).Save(sys); err != nil {
		return nil, fmt.Errorf("accounts: open staff session: %w", err)
	}
	return &StaffSession{Token: token, ExpiresAt: exp, Staff: s}, nil
}

// StaffSignOut ends the token or session that authenticated the staff
// viewer in ctx.
func (a *Service) StaffSignOut(ctx context.Context) error {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Staff || v.SessionID == 0 {
		return checkout.ErrUnauthenticated
	}
	return a.RevokeToken(ctx, v.SessionID)
}

// StaffSpec describes a staff member to add.
type StaffSpec struct {
	Email, Name string
	Role        staff.Role
	// Location is a clerk's location code (required for CLERK, refused
	// for the others).
	Location string
	Password string
}

// CreateStaff adds a staff member who signs in with email and password.
// An email already taken is BAD_USER_INPUT.
func (a *Service) CreateStaff(ctx context.Context, spec StaffSpec) (*ent.Staff, error) {
	email, err := normalizeEmail(spec.Email)
	if err != nil {
		return nil, err
	}
	if err := staff.RoleValidator(spec.Role); err != nil {
		return nil, checkout.BadInput("role", "is OWNER, STAFF or CLERK")
	}
	if len(spec.Name) > 200 {
		return nil, checkout.BadInput("name", "is longer than 200 characters")
	}
	if err := validatePassword(spec.Password); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	loc := strings.TrimSpace(spec.Location)
	switch {
	case spec.Role == staff.RoleCLERK && loc == "":
		return nil, checkout.BadInput("location", "a clerk works at one location: give its code")
	case spec.Role != staff.RoleCLERK && loc != "":
		return nil, checkout.BadInput("location", "only clerks are tied to a location")
	case loc != "":
		ok, err := a.db.Location.Query().Where(location.Code(loc)).Exist(sys)
		if err != nil {
			return nil, fmt.Errorf("accounts: create staff: %w", err)
		}
		if !ok {
			return nil, checkout.BadInput("location", "no location has the code %q (central's is made when merchd first starts; a hub's or counter's with its pickup point)", loc)
		}
	}
	var hash string
	if err := a.throttle.hash(ctx, func() { hash = hashPassword(spec.Password, a.cfg.Password) }); err != nil {
		return nil, err
	}
	s, err := a.db.Staff.Create().SetEmail(email).SetName(strings.TrimSpace(spec.Name)).SetRole(spec.Role).
		SetLocation(loc).SetPasswordHash(hash).Save(sys)
	if ent.IsConstraintError(err) {
		return nil, checkout.BadInput("email", "a staff member with this email already exists")
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: create staff: %w", err)
	}
	return s, nil
}

// DisableStaff disables the member: they cannot sign in, and every token
// of theirs is revoked in the same transaction (Authenticate and
// SessionActive also refuse a disabled member's tokens, so a token issued
// in between ends too). Disabling twice is not an error.
func (a *Service) DisableStaff(ctx context.Context, id int) (*ent.Staff, error) {
	sys := viewer.SystemContext(ctx)
	now := a.now().UTC()
	tx, err := a.db.Tx(sys)
	if err != nil {
		return nil, fmt.Errorf("accounts: disable staff %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Staff.Update().Where(staff.ID(id), staff.DisabledAtIsNil()).SetDisabledAt(now).Save(sys); err != nil {
		return nil, fmt.Errorf("accounts: disable staff %d: %w", id, err)
	}
	if _, err := tx.StaffToken.Update().Where(stafftoken.StaffID(id), stafftoken.RevokedAtIsNil()).SetRevokedAt(now).Save(sys); err != nil {
		return nil, fmt.Errorf("accounts: revoke tokens of staff %d: %w", id, err)
	}
	s, err := tx.Staff.Get(sys, id)
	if err != nil {
		return nil, fmt.Errorf("accounts: disable staff: %w", checkout.NotFoundAs(err, "staff"))
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("accounts: disable staff %d: commit: %w", id, err)
	}
	a.activeMu.Lock()
	clear(a.active) // every cached answer about this member's tokens
	a.activeMu.Unlock()
	return s, nil
}

// StaffByEmail finds a member by email (ErrNotFound if none).
func (a *Service) StaffByEmail(ctx context.Context, email string) (*ent.Staff, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	s, err := a.db.Staff.Query().Where(staff.Email(email)).Only(viewer.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("accounts: staff %s: %w", email, checkout.NotFoundAs(err, "staff"))
	}
	return s, nil
}

// ListStaff lists every member, oldest first.
func (a *Service) ListStaff(ctx context.Context) ([]*ent.Staff, error) {
	ss, err := a.db.Staff.Query().Order(ent.Asc(staff.FieldID)).Limit(1000).All(viewer.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("accounts: list staff: %w", err)
	}
	return ss, nil
}

// Staff returns one member by id.
func (a *Service) Staff(ctx context.Context, id int) (*ent.Staff, error) {
	s, err := a.db.Staff.Get(viewer.SystemContext(ctx), id)
	if err != nil {
		return nil, fmt.Errorf("accounts: staff %d: %w", id, checkout.NotFoundAs(err, "staff"))
	}
	return s, nil
}

// Token returns one staff or hub token by id.
func (a *Service) Token(ctx context.Context, id int) (*ent.StaffToken, error) {
	t, err := a.db.StaffToken.Get(viewer.SystemContext(ctx), id)
	if err != nil {
		return nil, fmt.Errorf("accounts: token %d: %w", id, checkout.NotFoundAs(err, "token"))
	}
	return t, nil
}

// Tokens lists the newest tokens (at most limit).
func (a *Service) Tokens(ctx context.Context, limit int) ([]*ent.StaffToken, error) {
	ts, err := a.db.StaffToken.Query().Order(ent.Desc(stafftoken.FieldID)).Limit(limit).All(viewer.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("accounts: tokens: %w", err)
	}
	return ts, nil
}

// rankOf is what a token may do: its member's role, narrowed by the
// token's own role if it has one.
func rankOf(member staff.Role, token *stafftoken.Role) viewer.Rank {
	r, _ := viewer.ParseRank(string(member))
	if token != nil {
		if t, ok := viewer.ParseRank(string(*token)); ok && t > r {
			r = t
		}
	}
	return r
}
