package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/customersession"
	"github.com/merchd/merchd/ent/staff"
	"github.com/merchd/merchd/ent/stafftoken"
	"github.com/merchd/merchd/ent/viewer"
)

// Token prefixes tell a customer session from a staff API token at a glance
// (and let secret scanners find leaked ones).
const (
	customerTokenPrefix = "mcs_"
	staffTokenPrefix    = "mst_"
)

// PasswordParams are argon2id's cost parameters. They are stored with each
// hash, so raising them later does not break existing accounts.
type PasswordParams struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultPasswordParams follow OWASP's argon2id recommendation (19 MiB, t=2).
var DefaultPasswordParams = PasswordParams{Time: 2, Memory: 19 * 1024, Threads: 1}

// Config configures sign-in.
type Config struct {
	SessionTTL time.Duration
	Password   PasswordParams
	Throttle   ThrottleConfig
}

// Validate reports unusable settings.
func (c Config) Validate() error {
	if c.SessionTTL < time.Minute {
		return fmt.Errorf("accounts: session TTL %s is shorter than a minute", c.SessionTTL)
	}
	if c.Password.Time == 0 || c.Password.Memory < 64 || c.Password.Threads == 0 {
		return fmt.Errorf("accounts: password hashing parameters %+v are too weak", c.Password)
	}
	return c.Throttle.Validate()
}

// Service signs customers up and in, and turns bearer tokens into viewers.
type Service struct {
	db       *ent.Client
	cfg      Config
	now      func() time.Time
	throttle *throttle
	activeMu sync.Mutex
	active   map[sessionKey]activeEntry
	outbox   checkout.Outbox // nil: no account emails
}

// New returns the accounts service.
func New(db *ent.Client, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Service{db: db, cfg: cfg, now: time.Now, active: map[sessionKey]activeEntry{}}
	a.throttle = newThrottle(cfg.Throttle, func() time.Time { return a.now() })
	return a, nil
}

// Session is what a successful sign-up or sign-in returns.
type Session struct {
	Token     string
	ExpiresAt time.Time
	Customer  *ent.Customer
}

// SignUp creates a customer account and signs it in.
func (a *Service) SignUp(ctx context.Context, email, password, name string) (*Session, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := validatePassword(password); err != nil {
		return nil, err
	}
	if len(name) > 200 {
		return nil, checkout.BadInput("name", "is longer than 200 characters")
	}
	if err := a.throttle.allow("sign-up", limitCheck{a.throttle.signUp, checkout.ClientIP(ctx)}); err != nil {
		return nil, err
	}
	var hash string
	if err := a.throttle.hash(ctx, func() { hash = hashPassword(password, a.cfg.Password) }); err != nil {
		return nil, err
	}
	return a.create(ctx, email, name, hash)
}

// guestHash marks an account made by GuestSignUp: it has no password, so
// no password signs it in (checkPassword refuses anything but argon2id)
// until its owner sets one through a password-reset link.
const guestHash = "guest"

// GuestSignUp creates an account with an email and no password and signs
// it in: a buyer at a venue checks out with their email only. The
// account is claimed later through the password-reset email. An email
// that already has an account is refused (ErrEmailTaken) — a guest never
// gets a session for someone else's account; its owner signs in.
func (a *Service) GuestSignUp(ctx context.Context, email string) (*Session, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := a.throttle.allow("sign-up", limitCheck{a.throttle.signUp, checkout.ClientIP(ctx)}); err != nil {
		return nil, err
	}
	return a.create(ctx, email, "", guestHash)
}

// create inserts a customer (a unique email: a taken one is
// ErrEmailTaken) and opens its first session in one transaction.
func (a *Service) create(ctx context.Context, email, name, hash string) (*Session, error) {
	sys := viewer.SystemContext(ctx)
	tx, err := a.db.Tx(sys)
	if err != nil {
		return nil, fmt.Errorf("accounts: sign up: %w", err)
	}
	c, err := tx.Customer.Create().SetEmail(email).SetName(strings.TrimSpace(name)).SetPasswordHash(hash).Save(sys)
	if err != nil {
		_ = tx.Rollback()
		if ent.IsConstraintError(err) {
			return nil, checkout.ErrEmailTaken
		}
		return nil, fmt.Errorf("accounts: sign up: %w", checkout.NotFoundAs(err, "customer"))
	}
	s, err := a.newSession(sys, tx.Client(), c)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("accounts: sign up: commit: %w", err)
	}
	s.Customer = c.Unwrap()
	return s, nil
}

// SignIn checks a password and opens a session.
func (a *Service) SignIn(ctx context.Context, email, password string) (*Session, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, checkout.ErrInvalidCredentials
	}
	if err := a.throttle.allow("sign-in", limitCheck{a.throttle.signIn, checkout.ClientIP(ctx)},
		limitCheck{a.throttle.account, email}); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	c, err := a.db.Customer.Query().Where(customer.Email(email)).Only(sys)
	if ent.IsNotFound(err) {
		// Spend the same time as a real check so response times do not tell
		// which emails have accounts.
		if err := a.throttle.hash(ctx, func() { hashPassword(password, a.cfg.Password) }); err != nil {
			return nil, err
		}
		return nil, checkout.ErrInvalidCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: sign in: %w", err)
	}
	ok := false
	if err := a.throttle.hash(ctx, func() { ok = checkPassword(c.PasswordHash, password) }); err != nil {
		return nil, err
	}
	if !ok {
		return nil, checkout.ErrInvalidCredentials
	}
	return a.newSession(sys, a.db, c)
}

func (a *Service) newSession(ctx context.Context, db *ent.Client, c *ent.Customer) (*Session, error) {
	token, hash := checkout.NewToken(customerTokenPrefix)
	exp := a.now().Add(a.cfg.SessionTTL).UTC().Truncate(time.Second)
	if _, err := db.CustomerSession.Create().SetCustomerID(c.ID).SetTokenHash(hash).SetExpiresAt(exp).Save(ctx); err != nil {
		return nil, fmt.Errorf("accounts: open session: %w", err)
	}
	return &Session{Token: token, ExpiresAt: exp, Customer: c}, nil
}

// SignOut revokes the session that authenticated the viewer in ctx.
func (a *Service) SignOut(ctx context.Context) error {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Customer {
		return checkout.ErrUnauthenticated
	}
	_, err := a.db.CustomerSession.Delete().Where(customersession.ID(v.SessionID)).Exec(viewer.SystemContext(ctx))
	a.activeMu.Lock()
	delete(a.active, sessionKey{customer: true, id: v.SessionID})
	a.activeMu.Unlock()
	if err != nil {
		return fmt.Errorf("accounts: sign out: %w", err)
	}
	return nil
}

// TokenInfo is one staff or hub token as `merchd staff list-tokens` shows it.
type TokenInfo struct {
	ID                 int
	Email, Label, Hub  string
	CreatedAt          time.Time
	ExpiresAt, Revoked *time.Time
}

// ListTokens lists every staff and hub token, newest first.
func (a *Service) ListTokens(ctx context.Context) ([]TokenInfo, error) {
	sys := viewer.SystemContext(ctx)
	ts, err := a.db.StaffToken.Query().WithStaff().Order(ent.Desc(stafftoken.FieldID)).All(sys)
	if err != nil {
		return nil, fmt.Errorf("accounts: list tokens: %w", err)
	}
	out := make([]TokenInfo, len(ts))
	for i, t := range ts {
		out[i] = TokenInfo{ID: t.ID, Label: t.Label, Hub: t.Hub, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, Revoked: t.RevokedAt}
		if t.Edges.Staff != nil {
			out[i].Email = t.Edges.Staff.Email
		}
	}
	return out, nil
}

// RevokeToken ends a staff or hub token at once: requests with it are
// refused and its open sockets close within seconds. Revoking twice is not
// an error; an unknown id is ErrNotFound.
func (a *Service) RevokeToken(ctx context.Context, id int) error {
	sys := viewer.SystemContext(ctx)
	n, err := a.db.StaffToken.Update().Where(stafftoken.ID(id), stafftoken.RevokedAtIsNil()).SetRevokedAt(a.now()).Save(sys)
	if err != nil {
		return fmt.Errorf("accounts: revoke token %d: %w", id, err)
	}
	if n == 0 {
		if ok, err := a.db.StaffToken.Query().Where(stafftoken.ID(id)).Exist(sys); err != nil || !ok {
			return fmt.Errorf("token %d: %w", id, checkout.ErrNotFound)
		}
	}
	a.activeMu.Lock()
	delete(a.active, sessionKey{id: id})
	a.activeMu.Unlock()
	return nil
}

// SessionActive reports whether the session or token behind v still stands:
// not signed out, revoked or expired. Long-lived connections (websockets,
// SSE) ask before every operation and every few seconds; answers are
// cached for a second, so a busy socket costs one query a second at most.
func (a *Service) SessionActive(ctx context.Context, v viewer.Viewer) (bool, error) {
	if v.Role == viewer.Anonymous || v.Role == viewer.System {
		return true, nil
	}
	key := sessionKey{customer: v.Role == viewer.Customer, id: v.SessionID}
	now := a.now()
	a.activeMu.Lock()
	if e, ok := a.active[key]; ok && now.Sub(e.at) < time.Second {
		a.activeMu.Unlock()
		return e.ok, nil
	}
	a.activeMu.Unlock()
	sys := viewer.SystemContext(ctx)
	var ok bool
	var err error
	if key.customer {
		ok, err = a.db.CustomerSession.Query().Where(customersession.ID(v.SessionID), customersession.ExpiresAtGT(now)).Exist(sys)
	} else {
		ok, err = a.db.StaffToken.Query().Where(stafftoken.ID(v.SessionID), checkout.TokenInForce(now),
			stafftoken.HasStaffWith(staff.DisabledAtIsNil())).Exist(sys)
	}
	if err != nil {
		return false, fmt.Errorf("accounts: session of %v: %w", v.Role, err)
	}
	a.activeMu.Lock()
	if len(a.active) > 10_000 {
		clear(a.active)
	}
	a.active[key] = activeEntry{ok: ok, at: now}
	a.activeMu.Unlock()
	return ok, nil
}

type sessionKey struct {
	customer bool
	id       int
}

type activeEntry struct {
	ok bool
	at time.Time
}

// Authenticate turns a bearer token into a viewer. An unknown, expired or
// revoked token is ErrUnauthenticated.
func (a *Service) Authenticate(ctx context.Context, token string) (viewer.Viewer, error) {
	sys := viewer.SystemContext(ctx)
	sum := sha256.Sum256([]byte(token))
	switch {
	case strings.HasPrefix(token, customerTokenPrefix):
		s, err := a.db.CustomerSession.Query().Where(customersession.TokenHash(sum[:])).Only(sys)
		if ent.IsNotFound(err) {
			return viewer.Viewer{}, checkout.ErrUnauthenticated
		}
		if err != nil {
			return viewer.Viewer{}, fmt.Errorf("accounts: authenticate: %w", err)
		}
		if !a.now().Before(s.ExpiresAt) {
			return viewer.Viewer{}, checkout.ErrUnauthenticated
		}
		return viewer.Viewer{Role: viewer.Customer, CustomerID: s.CustomerID, SessionID: s.ID}, nil
	case strings.HasPrefix(token, staffTokenPrefix):
		t, err := a.db.StaffToken.Query().Where(stafftoken.TokenHash(sum[:]), checkout.TokenInForce(a.now()),
			stafftoken.HasStaffWith(staff.DisabledAtIsNil())).WithStaff().Only(sys)
		if ent.IsNotFound(err) {
			return viewer.Viewer{}, checkout.ErrUnauthenticated
		}
		if err != nil {
			return viewer.Viewer{}, fmt.Errorf("accounts: authenticate: %w", err)
		}
		if t.Hub != "" { // a hub's box, not a staff login
			return viewer.Viewer{Role: viewer.HubToken, StaffID: t.StaffID, SessionID: t.ID, Hub: t.Hub}, nil
		}
		return viewer.Viewer{Role: viewer.Staff, StaffID: t.StaffID, SessionID: t.ID,
			Rank: rankOf(t.Edges.Staff.Role, t.Role), Location: t.Edges.Staff.Location}, nil
	default:
		return viewer.Viewer{}, checkout.ErrUnauthenticated
	}
}

// CreateStaffToken issues an API token for the staff member with this email,
// creating the staff record if needed. The token is shown once; only its
// hash is stored.
func (a *Service) CreateStaffToken(ctx context.Context, email, name, label string) (string, error) {
	return a.CreateHubToken(ctx, email, name, label, "")
}

// CreateHubToken issues a staff token scoped to one hub (hub "" is a full
// staff token): it records and reads that hub's business and nothing else.
func (a *Service) CreateHubToken(ctx context.Context, email, name, label, hub string) (string, error) {
	return a.CreateToken(ctx, TokenSpec{Email: email, Name: name, Label: label, Hub: hub})
}

// TokenSpec describes a staff or hub API token to issue.
type TokenSpec struct {
	Email, Name, Label string
	// Hub scopes the token to one hub's business; "" is full staff.
	Hub string
	// TTL, when positive, makes the token expire by itself.
	TTL time.Duration
	// Role, when set, narrows the token below its member's role. A member
	// created by their first token gets this role (OWNER if unset).
	Role staff.Role
	// StaffID, when set, names the member instead of Email (who must
	// exist then).
	StaffID int
}

// CreateToken issues a staff API token (creating the staff member on first
// use) and returns it; only its hash is stored.
func (a *Service) CreateToken(ctx context.Context, spec TokenSpec) (string, error) {
	tok, _, err := a.IssueToken(ctx, spec)
	return tok, err
}

// IssueToken is CreateToken, also returning the token's row.
func (a *Service) IssueToken(ctx context.Context, spec TokenSpec) (string, *ent.StaffToken, error) {
	email, name, label, hub := spec.Email, spec.Name, spec.Label, spec.Hub
	if spec.TTL < 0 {
		return "", nil, checkout.BadInput("expires", "must be positive")
	}
	if spec.Role != "" && staff.RoleValidator(spec.Role) != nil {
		return "", nil, checkout.BadInput("role", "is OWNER, STAFF or CLERK")
	}
	if spec.StaffID == 0 {
		var err error
		if email, err = normalizeEmail(email); err != nil {
			return "", nil, err
		}
	}
	if hub != "" && !checkout.ValidHubCode(hub) {
		return "", nil, checkout.BadInput("hub", "a hub code is 1 to 40 letters, digits, '-' or '_'")
	}
	sys := viewer.SystemContext(ctx)
	tx, err := a.db.Tx(sys)
	if err != nil {
		return "", nil, fmt.Errorf("accounts: create staff token: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var id int
	if spec.StaffID != 0 {
		id, err = tx.Staff.Query().Where(staff.ID(spec.StaffID), staff.DisabledAtIsNil()).OnlyID(sys)
		if ent.IsNotFound(err) {
			return "", nil, fmt.Errorf("staff %d (or disabled): %w", spec.StaffID, checkout.ErrNotFound)
		}
	} else {
		id, err = tx.Staff.Query().Where(staff.Email(email)).OnlyID(sys)
	}
	if spec.StaffID == 0 && ent.IsNotFound(err) {
		role := spec.Role
		if role == "" {
			role = staff.RoleOWNER
		}
		s, cerr := tx.Staff.Create().SetEmail(email).SetName(name).SetRole(role).Save(sys)
		if cerr != nil {
			return "", nil, fmt.Errorf("accounts: create staff: %w", cerr)
		}
		id, err = s.ID, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("accounts: find staff: %w", err)
	}
	token, hash := checkout.NewToken(staffTokenPrefix)
	tc := tx.StaffToken.Create().SetStaffID(id).SetTokenHash(hash).SetLabel(label).SetHub(hub)
	if spec.Role != "" {
		tc.SetRole(stafftoken.Role(spec.Role))
	}
	if spec.TTL > 0 {
		tc.SetExpiresAt(a.now().Add(spec.TTL).UTC().Truncate(time.Second))
	}
	t, err := tc.Save(sys)
	if err != nil {
		return "", nil, fmt.Errorf("accounts: store staff token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", nil, fmt.Errorf("accounts: create staff token: commit: %w", err)
	}
	return token, t.Unwrap(), nil
}

// Customer returns the viewer's own account, or nil when anonymous.
func (a *Service) Customer(ctx context.Context) (*ent.Customer, error) {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Customer {
		return nil, nil
	}
	c, err := a.db.Customer.Get(ctx, v.CustomerID)
	if err != nil {
		return nil, fmt.Errorf("accounts: viewer: %w", checkout.NotFoundAs(err, "customer"))
	}
	return c, nil
}

func normalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 {
		return "", checkout.BadInput("email", "is longer than 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", checkout.BadInput("email", "is not an email address")
	}
	return s, nil
}

func validatePassword(p string) error {
	switch {
	case len(p) < 8:
		return checkout.BadInput("password", "must be at least 8 characters")
	case len(p) > 256:
		return checkout.BadInput("password", "must be at most 256 characters")
	}
	return nil
}

// hashPassword returns "argon2id$t$m$p$salt$key" with base64url fields.
func hashPassword(password string, p PasswordParams) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	enc := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf("argon2id$%d$%d$%d$%s$%s", p.Time, p.Memory, p.Threads, enc(salt), enc(key))
}

func checkPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "argon2id" {
		return false
	}
	t, err1 := strconv.ParseUint(parts[1], 10, 32)
	m, err2 := strconv.ParseUint(parts[2], 10, 32)
	th, err3 := strconv.ParseUint(parts[3], 10, 8)
	salt, err4 := base64.RawURLEncoding.DecodeString(parts[4])
	key, err5 := base64.RawURLEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || len(key) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, uint32(t), uint32(m), uint8(th), uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}
