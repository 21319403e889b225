package edge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/edge"
	"github.com/merchd/merchd/hardware"
)

// TestFinding12_ReceiptCurrencyDigits: a receipt writes amounts in the
// currency's own minor unit: the ¥3,500 tee is 3,500 JPY, not 35.00 JPY.
func TestFinding12_ReceiptCurrencyDigits(t *testing.T) {
	for _, tc := range []struct {
		currency string
		unit     int64
		tot      string
	}{
		{"JPY", 3500, "7,000 JPY"},
		{"EUR", 3500, "70.00 EUR"},
		{"KWD", 3500, "7.000 KWD"},
	} {
		s := hubs.RemoteSale{SaleID: "s-" + tc.currency, Hub: "popup", Currency: tc.currency, PaidWith: "CASH",
			SoldAt: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), Lines: []hubs.SaleLine{{SKU: "TEE-M", Quantity: 2, UnitAmount: tc.unit}}}
		p, err := hardware.Parse(edge.SaleReceipt("Shop", 42, "", s).Bytes())
		if err != nil {
			t.Fatal(err)
		}
		var text []string
		for _, l := range p.Lines {
			text = append(text, l.Text)
		}
		all := strings.Join(text, "\n")
		if !strings.Contains(all, "2 x TEE-M") || !strings.Contains(all, tc.tot) {
			t.Errorf("%s receipt lacks %q:\n%s", tc.currency, tc.tot, all)
		}
		// The line's amount is its total (2 × unit); the unit amount in the
		// wrong digits must not appear anywhere.
		if tc.currency == "JPY" && strings.Contains(all, "35.00") {
			t.Errorf("JPY printed with cents:\n%s", all)
		}
	}
}
