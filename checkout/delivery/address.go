package delivery

import (
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent/schema/types"
)

// Address is a postal address (ent/schema/types).
type Address = types.Address

// Contact is who to reach about an order.
type Contact = types.Contact

// countryRule is what an address in one country needs: a postcode of this
// shape (nil: any short code, or none), and a region (state, province)
// where the post needs one.
type countryRule struct {
	postcode         *regexp.Regexp
	postcodeOptional bool
	region           bool
	// format writes a valid postcode the way the post prints it.
	format func(string) string
}

// spaceBefore3 writes "SW1A1AA" as "SW1A 1AA" (the inward code is the last three).
func spaceBefore3(p string) string {
	p = strings.ReplaceAll(p, " ", "")
	return p[:len(p)-3] + " " + p[len(p)-3:]
}

// spaceAfter4 writes "1234AB" as "1234 AB".
func spaceAfter4(p string) string {
	p = strings.ReplaceAll(p, " ", "")
	return p[:4] + " " + p[4:]
}

// countryRules: the countries the shop ships to most, each with its post's
// postcode shape. Any other country gets defaultRule.
var countryRules = map[string]countryRule{
	"DE": {postcode: regexp.MustCompile(`^\d{5}$`)},
	"FR": {postcode: regexp.MustCompile(`^\d{5}$`)},
	"ES": {postcode: regexp.MustCompile(`^\d{5}$`)},
	"IT": {postcode: regexp.MustCompile(`^\d{5}$`)},
	"AT": {postcode: regexp.MustCompile(`^\d{4}$`)},
	"BE": {postcode: regexp.MustCompile(`^\d{4}$`)},
	"CH": {postcode: regexp.MustCompile(`^\d{4}$`)},
	"DK": {postcode: regexp.MustCompile(`^\d{4}$`)},
	"NL": {postcode: regexp.MustCompile(`^\d{4} ?[A-Z]{2}$`), format: spaceAfter4},
	"GB": {postcode: regexp.MustCompile(`^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$`), format: spaceBefore3},
	"US": {postcode: regexp.MustCompile(`^\d{5}(-\d{4})?$`), region: true},
	"CA": {postcode: regexp.MustCompile(`^[A-Z]\d[A-Z] ?\d[A-Z]\d$`), region: true, format: spaceBefore3},
	"IE": {postcode: regexp.MustCompile(`^[A-Z]\d[\dW] ?[A-Z\d]{4}$`), postcodeOptional: true, format: spaceBefore4},
}

// spaceBefore4 writes an Eircode "D02X285" as "D02 X285".
func spaceBefore4(p string) string {
	p = strings.ReplaceAll(p, " ", "")
	return p[:len(p)-4] + " " + p[len(p)-4:]
}

// defaultRule: a postcode is optional and, if given, short letters,
// digits, spaces and dashes.
var defaultRule = countryRule{postcode: regexp.MustCompile(`^[A-Z0-9][A-Z0-9 -]{0,11}$`), postcodeOptional: true}

func ruleFor(country string) countryRule {
	if r, ok := countryRules[country]; ok {
		return r
	}
	return defaultRule
}

// ValidCountry returns s as an ISO 3166-1 alpha-2 country code in upper
// case, or a refusal naming field.
func ValidCountry(field, s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if len(c) != 2 {
		return "", checkout.BadInput(field, "%q is not an ISO 3166-1 country code like DE or GB", s)
	}
	r, err := language.ParseRegion(c)
	if err != nil || !r.IsCountry() || r.String() != c {
		return "", checkout.BadInput(field, "%q is not an ISO 3166-1 country code like DE or GB", s)
	}
	return c, nil
}

// NormalizePostcode is how postcodes are compared: upper case, no spaces.
func NormalizePostcode(p string) string {
	return strings.ToUpper(strings.Join(strings.Fields(p), ""))
}

// text trims s and refuses it if it is too long, holds control
// characters, or is empty when required.
func text(field, s string, maxLen int, required bool) (string, error) {
	s = strings.Join(strings.Fields(s), " ")
	switch {
	case s == "" && required:
		return "", checkout.BadInput(field, "is required")
	case utf8.RuneCountInString(s) > maxLen:
		return "", checkout.BadInput(field, "is longer than %d characters", maxLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", checkout.BadInput(field, "holds control characters")
	}
	return s, nil
}

var phoneRE = regexp.MustCompile(`^\+?[0-9 ()./-]{4,24}$`)

// ValidatePhone refuses what cannot be a phone number; "" is none.
func ValidatePhone(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if !phoneRE.MatchString(s) || strings.Count(s, "+") > 1 {
		return "", checkout.BadInput(field, "%q is not a phone number", s)
	}
	return s, nil
}

// ValidateAddress checks a by the rules of its country and returns it
// cleaned (trimmed, country and postcode written the post's way). A
// refusal names the field, under prefix ("address.postcode").
func ValidateAddress(prefix string, a Address) (Address, error) {
	f := func(name string) string { return prefix + "." + name }
	var err error
	if a.Country, err = ValidCountry(f("country"), a.Country); err != nil {
		return a, err
	}
	rule := ruleFor(a.Country)
	if a.Name, err = text(f("name"), a.Name, 200, true); err != nil {
		return a, err
	}
	if a.Company, err = text(f("company"), a.Company, 200, false); err != nil {
		return a, err
	}
	if a.Line1, err = text(f("line1"), a.Line1, 200, true); err != nil {
		return a, err
	}
	if a.Line2, err = text(f("line2"), a.Line2, 200, false); err != nil {
		return a, err
	}
	if a.City, err = text(f("city"), a.City, 100, true); err != nil {
		return a, err
	}
	if a.Region, err = text(f("region"), a.Region, 100, rule.region); err != nil {
		return a, err
	}
	if a.Phone, err = ValidatePhone(f("phone"), a.Phone); err != nil {
		return a, err
	}
	pc := strings.ToUpper(strings.Join(strings.Fields(a.Postcode), " "))
	switch {
	case pc == "" && !rule.postcodeOptional:
		return a, checkout.BadInput(f("postcode"), "is required in %s", a.Country)
	case pc != "" && !rule.postcode.MatchString(pc):
		return a, checkout.BadInput(f("postcode"), "%q is not a postcode of %s", a.Postcode, a.Country)
	case pc != "" && rule.format != nil:
		pc = rule.format(pc)
	}
	a.Postcode = pc
	if (a.Lat == nil) != (a.Lng == nil) {
		return a, checkout.BadInput(f("lat"), "give both lat and lng, or neither")
	}
	if a.Lat != nil {
		if math.IsNaN(*a.Lat) || *a.Lat < -90 || *a.Lat > 90 {
			return a, checkout.BadInput(f("lat"), "must be between -90 and 90")
		}
		if math.IsNaN(*a.Lng) || *a.Lng < -180 || *a.Lng > 180 {
			return a, checkout.BadInput(f("lng"), "must be between -180 and 180")
		}
	}
	return a, nil
}

// ValidateContact checks who to reach about an order.
func ValidateContact(prefix string, c Contact) (Contact, error) {
	var err error
	if c.Name, err = text(prefix+".name", c.Name, 200, false); err != nil {
		return c, err
	}
	if c.Email, err = text(prefix+".email", c.Email, 254, false); err != nil {
		return c, err
	}
	if c.Email != "" && (strings.Count(c.Email, "@") != 1 || strings.HasPrefix(c.Email, "@") || strings.HasSuffix(c.Email, "@") ||
		strings.ContainsAny(c.Email, " ,;<>")) {
		return c, checkout.BadInput(prefix+".email", "%q is not an email address", c.Email)
	}
	if c.Phone, err = ValidatePhone(prefix+".phone", c.Phone); err != nil {
		return c, err
	}
	return c, nil
}

// earthRadiusKm is the mean radius of the earth.
const earthRadiusKm = 6371.0088

// DistanceKm is the great-circle distance between two points (haversine).
func DistanceKm(lat1, lng1, lat2, lng2 float64) float64 {
	rad := math.Pi / 180
	dLat, dLng := (lat2-lat1)*rad, (lng2-lng1)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(h)))
}
