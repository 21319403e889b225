package checkout

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/merchd/merchd/ent"
)

// Every amount in merchd is an integer in minor units of an ISO 4217
// currency, the same integer Stripe charges. This file is the one place
// that knows what a currency code may be and how many digits its minor
// unit has: inputs (wallets, top-ups, credit, hub sales, products, the
// shop's --currency) go through ParseCurrency, and everything shown to
// people (API, pages, receipts) through CurrencyDigits and the formatters.

// tender is every ISO 4217 currency that is legal tender today (no
// historical codes, no XXX/XTS/metals), from golang.org/x/text/currency.
var tender = sync.OnceValue(func() map[string]bool {
	set := map[string]bool{}
	for it := currency.Query(); it.Next(); {
		set[it.Unit().String()] = true
	}
	return set
})

// Stripe's own minor units where they differ from ISO 4217: its
// zero-decimal and three-decimal currencies, and every other currency it
// takes as two-decimal — including ISK and UGX, which Stripe wants as
// amounts × 100 (https://docs.stripe.com/currencies#special-cases).
var (
	stripeZeroDecimal = map[string]bool{
		"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true, "KMF": true, "KRW": true, "MGA": true,
		"PYG": true, "RWF": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true,
	}
	stripeThreeDecimal = map[string]bool{"BHD": true, "JOD": true, "KWD": true, "OMR": true, "TND": true}
)

// ParseCurrency returns code if it is an ISO 4217 currency in use today,
// written in upper case (EUR); anything else is refused as bad input.
func ParseCurrency(code string) (string, error) {
	if len(code) != 3 || strings.ToUpper(code) != code {
		return "", BadInput("currency", "%q is not an ISO 4217 code like EUR", code)
	}
	if _, err := currency.ParseISO(code); err != nil || !tender()[code] {
		return "", BadInput("currency", "%q is not an ISO 4217 currency in use", code)
	}
	return code, nil
}

// IsCurrencyCode reports whether ParseCurrency accepts s.
func IsCurrencyCode(s string) bool {
	_, err := ParseCurrency(s)
	return err == nil
}

// CurrencyDigits is how many decimal digits the minor unit of an accepted
// currency has, as Stripe counts them: JPY 0, EUR 2, KWD 3.
func CurrencyDigits(code string) int {
	switch {
	case stripeZeroDecimal[code]:
		return 0
	case stripeThreeDecimal[code]:
		return 3
	}
	u, err := currency.ParseISO(code)
	if err != nil {
		return 2
	}
	if d, _ := currency.Standard.Rounding(u); d == 2 || d == 3 {
		return d
	}
	return 2 // ISO's zero-decimal currencies Stripe does not list are two-decimal to Stripe
}

// number writes minor units of currency code as a grouped decimal
// number, without sign: 350000 EUR → "3,500.00", 3500 JPY → "3,500".
func number(minor uint64, code string) string {
	d := CurrencyDigits(code)
	s := strconv.FormatUint(minor, 10)
	if len(s) <= d {
		s = strings.Repeat("0", d-len(s)+1) + s
	}
	whole, frac := s[:len(s)-d], s[len(s)-d:]
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if d > 0 {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

func abs(minor int64) (uint64, string) {
	if minor < 0 {
		return uint64(-(minor + 1)) + 1, "-" // no overflow at math.MinInt64
	}
	return uint64(minor), ""
}

// FormatMoney writes an amount in plain ASCII with its code, for receipts
// (ESC/POS code page 437 has no € sign), logs and messages:
// "3,500 JPY", "35.00 EUR", "-1.250 KWD".
func FormatMoney(minor int64, code string) string {
	n, sign := abs(minor)
	return sign + number(n, code) + " " + code
}

var symbols sync.Map // code → symbol

func symbol(code string) string {
	if s, ok := symbols.Load(code); ok {
		return s.(string)
	}
	s := code
	if u, err := currency.ParseISO(code); err == nil {
		s = message.NewPrinter(language.English).Sprint(currency.Symbol(u))
	}
	symbols.Store(code, s)
	return s
}

// DisplayMoney writes an amount for people, with the currency's symbol
// where it has one: "¥3,500", "€35.00", "-$1.50", "CHF 12.00".
func DisplayMoney(minor int64, code string) string {
	n, sign := abs(minor)
	sym := symbol(code)
	if strings.IndexFunc(sym, func(r rune) bool { return !unicode.IsLetter(r) }) < 0 {
		return sign + sym + " " + number(n, code)
	}
	return fmt.Sprintf("%s%s%s", sign, sym, number(n, code))
}

// errMoneyOverflow is a sum of money too large to hold: refused, never
// wrapped around.
var errMoneyOverflow = errors.New("amount out of range")

// LineAmount is quantity × unit with overflow checked; both must be
// non-negative.
func LineAmount(quantity int, unit int64) (int64, error) {
	if quantity < 0 || unit < 0 {
		return 0, errMoneyOverflow
	}
	if quantity != 0 && unit > math.MaxInt64/int64(quantity) {
		return 0, errMoneyOverflow
	}
	return int64(quantity) * unit, nil
}

// AddMoney is a + b for non-negative amounts, overflow checked.
func AddMoney(a, b int64) (int64, error) {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return 0, errMoneyOverflow
	}
	return a + b, nil
}

func EqualFoldCurrency(a, b string) bool {
	return len(a) == 3 && len(b) == 3 && (a == b || ToUpper(a) == ToUpper(b))
}

func ToUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// Money is an amount in minor units of an ISO 4217 currency.
type Money = ent.Money

// MaxPrice bounds prices (10 million in major units of a 2-decimal currency):
// a bigger number is a typo, not a product.
const MaxPrice = 1_000_000_000

// MaxStock bounds a stock level for the same reason.
const MaxStock = 10_000_000
