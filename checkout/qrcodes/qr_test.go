package qrcodes

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// testQR is a verifier with a fixed secret, and sign makes the code it
// would issue for body.
func testQR() *Service { return &Service{secret: []byte("0123456789abcdef0123456789abcdef")} }

func sign(q *Service, body []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc(body) + "." + enc(q.mac(body))
}

func qrCases(q *Service) []struct {
	name, code string
	ok         bool
} {
	body, _ := json.Marshal(QRPayload{HubID: 7, ProductIDs: []int{1, 2}, Label: "Stand B", Nonce: "abcdefgh"})
	good := sign(q, body)
	b64, sig, _ := strings.Cut(good, ".")
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	// The signature's last character carries 4 unused bits: another
	// spelling of the same bytes.
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	respelled := sig[:len(sig)-1] + string(alphabet[last^1])
	other := &Service{secret: []byte("another shop's secret, 32 bytes!")}
	return []struct {
		name, code string
		ok         bool
	}{
		{"issued", good, true},
		{"empty", "", false},
		{"no signature", b64, false},
		{"empty signature", b64 + ".", false},
		{"body changed", flip(b64, 3) + "." + sig, false},
		{"signature changed", b64 + "." + flip(sig, 2), false},
		{"signature truncated", b64 + "." + sig[:len(sig)-2], false},
		{"two dots", good + ".x", false},
		{"signature respelled", b64 + "." + respelled, false},
		{"line break inside", b64[:10] + "\n" + b64[10:] + "." + sig, false}, // found by FuzzQRCodesVerify
		{"CR at the end", good + "\r", false},
		{"padded base64", b64 + "==." + sig, false},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/", false},
		{"another shop", sign(other, body), false},
		{"signed, not JSON", sign(q, []byte("not json")), false},
		{"signed, wrong JSON type", sign(q, []byte(`{"h":"seven","n":"x"}`)), false},
		{"too long", sign(q, []byte(`{"l":"`+strings.Repeat("x", 2000)+`","n":"x"}`)), false},
		{"whitespace", " " + good, false},
	}
}

func TestQRCodesVerify(t *testing.T) {
	q := testQR()
	for _, tc := range qrCases(q) {
		p, err := q.Verify(tc.code)
		switch {
		case tc.ok && (err != nil || p.HubID != 7 || len(p.ProductIDs) != 2 || p.Label != "Stand B"):
			t.Errorf("%s: %+v, %v", tc.name, p, err)
		case !tc.ok && !errors.Is(err, ErrBadQRCode):
			t.Errorf("%s: accepted %+v (err %v)", tc.name, p, err)
		}
	}
}

// FuzzQRCodesVerify: Verify never panics, refuses with ErrBadQRCode only,
// and accepts only the one spelling merchd issues for a body it signed.
func FuzzQRCodesVerify(f *testing.F) {
	q := testQR()
	for _, tc := range qrCases(q) {
		f.Add(tc.code)
	}
	f.Fuzz(func(t *testing.T, code string) {
		p, err := q.Verify(code)
		if err != nil {
			if err != ErrBadQRCode {
				t.Fatalf("Verify(%q): %v, want ErrBadQRCode", code, err)
			}
			return
		}
		b64, _, _ := strings.Cut(code, ".")
		body, derr := base64.RawURLEncoding.Strict().DecodeString(b64)
		if derr != nil || sign(q, body) != code {
			t.Fatalf("accepted %q, which is not the issued spelling of its body", code)
		}
		var again QRPayload
		if json.Unmarshal(body, &again) != nil || len(again.ProductIDs) != len(p.ProductIDs) || again.HubID != p.HubID {
			t.Fatalf("accepted %q: payload %+v does not decode again", code, p)
		}
	})
}
