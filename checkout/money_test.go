package checkout

import (
	"errors"
	"math"
	"testing"
)

func TestMoneyFormats(t *testing.T) {
	for _, tc := range []struct {
		minor   int64
		code    string
		digits  int
		display string
		plain   string
	}{
		{3500, "JPY", 0, "¥3,500", "3,500 JPY"},
		{350000, "EUR", 2, "€3,500.00", "3,500.00 EUR"},
		{5, "EUR", 2, "€0.05", "0.05 EUR"},
		{-150, "USD", 2, "-$1.50", "-1.50 USD"},
		{1250, "KWD", 3, "KWD 1.250", "1.250 KWD"},
		{1200, "CHF", 2, "CHF 12.00", "12.00 CHF"},
		{0, "KRW", 0, "₩0", "0 KRW"},
		{123456, "ISK", 2, "ISK 1,234.56", "1,234.56 ISK"}, // Stripe takes ISK as two-decimal
		{math.MinInt64, "JPY", 0, "-¥9,223,372,036,854,775,808", "-9,223,372,036,854,775,808 JPY"},
	} {
		if d := CurrencyDigits(tc.code); d != tc.digits {
			t.Errorf("CurrencyDigits(%s) = %d, want %d", tc.code, d, tc.digits)
		}
		if got := DisplayMoney(tc.minor, tc.code); got != tc.display {
			t.Errorf("DisplayMoney(%d, %s) = %q, want %q", tc.minor, tc.code, got, tc.display)
		}
		if got := FormatMoney(tc.minor, tc.code); got != tc.plain {
			t.Errorf("FormatMoney(%d, %s) = %q, want %q", tc.minor, tc.code, got, tc.plain)
		}
	}
}

func TestParseCurrency(t *testing.T) {
	for _, ok := range []string{"EUR", "USD", "JPY", "KWD", "GBP", "XAF"} {
		if got, err := ParseCurrency(ok); err != nil || got != ok {
			t.Errorf("ParseCurrency(%q) = %q, %v", ok, got, err)
		}
	}
	for _, bad := range []string{"zz'", "XYZ", "eur", "EURO", "", "DEM", "XXX", "XTS", "XAU", "E€R"} {
		if _, err := ParseCurrency(bad); !errors.Is(err, ErrBadInput) {
			t.Errorf("ParseCurrency(%q) = %v, want bad input", bad, err)
		}
		if IsCurrencyCode(bad) { // what recordHubSales, payHubSale, memberships and wallets check
			t.Errorf("isCurrencyCode(%q) accepted", bad)
		}
	}
}
