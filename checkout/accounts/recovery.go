package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/accounttoken"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/customersession"
	"github.com/merchd/merchd/ent/viewer"
)

// Emailed links: a password reset lives an hour, an email verification a
// day. Each is 32 random bytes behind its prefix, stored as its SHA-256,
// and works once.
const (
	resetTokenPrefix  = "mpr_"
	verifyTokenPrefix = "mev_"
	ResetTokenTTL     = time.Hour
	VerifyTokenTTL    = 24 * time.Hour
)

// SetOutbox sends the account's emails (reset and verification links)
// through o, in the transaction that makes the link.
func (a *Service) SetOutbox(o checkout.Outbox) { a.outbox = o }

// RequestPasswordReset emails a password reset link to email, if an
// account has it. The answer is the same whether or not one does; it is
// throttled like sign-in (per address and per email).
func (a *Service) RequestPasswordReset(ctx context.Context, email, key string) error {
	email, err := normalizeEmail(email)
	if err != nil {
		return err
	}
	if err := a.throttle.allow("password reset", limitCheck{a.throttle.signIn, checkout.ClientIP(ctx)},
		limitCheck{a.throttle.account, email}); err != nil {
		return err
	}
	_, err = txn.Idempotent(ctx, a.db, "requestPasswordReset", key, email, func(ctx context.Context, tx *ent.Tx) (bool, error) {
		sys := viewer.SystemContext(ctx)
		c, err := tx.Customer.Query().Where(customer.Email(email)).Only(sys)
		if ent.IsNotFound(err) {
			return true, nil // the same answer: who has an account is not told
		}
		if err != nil {
			return false, err
		}
		return true, a.mailLink(sys, tx, c, accounttoken.PurposePASSWORD_RESET)
	})
	return err
}

// mailLink makes a one-time link for c and records its email.
func (a *Service) mailLink(ctx context.Context, tx *ent.Tx, c *ent.Customer, purpose accounttoken.Purpose) error {
	prefix, ttl, typ := resetTokenPrefix, ResetTokenTTL, checkout.EventPasswordReset
	if purpose == accounttoken.PurposeEMAIL_VERIFICATION {
		prefix, ttl, typ = verifyTokenPrefix, VerifyTokenTTL, checkout.EventEmailVerification
	}
	token, hash := checkout.NewToken(prefix)
	now := a.now().UTC()
	if err := tx.AccountToken.Create().SetCustomerID(c.ID).SetPurpose(purpose).SetTokenHash(hash).SetEmail(c.Email).
		SetCreatedAt(now).SetExpiresAt(now.Add(ttl)).Exec(ctx); err != nil {
		return fmt.Errorf("accounts: %s link: %w", purpose, err)
	}
	return checkout.Record(ctx, a.outbox, tx, checkout.Event{Type: typ, CustomerID: c.ID,
		Data: map[string]any{"_token": token}})
}

// useToken spends an emailed link with one guarded update: unknown,
// used, expired or of another purpose is ErrInvalidToken. Of concurrent
// uses, one wins.
func (a *Service) useToken(ctx context.Context, tx *ent.Tx, token string, purpose accounttoken.Purpose) (*ent.AccountToken, error) {
	sum := sha256.Sum256([]byte(token))
	now := a.now().UTC()
	n, err := tx.AccountToken.Update().Where(accounttoken.TokenHash(sum[:]), accounttoken.PurposeEQ(purpose),
		accounttoken.UsedAtIsNil(), accounttoken.ExpiresAtGT(now)).SetUsedAt(now).Save(ctx)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, checkout.ErrInvalidToken
	}
	return tx.AccountToken.Query().Where(accounttoken.TokenHash(sum[:])).Only(ctx)
}

// tokenKey is what identifies a link in an idempotency record: its hash,
// never the link.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ResetPassword sets a new password with a reset link's token and
// returns the account's email. The link works once; every session of
// the account but the caller's own ends, and the account's other reset
// links die with it. Having the link proves the email, so it counts as
// verified.
func (a *Service) ResetPassword(ctx context.Context, token, password, key string) (string, error) {
	if err := validatePassword(password); err != nil {
		return "", err
	}
	if err := a.throttle.allow("password reset", limitCheck{a.throttle.signIn, checkout.ClientIP(ctx)}); err != nil {
		return "", err
	}
	if !strings.HasPrefix(token, resetTokenPrefix) || len(token) > 100 {
		return "", checkout.ErrInvalidToken
	}
	if err := txn.ValidateIdempotencyKey(key); err != nil {
		return "", err
	}
	var hash string
	if err := a.throttle.hash(ctx, func() { hash = hashPassword(password, a.cfg.Password) }); err != nil {
		return "", err
	}
	keep := 0 // the caller's own session, if it is this account's
	if v := viewer.FromContext(ctx); v.Role == viewer.Customer {
		keep = v.SessionID
	}
	var ended []int
	email, err := txn.Idempotent(ctx, a.db, "resetPassword", key, tokenKey(token), func(ctx context.Context, tx *ent.Tx) (string, error) {
		sys := viewer.SystemContext(ctx)
		t, err := a.useToken(sys, tx, token, accounttoken.PurposePASSWORD_RESET)
		if err != nil {
			return "", err
		}
		c, err := tx.Customer.Get(sys, t.CustomerID)
		if err != nil {
			return "", checkout.NotFoundAs(err, "customer")
		}
		u := tx.Customer.UpdateOneID(c.ID).SetPasswordHash(hash)
		if t.Email == c.Email {
			u.SetEmailVerified(true)
		}
		if err := u.Exec(sys); err != nil {
			return "", err
		}
		if err := tx.AccountToken.Update().Where(accounttoken.CustomerID(c.ID), accounttoken.PurposeEQ(accounttoken.PurposePASSWORD_RESET),
			accounttoken.UsedAtIsNil()).SetUsedAt(a.now().UTC()).Exec(sys); err != nil {
			return "", err
		}
		others := tx.CustomerSession.Query().Where(customersession.CustomerID(c.ID), customersession.IDNEQ(keep))
		if ended, err = others.IDs(sys); err != nil {
			return "", err
		}
		if _, err := tx.CustomerSession.Delete().Where(customersession.IDIn(ended...)).Exec(sys); err != nil {
			return "", err
		}
		return c.Email, nil
	})
	if err != nil {
		return "", err
	}
	a.activeMu.Lock()
	for _, id := range ended {
		delete(a.active, sessionKey{customer: true, id: id})
	}
	a.activeMu.Unlock()
	return email, nil
}

// RequestEmailVerification emails the signed-in customer a link that
// verifies their address. An address already verified is BAD_USER_INPUT.
func (a *Service) RequestEmailVerification(ctx context.Context, key string) error {
	id, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return err
	}
	sys := viewer.SystemContext(ctx)
	c, err := a.db.Customer.Get(sys, id)
	if err != nil {
		return checkout.NotFoundAs(err, "customer")
	}
	if err := a.throttle.allow("email verification", limitCheck{a.throttle.signIn, checkout.ClientIP(ctx)},
		limitCheck{a.throttle.account, c.Email}); err != nil {
		return err
	}
	_, err = txn.Idempotent(ctx, a.db, "requestEmailVerification", key, id, func(ctx context.Context, tx *ent.Tx) (bool, error) {
		c, err := tx.Customer.Get(sys, id)
		if err != nil {
			return false, checkout.NotFoundAs(err, "customer")
		}
		if c.EmailVerified {
			return false, checkout.BadInput("email", "%s is already verified", c.Email)
		}
		return true, a.mailLink(sys, tx, c, accounttoken.PurposeEMAIL_VERIFICATION)
	})
	return err
}

// VerifyEmail marks the address a verification link was sent to as
// verified, and returns it. The link works once, and only while the
// account still has that address.
func (a *Service) VerifyEmail(ctx context.Context, token, key string) (string, error) {
	if err := a.throttle.allow("email verification", limitCheck{a.throttle.signIn, checkout.ClientIP(ctx)}); err != nil {
		return "", err
	}
	if !strings.HasPrefix(token, verifyTokenPrefix) || len(token) > 100 {
		return "", checkout.ErrInvalidToken
	}
	return txn.Idempotent(ctx, a.db, "verifyEmail", key, tokenKey(token), func(ctx context.Context, tx *ent.Tx) (string, error) {
		sys := viewer.SystemContext(ctx)
		t, err := a.useToken(sys, tx, token, accounttoken.PurposeEMAIL_VERIFICATION)
		if err != nil {
			return "", err
		}
		n, err := tx.Customer.Update().Where(customer.ID(t.CustomerID), customer.Email(t.Email)).SetEmailVerified(true).Save(sys)
		if err != nil {
			return "", err
		}
		if n == 0 {
			return "", checkout.ErrInvalidToken // the account's address changed since
		}
		return t.Email, nil
	})
}
