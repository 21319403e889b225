package web_test

import (
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

// TestConsolePopupsInChromium: staff lease stock to a hub from the console
// (central's count falls, the hub's allocation rises, checked through the
// API) and make a venue QR code, at desktop and tablet size.
func TestConsolePopupsInChromium(t *testing.T) {
	c := newConsole(t, graphtest.Options{})
	var p struct {
		CreateProduct struct{ Product struct{ ID string } }
	}
	c.E.Staff(t, `mutation { createProduct(input: {title: "Venue Tee", slug: "venue-tee"}) { product { id } } }`, nil, &p)
	var v struct {
		CreateVariant struct{ Variant struct{ ID string } }
	}
	c.E.Staff(t, `mutation($p: ID!) { createVariant(input: {productId: $p, sku: "VENUE-M", title: "M", price: {amount: 3000, currency: "EUR"}}) { variant { id } } }`,
		map[string]any{"p": p.CreateProduct.Product.ID}, &v)
	c.E.Staff(t, `mutation($v: ID!) { setStock(input: {variantId: $v, available: 20, idempotencyKey: "s"}) { available } }`,
		map[string]any{"v": v.CreateVariant.Variant.ID}, &struct{}{})
	c.Config["variantId"] = v.CreateVariant.Variant.ID
	c.run(t, "console-popups.mjs", 6)
}
