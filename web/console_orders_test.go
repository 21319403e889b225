package web_test

import (
	"context"
	"testing"

	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// seedShop is what the orders, fulfilment and returns walks work on: a
// variant at central, buyers with wallet-paid pickup orders (one to refund,
// one to hand over, one collected and asked back, one at the clerk's
// pop-up, one at another counter), ids and codes in c.Config.
func seedShop(t *testing.T, c *console) {
	t.Helper()
	e, sys := c.E, viewer.SystemContext(context.Background())
	popup := e.Client.Location.Query().Where(location.Code("popup-1")).OnlyX(sys) // the clerk's, made by newConsole
	elsewhere := e.Client.Location.Create().SetCode("counter-b").SetName("Counter B").SetKind(location.KindPARTNER_COUNTER).SaveX(sys)

	var p struct {
		CreateProduct struct{ Product struct{ ID string } }
	}
	e.Staff(t, `mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } } }`,
		map[string]any{"i": map[string]any{"title": "Night Owl tee", "slug": "night-owl-tee"}}, &p)
	var v struct {
		CreateVariant struct{ Variant struct{ ID string } }
	}
	e.Staff(t, `mutation($i: CreateVariantInput!) { createVariant(input: $i) { variant { id } } }`,
		map[string]any{"i": map[string]any{"productId": p.CreateProduct.Product.ID, "sku": "OWL-TEE-M", "title": "M",
			"price": map[string]any{"amount": 2500, "currency": "EUR"}}}, &v)
	variant := v.CreateVariant.Variant.ID
	e.Staff(t, `mutation($i: SetStockInput!) { setStock(input: $i) { available } }`,
		map[string]any{"i": map[string]any{"variantId": variant, "available": 20, "idempotencyKey": "stock"}}, &struct{}{})

	type order struct {
		ID            string `json:"id"`
		Number        string `json:"number"`
		PickupCode    string `json:"pickupCode"`
		Pass          string `json:"pass"`
		FulfillmentID string `json:"fulfillmentId"`
		LineID        string `json:"lineId"`
	}
	buy := func(tok, key string) order {
		var add struct {
			AddToCart struct{ Cart struct{ ID string } }
		}
		e.Do(t, tok, `mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id } } }`,
			map[string]any{"i": map[string]any{"variantId": variant, "quantity": 1, "idempotencyKey": key + "-add"}}).Decode(t, &add)
		var co struct {
			Checkout struct {
				Order struct {
					ID, Number, Status string
					PickupCode         string
					PickupPass         string
					Fulfillment        struct{ ID string }
					Lines              []struct{ ID string }
				}
			}
		}
		e.Do(t, tok, `mutation($i: CheckoutInput!) { checkout(input: $i) { order { id number status pickupCode pickupPass fulfillment { id } lines { id } } } }`,
			map[string]any{"i": map[string]any{"cartId": add.AddToCart.Cart.ID, "idempotencyKey": key,
				"payWith": map[string]any{"wallet": map[string]any{"amount": 2500, "currency": "EUR"}}}}).Decode(t, &co)
		o := co.Checkout.Order
		if o.Status != "PAID" {
			t.Fatalf("order %s: %+v", key, o)
		}
		return order{o.ID, o.Number, o.PickupCode, o.PickupPass, o.Fulfillment.ID, o.Lines[0].ID}
	}
	grant := func(id string, amount int, key string) {
		e.Staff(t, `mutation($i: GrantCreditInput!) { grantCredit(input: $i) { granted } }`, map[string]any{"i": map[string]any{
			"customerIds": []string{id}, "amount": map[string]any{"amount": amount, "currency": "EUR"}, "note": "seed", "idempotencyKey": key}}, &struct{}{})
	}
	at := func(o order, loc int) {
		id, err := gid.Decode(o.FulfillmentID)
		graphtest.Must(t, err)
		graphtest.Must(t, e.Client.Fulfillment.UpdateOneID(id).SetLocationID(loc).Exec(sys))
	}

	fan, fanID := e.SignUp(t, "ada.fan@buyer.example")
	grant(fanID, 10000, "fan-seed")
	refund := buy(fan, "refund-me")
	handover := buy(fan, "hand-over")
	returned := buy(fan, "send-back")
	e.Staff(t, `mutation($i: CollectPickupInput!) { collectPickup(input: $i) { fulfillment { status } } }`,
		map[string]any{"i": map[string]any{"code": returned.Pass, "idempotencyKey": "collect-returned"}}, &struct{}{})
	var rr struct {
		RequestReturn struct{ Return struct{ Code string } }
	}
	e.Do(t, fan, `mutation($i: RequestReturnInput!) { requestReturn(input: $i) { return { code } } }`, map[string]any{"i": map[string]any{
		"orderId": returned.ID, "reason": "DOES_NOT_FIT", "reasonText": "too small",
		"lines": []map[string]any{{"orderLineId": returned.LineID, "quantity": 1}}, "idempotencyKey": "ask-back"}}).Decode(t, &rr)

	other, otherID := e.SignUp(t, "bo.other@buyer.example")
	grant(otherID, 10000, "other-seed")
	atPopup := buy(other, "at-popup")
	at(atPopup, popup.ID)
	away := buy(other, "away")
	at(away, elsewhere.ID)

	c.Config["variant"] = variant
	c.Config["fan"] = map[string]any{"id": fanID, "token": fan, "email": "ada.fan@buyer.example"}
	c.Config["refundOrder"] = refund
	c.Config["handover"] = handover
	c.Config["returned"] = returned
	c.Config["returnCode"] = rr.RequestReturn.Return.Code
	c.Config["popupOrder"] = atPopup
	c.Config["awayOrder"] = away
	c.Config["centralId"] = gid.Encode(e.Catalog.LocationID())
}

// TestConsoleOrdersInChromium: staff find an order by the buyer's email and
// by its number, refund it to the wallet (the balance rises by the amount),
// open the buyer's page (orders, wallet statement) and grant credit; a
// clerk has no refund button and the API refuses their refund; desktop
// and tablet.
func TestConsoleOrdersInChromium(t *testing.T) {
	c := newConsole(t, graphtest.Options{})
	seedShop(t, c)
	c.run(t, "console-orders.mjs", 12)
}

// TestConsoleFulfilmentInChromium: the pick list grouped by where orders
// go, packing, a label, the late list; a pickup handed over through the
// wedge-scanner path (the pass typed fast, then Enter) and through a
// BarcodeDetector stand-in; a second scan is refused as already
// collected; a clerk at popup-1 hands over their location's pickup and
// reads no other location's order; then a return through intake and the
// inspection lane back to stock.
func TestConsoleFulfilmentInChromium(t *testing.T) {
	c := newConsole(t, graphtest.Options{})
	seedShop(t, c)
	c.run(t, "console-fulfilment.mjs", 12)
}
