package hubs

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/setting"
	"github.com/merchd/merchd/ent/viewer"
)

// Signed codes are what central vouches for and a hub checks without a
// link: a customer's wallet pass, the receipt of a phone-paid hub sale.
// A code is "M1.<payload>.<signature>", both unpadded base64url, the
// signature ed25519 over the payload, the payload JSON naming its kind, so
// a code of one kind never passes as another.
const signedPrefix = "M1."

// ErrBadSignedCode is a code central did not sign, or of another kind.
var ErrBadSignedCode = &checkout.InputError{Field: "code", Msg: "this code is not valid (damaged, expired or not from this shop)"}

// Signer signs codes with central's ed25519 key, generated once and kept in
// the database.
type Signer struct {
	priv ed25519.PrivateKey
	Verifier
}

// NewSigner loads (or creates) central's signing key.
func NewSigner(ctx context.Context, db *ent.Client) (*Signer, error) {
	sys := viewer.SystemContext(ctx)
	_, fresh, _ := ed25519.GenerateKey(rand.Reader)
	if err := db.Setting.Create().SetKey("signing_key").SetValue(fresh.Seed()).
		OnConflictColumns(setting.FieldKey).Ignore().Exec(sys); err != nil {
		return nil, fmt.Errorf("hubs: signing key: %w", err)
	}
	s, err := db.Setting.Query().Where(setting.Key("signing_key")).Only(sys)
	if err != nil {
		return nil, fmt.Errorf("hubs: signing key: %w", err)
	}
	if len(s.Value) != ed25519.SeedSize {
		return nil, fmt.Errorf("hubs: signing key: stored seed has %d bytes", len(s.Value))
	}
	priv := ed25519.NewKeyFromSeed(s.Value)
	return &Signer{priv: priv, Verifier: Verifier{pub: priv.Public().(ed25519.PublicKey)}}, nil
}

// Sign returns the code for payload, whose JSON must carry its kind in "k".
func (s *Signer) Sign(payload any) string {
	body, _ := json.Marshal(payload)
	enc := base64.RawURLEncoding.EncodeToString
	return signedPrefix + enc(body) + "." + enc(ed25519.Sign(s.priv, body))
}

// Verifier checks codes with central's public key; a hub holds one.
type Verifier struct{ pub ed25519.PublicKey }

// ParsePublicKey reads a key as PublicKey prints it.
func ParsePublicKey(s string) (Verifier, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return Verifier{}, fmt.Errorf("hubs: %q is not an ed25519 public key (32 bytes, base64url)", s)
	}
	return Verifier{pub: b}, nil
}

// PublicKey is the key hubs verify with, base64url.
func (v Verifier) PublicKey() string { return base64.RawURLEncoding.EncodeToString(v.pub) }

// Verify checks code's signature and kind and decodes its payload into out.
func (v Verifier) Verify(code, kind string, out any) error {
	if len(v.pub) == 0 || len(code) > 4096 {
		return ErrBadSignedCode
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(code), signedPrefix)
	b64, sig64, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return ErrBadSignedCode
	}
	body, err1 := base64.RawURLEncoding.DecodeString(b64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil || !ed25519.Verify(v.pub, body, sig) {
		return ErrBadSignedCode
	}
	var k struct {
		K string `json:"k"`
	}
	if json.Unmarshal(body, &k) != nil || k.K != kind {
		return ErrBadSignedCode
	}
	if json.Unmarshal(body, out) != nil {
		return ErrBadSignedCode
	}
	return nil
}

// WalletPass lets a customer spend their wallet at a hub without a link:
// the hub checks central's signature and spends against the balance it
// last synced, up to its offline limit.
type WalletPass struct {
	Kind       string `json:"k"` // "wallet"
	CustomerID int    `json:"c"`
	Currency   string `json:"cur"`
	Expires    int64  `json:"exp"` // unix seconds
}

// Kinds of signed code.
const (
	kindWalletPass  = "wallet"
	KindHubReceipt  = "receipt"
	walletPassValid = 24 * time.Hour
)

// IssueWalletPass signs a pass for customerID's wallet in currency.
func (s *Signer) IssueWalletPass(customerID int, currency string, now time.Time) (string, time.Time) {
	exp := now.Add(walletPassValid).Truncate(time.Second)
	return s.Sign(WalletPass{Kind: kindWalletPass, CustomerID: customerID, Currency: currency, Expires: exp.Unix()}), exp
}

// WalletPass checks a pass as of now: a hub selling checks it at its own
// clock, central recording a hub's sale at the sale's time. There is no
// "don't check": a zero now is a pass expired long since.
func (v Verifier) WalletPass(code string, now time.Time) (WalletPass, error) {
	var p WalletPass
	if err := v.Verify(code, kindWalletPass, &p); err != nil {
		return p, &checkout.InputError{Field: "walletPass", Msg: ErrBadSignedCode.Msg}
	}
	if now.IsZero() || now.Unix() > p.Expires {
		return p, checkout.BadInput("walletPass", "this wallet pass expired at %s; open the wallet page again for a fresh one",
			time.Unix(p.Expires, 0).UTC().Format(time.RFC3339))
	}
	return p, nil
}

// HubReceipt is central's word that a phone-paid hub sale is paid.
type HubReceipt struct {
	Kind     string `json:"k"` // "receipt"
	SaleID   string `json:"s"`
	Hub      string `json:"h"`
	Amount   int64  `json:"a"`
	Currency string `json:"cur"`
}
