package types

// Address is a postal address as the buyer gave it, validated per country
// by checkout/delivery. Orders and fulfilments keep a copy, so editing a
// saved address later never moves a parcel already on its way.
type Address struct {
	Name     string `json:"name"`
	Company  string `json:"company,omitempty"`
	Line1    string `json:"line1"`
	Line2    string `json:"line2,omitempty"`
	City     string `json:"city"`
	Region   string `json:"region,omitempty"`
	Postcode string `json:"postcode,omitempty"`
	// Country is an ISO 3166-1 alpha-2 code, upper case (DE, FR, GB, US).
	Country string `json:"country"`
	Phone   string `json:"phone,omitempty"`
	// Lat and Lng, when the client geocoded the address, place it for
	// delivery zones drawn as a radius.
	Lat *float64 `json:"lat,omitempty"`
	Lng *float64 `json:"lng,omitempty"`
}

// Contact is who to reach about an order: the buyer, or whoever collects
// or receives it for them.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone,omitempty"`
}

// OpeningHours is one day's opening of a pickup point, in its local time:
// Day is MON…SUN, Opens and Closes are "HH:MM" (24 h).
type OpeningHours struct {
	Day    string `json:"day"`
	Opens  string `json:"opens"`
	Closes string `json:"closes"`
}
