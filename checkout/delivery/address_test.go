package delivery

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
)

func addr(country, postcode string) Address {
	return Address{Name: "Ada Lovelace", Line1: "1 Main Street", City: "Town", Country: country, Postcode: postcode}
}

var addressCases = []struct {
	name     string
	in       Address
	field    string // "" valid
	postcode string // as written after validation
}{
	{"DE", addr("DE", "10115"), "", "10115"},
	{"DE lower country, spaces", addr(" de ", " 10115 "), "", "10115"},
	{"DE four digits", addr("DE", "1011"), "address.postcode", ""},
	{"DE missing postcode", addr("DE", ""), "address.postcode", ""},
	{"FR", addr("FR", "75001"), "", "75001"},
	{"FR letters", addr("FR", "7500A"), "address.postcode", ""},
	{"ES", addr("ES", "28013"), "", "28013"},
	{"IT", addr("IT", "00184"), "", "00184"},
	{"NL", addr("NL", "1012ab"), "", "1012 AB"},
	{"NL spaced", addr("NL", "1012 AB"), "", "1012 AB"},
	{"NL digits only", addr("NL", "1012"), "address.postcode", ""},
	{"GB", addr("GB", "sw1a1aa"), "", "SW1A 1AA"},
	{"GB short", addr("GB", "M1 1AE"), "", "M1 1AE"},
	{"GB bad", addr("GB", "12345"), "address.postcode", ""},
	{"US needs a region", addr("US", "94103"), "address.region", ""},
	{"US", func() Address { a := addr("US", "94103-1234"); a.Region = "CA"; return a }(), "", "94103-1234"},
	{"US bad zip", func() Address { a := addr("US", "9410"); a.Region = "CA"; return a }(), "address.postcode", ""},
	{"CA", func() Address { a := addr("CA", "k1a0b1"); a.Region = "ON"; return a }(), "", "K1A 0B1"},
	{"IE without Eircode", addr("IE", ""), "", ""},
	{"other country, no postcode", addr("JP", ""), "", ""},
	{"other country, postcode", addr("JP", "100-0001"), "", "100-0001"},
	{"other country, junk postcode", addr("JP", "<script>"), "address.postcode", ""},
	{"unknown country", addr("XX", "1"), "address.country", ""},
	{"three-letter country", addr("DEU", "10115"), "address.country", ""},
	{"no name", func() Address { a := addr("DE", "10115"); a.Name = " "; return a }(), "address.name", ""},
	{"no line1", func() Address { a := addr("DE", "10115"); a.Line1 = ""; return a }(), "address.line1", ""},
	{"no city", func() Address { a := addr("DE", "10115"); a.City = ""; return a }(), "address.city", ""},
	{"control characters", func() Address { a := addr("DE", "10115"); a.Line2 = "a\x00b"; return a }(), "address.line2", ""},
	{"bad phone", func() Address { a := addr("DE", "10115"); a.Phone = "call me"; return a }(), "address.phone", ""},
	{"phone", func() Address { a := addr("DE", "10115"); a.Phone = "+49 (30) 123-4567"; return a }(), "", "10115"},
	{"lat without lng", func() Address { a := addr("DE", "10115"); lat := 52.5; a.Lat = &lat; return a }(), "address.lat", ""},
	{"lat out of range", func() Address {
		a := addr("DE", "10115")
		lat, lng := 91.0, 13.4
		a.Lat, a.Lng = &lat, &lng
		return a
	}(), "address.lat", ""},
	{"lng NaN", func() Address {
		a := addr("DE", "10115")
		lat, lng := 52.5, math.NaN()
		a.Lat, a.Lng = &lat, &lng
		return a
	}(), "address.lng", ""},
}

// TestValidateAddress: each country's rules, and a refusal names the field.
func TestValidateAddress(t *testing.T) {
	for _, c := range addressCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ValidateAddress("address", c.in)
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.Postcode != c.postcode {
					t.Fatalf("postcode %q, want %q", got.Postcode, c.postcode)
				}
				return
			}
			var ie *checkout.InputError
			if !errors.As(err, &ie) || ie.Field != c.field {
				t.Fatalf("err %v, want a refusal of %s", err, c.field)
			}
			if code, _ := checkout.CodeOf(err); code != checkout.CodeBadUserInput {
				t.Fatalf("code %s", code)
			}
		})
	}
}

// FuzzValidateAddress: whatever a client sends, validation answers a
// refusal or an address that validates again to itself.
func FuzzValidateAddress(f *testing.F) {
	for _, c := range addressCases {
		f.Add(c.in.Name, c.in.Line1, c.in.City, c.in.Region, c.in.Postcode, c.in.Country, c.in.Phone)
	}
	f.Fuzz(func(t *testing.T, name, line1, city, region, postcode, country, phone string) {
		a := Address{Name: name, Line1: line1, City: city, Region: region, Postcode: postcode, Country: country, Phone: phone}
		got, err := ValidateAddress("address", a)
		if err != nil {
			if _, ok := checkout.CodeOf(err); !ok {
				t.Fatalf("not a refusal: %v", err)
			}
			return
		}
		again, err := ValidateAddress("address", got)
		if err != nil || again != got {
			t.Fatalf("validated %+v, then %+v, %v", got, again, err)
		}
	})
}

func f64(v float64) *float64 { return &v }
func intp(v int) *int        { return &v }

// TestZoneCovers: postcode lists, prefixes and radii.
func TestZoneCovers(t *testing.T) {
	list := &ent.DeliveryZone{Country: "DE", Postcodes: []string{"10115", "10119"}}
	prefix := &ent.DeliveryZone{Country: "GB", PostcodePrefixes: []string{"SW1", "EC"}}
	ring := &ent.DeliveryZone{Country: "DE", CenterLat: f64(52.5200), CenterLng: f64(13.4050), RadiusKm: f64(5)}
	at := func(a Address, lat, lng float64) *Address { a.Lat, a.Lng = &lat, &lng; return &a }
	cases := []struct {
		z    *ent.DeliveryZone
		a    *Address
		want bool
	}{
		{list, &Address{Country: "DE", Postcode: "10115"}, true},
		{list, &Address{Country: "DE", Postcode: "10117"}, false},
		{list, &Address{Country: "AT", Postcode: "10115"}, false},
		{prefix, &Address{Country: "GB", Postcode: "SW1A 1AA"}, true},
		{prefix, &Address{Country: "GB", Postcode: "ec1a 1bb"}, true},
		{prefix, &Address{Country: "GB", Postcode: "E1 6AN"}, false},
		{ring, at(Address{Country: "DE"}, 52.5163, 13.3777), true},  // Brandenburg Gate, ~1.9 km
		{ring, at(Address{Country: "DE"}, 52.3906, 13.0645), false}, // Potsdam, ~27 km
		{ring, &Address{Country: "DE", Postcode: "10115"}, false},   // no coordinates
	}
	for i, c := range cases {
		if got := ZoneCovers(c.z, c.a); got != c.want {
			t.Errorf("case %d: covers %v, want %v", i, got, c.want)
		}
	}
}

// TestSameDay: the cutoff is in the zone's own time zone.
func TestSameDay(t *testing.T) {
	z := &ent.DeliveryZone{SameDayCutoff: "14:00", Timezone: "Europe/Berlin"}
	// 11:59 UTC is 13:59 in Berlin in summer; 12:00 UTC is 14:00.
	if !sameDay(z, time.Date(2025, 7, 1, 11, 59, 0, 0, time.UTC)) {
		t.Fatal("13:59 Berlin time is before a 14:00 cutoff")
	}
	if sameDay(z, time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatal("14:00 Berlin time is not before a 14:00 cutoff")
	}
	// In winter Berlin is UTC+1.
	if !sameDay(z, time.Date(2025, 1, 15, 12, 59, 0, 0, time.UTC)) {
		t.Fatal("13:59 Berlin winter time is before the cutoff")
	}
}

// TestRateFits: bands are inclusive; no band is flat.
func TestRateFits(t *testing.T) {
	band := &ent.ShippingRate{MinGrams: intp(501), MaxGrams: intp(2000)}
	flat := &ent.ShippingRate{}
	for _, c := range []struct {
		r     *ent.ShippingRate
		grams int
		want  bool
	}{{band, 500, false}, {band, 501, true}, {band, 2000, true}, {band, 2001, false}, {flat, 0, true}, {flat, 99999, true}} {
		if got := RateFits(c.r, c.grams); got != c.want {
			t.Errorf("%d g: %v, want %v", c.grams, got, c.want)
		}
	}
}
