package graph

import (
	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/delivery"
	"github.com/merchd/merchd/ent/schema/types"
	"github.com/merchd/merchd/graph/model"
)

// deliveryOn is the delivery service, or the refusal a hub gives: orders
// are delivered from central.
func (r *Resolver) deliveryOn() (*delivery.Service, error) {
	if r.Delivery == nil {
		return nil, checkout.BadInput("", "delivery methods are chosen on central; at a hub, sell at the till")
	}
	return r.Delivery, nil
}

func addressIn(a *model.AddressInput) *types.Address {
	if a == nil {
		return nil
	}
	return &types.Address{Name: a.Name, Company: deref(a.Company), Line1: a.Line1, Line2: deref(a.Line2), City: a.City,
		Region: deref(a.Region), Postcode: deref(a.Postcode), Country: a.Country, Phone: deref(a.Phone), Lat: a.Lat, Lng: a.Lng}
}

func hoursIn(hs []*model.OpeningHoursInput) []types.OpeningHours {
	if hs == nil {
		return nil
	}
	out := make([]types.OpeningHours, len(hs))
	for i, h := range hs {
		out[i] = types.OpeningHours{Day: h.Day, Opens: h.Opens, Closes: h.Closes}
	}
	return out
}

func contactIn(c *model.ContactInput) *types.Contact {
	if c == nil {
		return nil
	}
	return &types.Contact{Name: deref(c.Name), Email: deref(c.Email), Phone: deref(c.Phone)}
}
