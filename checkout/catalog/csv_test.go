package catalog

import (
	"strings"
	"testing"
)

var amountCases = []struct {
	in, currency string
	want         int64
	ok           bool
}{
	{"25.00", "EUR", 2500, true},
	{"25", "EUR", 2500, true},
	{"25.5", "EUR", 2550, true},
	{"0.07", "EUR", 7, true},
	{"3500", "JPY", 3500, true},
	{"1.234", "KWD", 1234, true},
	{"1.5", "JPY", 0, false},
	{"1.001", "EUR", 0, false},
	{"-1", "EUR", 0, false},
	{"1e3", "EUR", 0, false},
	{"", "EUR", 0, false},
	{".5", "EUR", 0, false},
	{"5.", "EUR", 0, false},
	{"99999999999999999999", "EUR", 0, false},
}

func TestParseAmount(t *testing.T) {
	for _, c := range amountCases {
		got, err := parseAmount("price", c.in, c.currency)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseAmount(%q, %s) = %d, %v; want %d ok=%v", c.in, c.currency, got, err, c.want, c.ok)
		}
	}
}

// FuzzAmount: whatever parses writes back to the same minor units, and
// no input panics.
func FuzzAmount(f *testing.F) {
	for _, c := range amountCases {
		f.Add(c.in, c.currency)
	}
	f.Fuzz(func(t *testing.T, in, currency string) {
		n, err := parseAmount("price", in, currency)
		if err != nil {
			return
		}
		back, err := parseAmount("price", formatAmount(n, currency), currency)
		if err != nil || back != n {
			t.Fatalf("%q %s → %d → %q → %d, %v", in, currency, n, formatAmount(n, currency), back, err)
		}
	})
}

func TestSpreadsheetSafe(t *testing.T) {
	for in, want := range map[string]string{"=cmd()": "'=cmd()", "-5": "-5", "+tee": "'+tee", "@x": "'@x", "Owl": "Owl", "": ""} {
		if got := spreadsheetSafe(in); got != want || unquote(got) != in {
			t.Errorf("spreadsheetSafe(%q) = %q (back %q)", in, got, unquote(got))
		}
	}
	if strings.HasPrefix(unquote("'hello"), "h") {
		t.Error("an apostrophe before plain text is kept")
	}
}
