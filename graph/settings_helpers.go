package graph

import (
	"github.com/merchd/merchd/checkout/settings"
	"github.com/merchd/merchd/graph/model"
)

// shopSettings is the settings in force as the API shows them.
func shopSettings(s settings.Shop) *model.ShopSettings {
	out := &model.ShopSettings{Name: s.Name, LogoURL: s.LogoURL, BrandColor: s.BrandColor, Currency: s.Currency}
	if !s.UpdatedAt.IsZero() {
		t := s.UpdatedAt
		out.UpdatedAt = &t
	}
	return out
}
