package hubs

import (
	"crypto/ed25519"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
)

// paymentRequestCases are DecodePaymentRequest's table, also the fuzz
// seeds: whether each request is taken.
var paymentRequestCases = []struct {
	name string
	req  PaymentRequest
	ok   bool
}{
	{"one line", PaymentRequest{SaleID: "s1", Hub: "fest", Amount: 5000, Currency: "EUR", Lines: []SaleLine{{SKU: "TEE-M", Quantity: 2, UnitAmount: 2500}}}, true},
	{"two lines", PaymentRequest{SaleID: "s2", Hub: "fest", Amount: 5100, Currency: "EUR", Lines: []SaleLine{{SKU: "A", Quantity: 2, UnitAmount: 2500}, {SKU: "B", Quantity: 1, UnitAmount: 100}}}, true},
	{"amount does not add up", PaymentRequest{SaleID: "s3", Hub: "fest", Amount: 1, Currency: "EUR", Lines: []SaleLine{{SKU: "A", Quantity: 2, UnitAmount: 2500}}}, false},
	{"4 × 2^62 + 1 wraps to 1", PaymentRequest{SaleID: "s4", Hub: "fest", Amount: 1, Currency: "EUR", Lines: []SaleLine{{SKU: "A", Quantity: 4, UnitAmount: 1 << 62}, {SKU: "B", Quantity: 1, UnitAmount: 1}}}, false},
	{"price above any", PaymentRequest{SaleID: "s5", Hub: "fest", Amount: math.MaxInt64, Currency: "EUR", Lines: []SaleLine{{SKU: "A", Quantity: 1, UnitAmount: math.MaxInt64}}}, false},
	{"negative price", PaymentRequest{SaleID: "s6", Hub: "fest", Amount: 0, Currency: "EUR", Lines: []SaleLine{{SKU: "A", Quantity: 1, UnitAmount: -5}, {SKU: "B", Quantity: 1, UnitAmount: 5}}}, false},
	{"no lines", PaymentRequest{SaleID: "s7", Hub: "fest", Amount: 1, Currency: "EUR"}, false},
	{"bad hub", PaymentRequest{SaleID: "s8", Hub: "bad hub!", Amount: 100, Currency: "EUR", Lines: []SaleLine{{SKU: "A", Quantity: 1, UnitAmount: 100}}}, false},
	{"bad currency", PaymentRequest{SaleID: "s9", Hub: "fest", Amount: 100, Currency: "E", Lines: []SaleLine{{SKU: "A", Quantity: 1, UnitAmount: 100}}}, false},
	{"no sale id", PaymentRequest{Hub: "fest", Amount: 100, Currency: "EUR", Lines: []SaleLine{{SKU: "A", Quantity: 1, UnitAmount: 100}}}, false},
	{"quantity 0", PaymentRequest{SaleID: "s10", Hub: "fest", Amount: 0, Currency: "EUR", Lines: []SaleLine{{SKU: "A", Quantity: 0, UnitAmount: 100}}}, false},
}

func TestDecodePaymentRequest(t *testing.T) {
	for _, c := range paymentRequestCases {
		got, err := DecodePaymentRequest(c.req.Encode())
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if err == nil && !reflect.DeepEqual(got, c.req) {
			t.Errorf("%s: decoded %+v", c.name, got)
		}
	}
	for _, s := range []string{"", "#", "not-base64!", "e30", strings.Repeat("A", 20000)} {
		if _, err := DecodePaymentRequest(s); err == nil {
			t.Errorf("%q decoded", s)
		}
	}
}

// FuzzDecodePaymentRequest: any input either is refused or is a request
// whose lines are in bounds and add up, without overflow, to its amount,
// and which survives encoding again.
func FuzzDecodePaymentRequest(f *testing.F) {
	for _, c := range paymentRequestCases {
		f.Add(c.req.Encode())
	}
	f.Add("#" + paymentRequestCases[0].req.Encode())
	f.Add("not-base64!")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := DecodePaymentRequest(s)
		if err != nil {
			return
		}
		var sum int64
		for _, l := range r.Lines {
			if l.Quantity < 1 || l.Quantity > 100 || l.UnitAmount < 0 || l.UnitAmount > checkout.MaxPrice {
				t.Fatalf("line out of bounds: %+v", l)
			}
			sum += int64(l.Quantity) * l.UnitAmount // cannot overflow within those bounds
		}
		if sum != r.Amount || r.Amount < 1 || len(r.Lines) < 1 || len(r.Lines) > 50 {
			t.Fatalf("taken: %+v", r)
		}
		again, err := DecodePaymentRequest(r.Encode())
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("re-encoded %+v: %v", again, err)
		}
	})
}

// testSigner is a Signer with a fixed key, without a database.
func testSigner() *Signer {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	return &Signer{priv: priv, Verifier: Verifier{pub: priv.Public().(ed25519.PublicKey)}}
}

func TestVerifierRefuses(t *testing.T) {
	s := testSigner()
	pass, _ := s.IssueWalletPass(7, "EUR", time.Unix(1_800_000_000, 0))
	receipt := s.Sign(HubReceipt{Kind: KindHubReceipt, SaleID: "s1", Hub: "fest", Amount: 100, Currency: "EUR"})
	other := testSigner()
	other.priv = ed25519.NewKeyFromSeed([]byte(strings.Repeat("x", ed25519.SeedSize)))
	for name, c := range map[string]struct {
		code, kind string
		ok         bool
	}{
		"a pass":                {pass, kindWalletPass, true},
		"a receipt":             {receipt, KindHubReceipt, true},
		"a receipt as a pass":   {receipt, kindWalletPass, false},
		"a pass as a receipt":   {pass, KindHubReceipt, false},
		"another key":           {other.Sign(WalletPass{Kind: kindWalletPass, CustomerID: 7}), kindWalletPass, false},
		"tampered":              {pass[:len(pass)-3] + "AAA", kindWalletPass, false},
		"no prefix":             {strings.TrimPrefix(pass, signedPrefix), kindWalletPass, false},
		"empty":                 {"", kindWalletPass, false},
		"too long":              {signedPrefix + strings.Repeat("A", 5000) + ".A", kindWalletPass, false},
		"payload without a dot": {signedPrefix + "AAAA", kindWalletPass, false},
	} {
		var out json.RawMessage
		if err := s.Verify(c.code, c.kind, &out); (err == nil) != c.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.WalletPass(pass, time.Time{}); err == nil {
		t.Error("a zero now accepted a pass")
	}
	if _, err := s.WalletPass(pass, time.Unix(1_800_000_000, 0).Add(25*time.Hour)); err == nil {
		t.Error("an expired pass was accepted")
	}
}

// FuzzVerify: whatever the code, Verify does not panic, and what it takes
// is of the kind asked, never of two kinds at once.
func FuzzVerify(f *testing.F) {
	s := testSigner()
	pass, _ := s.IssueWalletPass(7, "EUR", time.Unix(1_800_000_000, 0))
	f.Add(pass)
	f.Add(s.Sign(HubReceipt{Kind: KindHubReceipt, SaleID: "s1", Hub: "fest", Amount: 100, Currency: "EUR"}))
	f.Add(pass[:len(pass)-3] + "AAA")
	f.Add(signedPrefix + ".")
	f.Add("")
	f.Fuzz(func(t *testing.T, code string) {
		var p WalletPass
		walletOK := s.Verify(code, kindWalletPass, &p) == nil
		var r HubReceipt
		receiptOK := s.Verify(code, KindHubReceipt, &r) == nil
		if walletOK && receiptOK {
			t.Fatalf("%q verifies as two kinds", code)
		}
		if walletOK && p.Kind != kindWalletPass || receiptOK && r.Kind != KindHubReceipt {
			t.Fatalf("%q verified with kind %q/%q", code, p.Kind, r.Kind)
		}
	})
}
