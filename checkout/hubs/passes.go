package hubs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/hubpassspend"
)

// PassKey names a wallet pass by what it says (customer, currency,
// expiry), not by how it is encoded: a pass re-encoded is the same pass.
// Two passes issued to a customer in the same second share one key, and
// so one limit.
func PassKey(p WalletPass) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "wallet-pass\x00%d\x00%s\x00%d", p.CustomerID, p.Currency, p.Expires))
	return hex.EncodeToString(sum[:])
}

// TakeFromPass books, in tx, up to want against what pass may still pay
// at hubs: limit in total, over every sale made with it at every hub
// (hub_pass_spends). A pass is not bound to a hub; the one cumulative
// limit bounds the wallet's offline risk per pass wherever it is used.
// With partial it books as much as fits (central, which records a sale
// the hub already made and calls the rest a shortfall); without, all of
// want or nothing (a hub, which refuses the sale). It returns what it
// booked and what the pass had paid before.
//
// The row is created if absent (a unique index on pass_hash), then
// locked by a no-op update, so the read of spent and the conditional
// update that moves it are one step for concurrent sales with the pass.
func TakeFromPass(ctx context.Context, tx *ent.Tx, dialectName string, pass WalletPass, hub string, want, limit int64, partial bool) (took, paid int64, err error) {
	key := PassKey(pass)
	if _, err := txn.Exec(ctx, tx, dialectName,
		`INSERT INTO hub_pass_spends (pass_hash, customer_id, currency, first_hub, expires_at, spent)
		 VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (pass_hash) DO NOTHING`,
		key, pass.CustomerID, pass.Currency, hub, time.Unix(pass.Expires, 0).UTC()); err != nil {
		return 0, 0, err
	}
	if _, err := txn.Exec(ctx, tx, dialectName, `UPDATE hub_pass_spends SET spent = spent WHERE pass_hash = ?`, key); err != nil {
		return 0, 0, err
	}
	row, err := tx.HubPassSpend.Query().Where(hubpassspend.PassHash(key)).Only(ctx)
	if err != nil {
		return 0, 0, err
	}
	paid = row.Spent
	took = max(min(want, limit-paid), 0)
	if took < want && !partial {
		took = 0
	}
	if took == 0 {
		return 0, paid, nil
	}
	n, err := txn.Exec(ctx, tx, dialectName,
		`UPDATE hub_pass_spends SET spent = spent + ? WHERE pass_hash = ? AND spent + ? <= ?`, took, key, took, limit)
	if err != nil {
		return 0, 0, err
	}
	if n != 1 { // the row is locked: cannot happen
		return 0, 0, fmt.Errorf("wallet pass %s changed while locked", key[:12])
	}
	return took, paid, nil
}

// returnToPass gives back, in tx, amount booked against pass that was not
// spent after all.
func returnToPass(ctx context.Context, tx *ent.Tx, dialectName string, pass WalletPass, amount int64) error {
	n, err := txn.Exec(ctx, tx, dialectName,
		`UPDATE hub_pass_spends SET spent = spent - ? WHERE pass_hash = ? AND spent >= ?`, amount, PassKey(pass), amount)
	if err == nil && n != 1 {
		err = fmt.Errorf("wallet pass %s: cannot return %d", PassKey(pass)[:12], amount)
	}
	return err
}

// IssueWalletPass signs a pass for the signed-in customer's wallet in
// currency (central only).
func (h *Service) IssueWalletPass(ctx context.Context, currency string) (string, time.Time, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	if h.signer == nil {
		return "", time.Time{}, checkout.BadInput("", "wallet passes are issued by central, not by a hub")
	}
	if !checkout.IsCurrencyCode(currency) {
		return "", time.Time{}, checkout.BadInput("currency", "not an ISO currency code: %q", currency)
	}
	code, exp := h.signer.IssueWalletPass(customerID, currency, h.now())
	return code, exp, nil
}

// SigningKey is central's public key, or "" on a hub.
func (h *Service) SigningKey() string {
	if h.signer == nil {
		return ""
	}
	return h.signer.PublicKey()
}
