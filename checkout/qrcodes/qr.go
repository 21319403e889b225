package qrcodes

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/setting"
	"github.com/merchd/merchd/ent/viewer"
)

// QRPayload is what a QR code sells: a venue (hub), some products, a label.
type QRPayload struct {
	HubID      int    `json:"h,omitempty"`
	ProductIDs []int  `json:"p,omitempty"`
	Label      string `json:"l,omitempty"`
	Nonce      string `json:"n"`
}

// ErrBadQRCode is a QR code merchd did not sign.
var ErrBadQRCode = &checkout.InputError{Field: "code", Msg: "this QR code is not valid (damaged or not from this shop)"}

// Service signs and checks QR codes and derives pickup codes, with a
// secret generated once and kept in the database.
type Service struct {
	db     *ent.Client
	secret []byte
}

// New loads (or creates) the signing secret.
func New(ctx context.Context, db *ent.Client) (*Service, error) {
	sys := viewer.SystemContext(ctx)
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	if err := db.Setting.Create().SetKey("qr_secret").SetValue(fresh).OnConflictColumns(setting.FieldKey).Ignore().Exec(sys); err != nil {
		return nil, fmt.Errorf("qrcodes: qr secret: %w", err)
	}
	s, err := db.Setting.Query().Where(setting.Key("qr_secret")).Only(sys)
	if err != nil {
		return nil, fmt.Errorf("qrcodes: qr secret: %w", err)
	}
	return &Service{db: db, secret: s.Value}, nil
}

func (q *Service) mac(b []byte) []byte {
	m := hmac.New(sha256.New, q.secret)
	m.Write(b)
	return m.Sum(nil)[:16]
}

// Issue signs a code for a hub and/or products (staff).
func (q *Service) Issue(ctx context.Context, p QRPayload) (string, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return "", err
	}
	if p.HubID == 0 && len(p.ProductIDs) == 0 {
		return "", checkout.BadInput("", "a QR code needs a hub or some products")
	}
	if len(p.ProductIDs) > 50 || len(p.Label) > 100 {
		return "", checkout.BadInput("productIds", "at most 50 products and a 100-character label")
	}
	sys := viewer.SystemContext(ctx)
	if p.HubID != 0 {
		if _, err := q.db.Location.Query().Where(location.ID(p.HubID)).Only(sys); err != nil {
			return "", checkout.NotFoundAs(err, "hub")
		}
	}
	if len(p.ProductIDs) > 0 {
		n, err := q.db.Product.Query().Where(product.IDIn(p.ProductIDs...)).Count(sys)
		if err != nil {
			return "", err
		}
		if n != len(p.ProductIDs) {
			return "", checkout.BadInput("productIds", "some products do not exist")
		}
	}
	nonce := make([]byte, 6)
	_, _ = rand.Read(nonce)
	p.Nonce = base64.RawURLEncoding.EncodeToString(nonce)
	body, _ := json.Marshal(p)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(body) + "." + enc(q.mac(body)), nil
}

// Verify checks a code's signature and returns what it sells.
func (q *Service) Verify(code string) (QRPayload, error) {
	var p QRPayload
	if len(code) > 2048 {
		return p, ErrBadQRCode
	}
	b64, sig64, ok := strings.Cut(code, ".")
	if !ok {
		return p, ErrBadQRCode
	}
	// One spelling per code, so a code can serve as a key: strict about
	// unused bits, and no line breaks (which the decoder skips).
	dec := base64.RawURLEncoding.Strict()
	body, err1 := dec.DecodeString(b64)
	sig, err2 := dec.DecodeString(sig64)
	if err1 != nil || err2 != nil || strings.ContainsAny(code, "\r\n") || !hmac.Equal(sig, q.mac(body)) {
		return p, ErrBadQRCode
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, ErrBadQRCode
	}
	return p, nil
}

// PickupCode is a 4-digit code a buyer shows to collect an order; staff
// can recompute it from the order.
func (q *Service) PickupCode(orderID int) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(orderID))
	sum := q.mac(append([]byte("pickup:"), b[:]...))
	return fmt.Sprintf("%04d", binary.BigEndian.Uint32(sum)%10000)
}
