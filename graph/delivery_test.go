package graph_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/payment"
	"github.com/merchd/merchd/graph/graphtest"
)

const (
	createPointMutation  = `mutation($i: CreatePickupPointInput!) { createPickupPoint(input: $i) { pickupPoint { id kind name price { amount currency } address { city postcode country } openingHours { day opens closes } location { code kind } } } }`
	createWindowMutation = `mutation($i: CreatePickupWindowInput!) { createPickupWindow(input: $i) { window { id capacity taken placesLeft } } }`
	setDeliveryMutation  = `mutation($i: SetDeliveryMethodInput!) { setDeliveryMethod(input: $i) {
		cart { id delivery { id } }
		delivery { id method place label sameDay price { amount currency } window { id placesLeft } zone { id } rate { id }
			address { name postcode country } contact { name email phone } } } }`
	optionsQuery = `query($a: AddressInput, $id: ID) { deliveryOptions(address: $a, addressId: $id) {
		method price { amount } pickupPoint { id } window { id } placesLeft zone { id } sameDay rate { id } } }`
	createZoneMutation = `mutation($i: CreateDeliveryZoneInput!) { createDeliveryZone(input: $i) { zone { id name postcodes postcodePrefixes radiusKm sameDayCutoff timezone price { amount } } } }`
	createRateMutation = `mutation($i: CreateShippingRateInput!) { createShippingRate(input: $i) { rate { id name country minGrams maxGrams price { amount } } } }`
)

// venue is a test address at a pickup point in Berlin.
var venue = map[string]any{"name": "Venue North", "line1": "Torstraße 1", "city": "Berlin", "postcode": "10119", "country": "DE"}

// pickupPoint creates a pickup point of kind at a new (or the named) location.
func pickupPoint(t testing.TB, e *graphtest.Env, code, kind string, price int) string {
	t.Helper()
	var out struct {
		CreatePickupPoint struct{ PickupPoint struct{ ID string } }
	}
	e.Staff(t, createPointMutation, map[string]any{"i": map[string]any{"code": code, "kind": kind, "name": "Point " + code,
		"address": venue, "price": map[string]any{"amount": price, "currency": "EUR"},
		"openingHours":   []map[string]any{{"day": "SAT", "opens": "10:00", "closes": "18:00"}},
		"idempotencyKey": "point-" + code}}, &out)
	return out.CreatePickupPoint.PickupPoint.ID
}

// pickupWindow creates a window at point, starting in an hour.
func pickupWindow(t testing.TB, e *graphtest.Env, point string, capacity int, key string) string {
	t.Helper()
	var out struct {
		CreatePickupWindow struct{ Window struct{ ID string } }
	}
	start := e.Clock.Now().Add(time.Hour)
	e.Staff(t, createWindowMutation, map[string]any{"i": map[string]any{"pickupPointId": point, "startsAt": start,
		"endsAt": start.Add(2 * time.Hour), "capacity": capacity, "idempotencyKey": key}}, &out)
	return out.CreatePickupWindow.Window.ID
}

func taken(t testing.TB, e *graphtest.Env, window string) int {
	t.Helper()
	return e.Client.PickupWindow.GetX(sys(), decodeID(t, window)).Taken
}

func chooseWindow(t testing.TB, e *graphtest.Env, tok, window, key string) graphtest.Response {
	t.Helper()
	return e.Do(t, tok, setDeliveryMutation, map[string]any{"i": map[string]any{"method": "PICKUP", "pickupWindowId": window, "idempotencyKey": key}})
}

// heldCartOf adds one unit of v to tok's cart and returns the cart's id.
func heldCartOf(t testing.TB, e *graphtest.Env, tok, v, key string) string {
	t.Helper()
	var out struct {
		AddToCart struct{ Cart struct{ ID string } }
	}
	addToCart(t, e, tok, v, 1, key).Decode(t, &out)
	return out.AddToCart.Cart.ID
}

type choiceOut struct {
	SetDeliveryMethod struct {
		Cart     struct{ ID string }
		Delivery struct {
			ID, Method, Place, Label string
			SameDay                  bool
			Price                    struct {
				Amount   int
				Currency string
			}
			Window  *struct{ ID string }
			Zone    *struct{ ID string }
			Rate    *struct{ ID string }
			Address *struct{ Name, Postcode, Country string }
			Contact struct{ Name, Email, Phone string }
		}
	}
}

type optionsOut struct {
	DeliveryOptions []struct {
		Method      string
		Price       struct{ Amount int }
		PickupPoint *struct{ ID string }
		Window      *struct{ ID string }
		PlacesLeft  *int
		Zone        *struct{ ID string }
		SameDay     *bool
		Rate        *struct{ ID string }
	}
}

// TestDeliveryPickupWindows: staff set up a pickup point with two windows;
// a customer's choice takes a place at once, moving it gives the first
// back, a full window refuses with WINDOW_FULL, the place goes back with
// the cart's last hold, and a paid order's fulfilment is picked up in the
// chosen window at the point.
func TestDeliveryPickupWindows(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 20, 1500, "EUR")

			var pt struct {
				CreatePickupPoint struct {
					PickupPoint struct {
						ID, Kind, Name string
						Price          struct{ Amount int }
						Address        struct{ City, Postcode, Country string }
						OpeningHours   []struct{ Day, Opens, Closes string }
						Location       struct{ Code, Kind string }
					}
				}
			}
			e.Staff(t, createPointMutation, map[string]any{"i": map[string]any{"code": "kiosk-7", "kind": "PARTNER_COUNTER",
				"name": "Kiosk 7", "address": map[string]any{"name": "Kiosk 7", "line1": "Hauptstr. 7", "city": "Berlin", "postcode": " 10827 ", "country": "de"},
				"openingHours": []map[string]any{{"day": "mon", "opens": "08:00", "closes": "20:00"}}, "idempotencyKey": "kiosk"}}, &pt)
			p := pt.CreatePickupPoint.PickupPoint
			if p.Kind != "PARTNER_COUNTER" || p.Location.Code != "kiosk-7" || p.Location.Kind != "PARTNER_COUNTER" ||
				p.Address.Country != "DE" || p.Address.Postcode != "10827" || p.Price.Amount != 0 || p.OpeningHours[0].Day != "MON" {
				t.Fatalf("pickup point %+v", p)
			}
			tok, _ := e.SignUp(t, "picker@delivery.example")
			wantCode(t, e.Do(t, e.StaffToken, createPointMutation, map[string]any{"i": map[string]any{"code": "kiosk-8", "kind": "LOCKER",
				"name": "x", "address": map[string]any{"name": "x", "line1": "y", "city": "Berlin", "postcode": "1234", "country": "DE"},
				"idempotencyKey": "bad-postcode"}}), "BAD_USER_INPUT")
			wantCode(t, e.Do(t, tok, createPointMutation, map[string]any{"i": map[string]any{"code": "kiosk-9", "kind": "LOCKER",
				"name": "x", "address": venue, "idempotencyKey": "customer"}}), "FORBIDDEN")

			w1 := pickupWindow(t, e, p.ID, 1, "w1")
			w2 := pickupWindow(t, e, p.ID, 5, "w2")

			// Nothing held yet: nothing to hold a place with.
			wantCode(t, chooseWindow(t, e, tok, w1, "empty"), "BAD_USER_INPUT")
			cartID := heldCartOf(t, e, tok, v, "add-1")

			var opts optionsOut
			e.Do(t, tok, optionsQuery, nil).Decode(t, &opts)
			if len(opts.DeliveryOptions) != 2 || *opts.DeliveryOptions[0].PlacesLeft != 1 || *opts.DeliveryOptions[1].PlacesLeft != 5 {
				t.Fatalf("options %+v", opts)
			}

			var ch choiceOut
			chooseWindow(t, e, tok, w1, "pick-1").Decode(t, &ch)
			d := ch.SetDeliveryMethod.Delivery
			if d.Method != "PICKUP" || d.Place != "HELD" || d.Window.ID != w1 || d.Label != "Kiosk 7" || d.Price.Amount != 0 ||
				d.Contact.Email != "picker@delivery.example" || ch.SetDeliveryMethod.Cart.ID != cartID {
				t.Fatalf("choice %+v", ch)
			}
			if taken(t, e, w1) != 1 {
				t.Fatalf("window 1 taken %d, want 1", taken(t, e, w1))
			}
			// Choosing the same window again takes nothing more.
			chooseWindow(t, e, tok, w1, "pick-1-again").Decode(t, &ch)
			if taken(t, e, w1) != 1 {
				t.Fatalf("window 1 taken %d after choosing it twice, want 1", taken(t, e, w1))
			}
			e.Do(t, tok, optionsQuery, nil).Decode(t, &opts)
			if len(opts.DeliveryOptions) != 1 || opts.DeliveryOptions[0].Window.ID != w2 {
				t.Fatalf("a full window is still offered: %+v", opts)
			}

			other, _ := e.SignUp(t, "late@delivery.example")
			heldCartOf(t, e, other, v, "add-other")
			wantCode(t, chooseWindow(t, e, other, w1, "late"), "WINDOW_FULL")

			// Moving to window 2 gives window 1's place back.
			chooseWindow(t, e, tok, w2, "pick-2").Decode(t, &ch)
			if taken(t, e, w1) != 0 || taken(t, e, w2) != 1 {
				t.Fatalf("after moving: taken %d and %d, want 0 and 1", taken(t, e, w1), taken(t, e, w2))
			}
			// The other customer gets window 1 now.
			if r := chooseWindow(t, e, other, w1, "late-again"); r.Code() != "" {
				t.Fatalf("window 1 after it was given back: %+v", r.Errors)
			}

			// Removing the cart's last line gives the place back with it.
			var cart struct {
				Cart struct {
					Lines []struct{ ID string }
				}
			}
			e.Do(t, tok, `{ cart { lines { id } } }`, nil).Decode(t, &cart)
			e.Do(t, tok, `mutation($i: RemoveFromCartInput!) { removeFromCart(input: $i) { cart { id } } }`,
				map[string]any{"i": map[string]any{"lineId": cart.Cart.Lines[0].ID, "idempotencyKey": "rm"}}).Decode(t, &struct{}{})
			if taken(t, e, w2) != 0 {
				t.Fatalf("window 2 taken %d after the cart's last hold went back, want 0", taken(t, e, w2))
			}

			// Items again: checkout takes the place again, and the paid order is
			// picked up in window 2 at the kiosk.
			heldCartOf(t, e, tok, v, "add-2")
			var co checkoutOut
			e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": cartID, "payWith": map[string]any{"card": true},
				"idempotencyKey": "pay"}}).Decode(t, &co)
			if taken(t, e, w2) != 1 {
				t.Fatalf("window 2 taken %d after checkout, want 1", taken(t, e, w2))
			}
			deliver(t, e, "evt_pickup_paid", "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
			var ord struct {
				Node struct {
					Status        string
					DeliveryPrice struct{ Amount int }
					Delivery      struct {
						Method, Place string
						Window        struct{ ID string }
					}
					Fulfillment struct {
						Method string
						Window struct{ ID string }
					}
				}
			}
			e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Order { status deliveryPrice { amount }
				delivery { method place window { id } } fulfillment { method window { id } } } } }`,
				map[string]any{"id": co.Checkout.Order.ID}).Decode(t, &ord)
			n := ord.Node
			if n.Status != "PAID" || n.Delivery.Place != "SOLD" || n.Fulfillment.Method != "PICKUP" || n.Fulfillment.Window.ID != w2 {
				t.Fatalf("paid order %+v", n)
			}
			f := e.Client.Fulfillment.Query().Where(fulfillment.OrderID(decodeID(t, co.Checkout.Order.ID))).OnlyX(sys())
			if f.LocationID == nil || *f.LocationID != e.Client.PickupPoint.GetX(sys(), decodeID(t, p.ID)).LocationID {
				t.Fatalf("fulfilment at location %v, want the kiosk's", f.LocationID)
			}
			if taken(t, e, w2) != 1 {
				t.Fatalf("window 2 taken %d once sold, want 1", taken(t, e, w2))
			}
		})
	}
}

// TestDeliveryShippingMoney: the delivery price is decided by the server,
// follows the cart's weight, lands on the order once, and is what the card
// is charged together with the lines.
func TestDeliveryShippingMoney(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 20, 1500, "EUR")
			e.Staff(t, `mutation($i: UpdateVariantInput!) { updateVariant(input: $i) { variant { weightGrams } } }`,
				map[string]any{"i": map[string]any{"id": v, "weightGrams": 400}}, &struct{}{})
			var light, heavy struct {
				CreateShippingRate struct{ Rate struct{ ID string } }
			}
			e.Staff(t, createRateMutation, map[string]any{"i": map[string]any{"name": "DE small", "country": "DE", "minGrams": 0, "maxGrams": 500,
				"price": map[string]any{"amount": 499, "currency": "EUR"}, "idempotencyKey": "r1"}}, &light)
			e.Staff(t, createRateMutation, map[string]any{"i": map[string]any{"name": "DE large", "country": "DE", "minGrams": 501, "maxGrams": 5000,
				"price": map[string]any{"amount": 899, "currency": "EUR"}, "idempotencyKey": "r2"}}, &heavy)
			tok, _ := e.SignUp(t, "shipper@delivery.example")
			cartID := heldCartOf(t, e, tok, v, "add-1")
			home := map[string]any{"name": "Ada", "line1": "Kastanienallee 3", "city": "Berlin", "postcode": "10435", "country": "DE", "phone": "+49 30 1234567"}

			var opts optionsOut
			e.Do(t, tok, optionsQuery, map[string]any{"a": home}).Decode(t, &opts)
			if len(opts.DeliveryOptions) != 1 || opts.DeliveryOptions[0].Rate.ID != light.CreateShippingRate.Rate.ID || opts.DeliveryOptions[0].Price.Amount != 499 {
				t.Fatalf("options for 400 g: %+v", opts)
			}
			wantCode(t, e.Do(t, tok, setDeliveryMutation, map[string]any{"i": map[string]any{"method": "SHIPPING",
				"address": map[string]any{"name": "Ada", "line1": "x", "city": "Berlin", "postcode": "1043", "country": "DE"}, "idempotencyKey": "bad"}}), "BAD_USER_INPUT")
			var ch choiceOut
			e.Do(t, tok, setDeliveryMutation, map[string]any{"i": map[string]any{"method": "SHIPPING", "address": home, "idempotencyKey": "ship"}}).Decode(t, &ch)
			if d := ch.SetDeliveryMethod.Delivery; d.Method != "SHIPPING" || d.Place != "NONE" || d.Price.Amount != 499 || d.Address.Postcode != "10435" || d.Contact.Phone != "+49 30 1234567" {
				t.Fatalf("shipping choice %+v", d)
			}
			// A second unit makes the cart 800 g: the large rate applies at checkout.
			heldCartOf(t, e, tok, v, "add-2")
			var co checkoutOut
			e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": cartID, "payWith": map[string]any{"card": true},
				"idempotencyKey": "pay"}}).Decode(t, &co)
			if co.Checkout.Order.Total.Amount != 2*1500+899 {
				t.Fatalf("order total %d, want %d", co.Checkout.Order.Total.Amount, 2*1500+899)
			}
			if got := e.Stripe.Intent(*co.Checkout.PaymentIntentID).Amount; got != 2*1500+899 {
				t.Fatalf("card charged %d, want %d", got, 2*1500+899)
			}
			deliver(t, e, "evt_ship_paid", "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
			oid := decodeID(t, co.Checkout.Order.ID)
			o := e.Client.Order.GetX(sys(), oid)
			if o.Status != order.StatusPAID || o.DeliveryAmount != 899 {
				t.Fatalf("order %s delivery %d", o.Status, o.DeliveryAmount)
			}
			f := e.Client.Fulfillment.Query().Where(fulfillment.OrderID(oid)).OnlyX(sys())
			if f.Method != fulfillment.MethodSHIPPING || f.Address == nil || f.Address.Postcode != "10435" || f.WindowID != nil {
				t.Fatalf("fulfilment %s %+v", f.Method, f.Address)
			}
		})
	}
}

// TestRace_setDeliveryMethod: eight customers choosing the last place in
// a window at once: exactly one holds it, the others are WINDOW_FULL, and
// once the winner's holds expire (the sweeper) the place is free again.
// One customer choosing with one key many times: one choice, one place.
func TestRace_setDeliveryMethod(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 100, 1500, "EUR")
			point := pickupPoint(t, e, "race-"+d, "LOCKER", 0)
			choose := func(tok, window, key string) graphtest.Response {
				return postWith(t, c, e.URL, tok, setDeliveryMutation, map[string]any{"i": map[string]any{
					"method": "PICKUP", "pickupWindowId": window, "idempotencyKey": key}})
			}

			one := pickupWindow(t, e, point, 3, "same")
			tok, _ := e.SignUp(t, "same@race-window.example")
			heldCartOf(t, e, tok, v, "hold")
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return choose(tok, one, "choose") }))
			if got := taken(t, e, one); got != 1 {
				t.Fatalf("taken %d after %d calls with one key, want 1", got, raceN)
			}
			// A key each, one customer, the same window: still one place.
			rs := raceAll(raceN, func(i int) graphtest.Response { return choose(tok, one, fmt.Sprint("choose-", i)) })
			if got := codeCounts(rs); got[""] != raceN {
				t.Fatalf("outcomes %v, want %d successes\n%s", got, raceN, e.Logs.String())
			}
			if got := taken(t, e, one); got != 1 {
				t.Fatalf("taken %d after one customer chose the window %d times, want 1", got, raceN)
			}

			const buyers = 8
			last := pickupWindow(t, e, point, 1, "last")
			toks := customers(t, e, buyers, "window-"+d)
			for i, tk := range toks {
				heldCartOf(t, e, tk, v, fmt.Sprint("hold-", i))
			}
			rs = raceAll(buyers, func(i int) graphtest.Response { return choose(toks[i], last, "last") })
			if got := codeCounts(rs); got[""] != 1 || got["WINDOW_FULL"] != buyers-1 {
				t.Fatalf("outcomes %v, want 1 place and %d WINDOW_FULL", got, buyers-1)
			}
			if got := taken(t, e, last); got != 1 {
				t.Fatalf("taken %d, want 1", got)
			}
			// The winner's holds expire: the sweeper gives the place back,
			// once, however often it runs.
			e.Clock.Advance(11 * time.Minute)
			for range 2 {
				if _, err := e.Sweep(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := taken(t, e, last); got != 0 {
				t.Fatalf("taken %d after the holds expired, want 0", got)
			}
			late, _ := e.SignUp(t, "after@race-window.example")
			heldCartOf(t, e, late, v, "hold")
			if r := choose(late, last, "after"); r.Code() != "" {
				t.Fatalf("the freed place: %+v", r.Errors)
			}
			if got := taken(t, e, last); got != 1 {
				t.Fatalf("taken %d, want 1", got)
			}
		})
	}
}

// TestDeliveryCheckoutRace: concurrent checkouts of one cart with a
// delivery price: one order, whose total and card payment include the
// delivery price exactly once.
func TestDeliveryCheckoutRace(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 100, 1500, "EUR")
			point := pickupPoint(t, e, "paid-"+d, "HUB", 250)
			w := pickupWindow(t, e, point, 2, "w")
			tok, _ := e.SignUp(t, "once@race-delivery.example")
			cartID := heldCartOf(t, e, tok, v, "hold")
			chooseWindow(t, e, tok, w, "choose").Decode(t, &struct{}{})
			rs := raceAll(raceN, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, tok, checkoutMutation, map[string]any{"i": map[string]any{
					"cartId": cartID, "payWith": map[string]any{"card": true}, "idempotencyKey": fmt.Sprint("pay-", i)}})
			})
			if got := codeCounts(rs); got[""] != 1 || got["CART_CHECKED_OUT"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 order and %d CART_CHECKED_OUT", got, raceN-1)
			}
			o := e.Client.Order.Query().OnlyX(sys())
			p := e.Client.Payment.Query().Where(payment.OrderID(o.ID)).OnlyX(sys())
			if o.TotalAmount != 1500+250 || o.DeliveryAmount != 250 || p.Amount != 1500+250 {
				t.Fatalf("order total %d (delivery %d), card %d; want 1750 (250), 1750", o.TotalAmount, o.DeliveryAmount, p.Amount)
			}
			if got := taken(t, e, w); got != 1 {
				t.Fatalf("taken %d, want 1", got)
			}
		})
	}
}

// TestDeliveryLocalZones: a zone by postcode prefix and one by radius; the
// cheapest that covers the address is chosen, same-day follows the zone's
// cutoff in its own time zone, and checkout judges same-day again.
func TestDeliveryLocalZones(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	// 11:55 UTC on a summer day is 13:55 in Berlin: five minutes to the cutoff.
	e.Clock.Set(time.Date(2025, 7, 1, 11, 55, 0, 0, time.UTC))
	v := newVariant(t, e, 20, 1500, "EUR")
	var prefix, ring struct {
		CreateDeliveryZone struct {
			Zone struct {
				ID               string
				PostcodePrefixes []string
			}
		}
	}
	e.Staff(t, createZoneMutation, map[string]any{"i": map[string]any{"name": "Prenzlauer Berg", "country": "DE", "postcodePrefixes": []string{"104"},
		"sameDayCutoff": "14:00", "timezone": "Europe/Berlin", "price": map[string]any{"amount": 590, "currency": "EUR"}, "idempotencyKey": "z1"}}, &prefix)
	e.Staff(t, createZoneMutation, map[string]any{"i": map[string]any{"name": "Bike ring", "country": "DE", "centerLat": 52.5200, "centerLng": 13.4050,
		"radiusKm": 6, "sameDayCutoff": "16:00", "timezone": "Europe/Berlin", "price": map[string]any{"amount": 390, "currency": "EUR"}, "idempotencyKey": "z2"}}, &ring)
	wantCode(t, e.Do(t, e.StaffToken, createZoneMutation, map[string]any{"i": map[string]any{"name": "Both", "country": "DE", "postcodes": []string{"10115"},
		"radiusKm": 3, "centerLat": 52.5, "centerLng": 13.4, "price": map[string]any{"amount": 1, "currency": "EUR"}, "idempotencyKey": "z3"}}), "BAD_USER_INPUT")
	wantCode(t, e.Do(t, e.StaffToken, createZoneMutation, map[string]any{"i": map[string]any{"name": "Yen", "country": "DE", "postcodes": []string{"10115"},
		"price": map[string]any{"amount": 1, "currency": "JPY"}, "idempotencyKey": "z4"}}), "BAD_USER_INPUT")

	tok, _ := e.SignUp(t, "local@delivery.example")
	cartID := heldCartOf(t, e, tok, v, "add")
	home := map[string]any{"name": "Ada", "line1": "Kastanienallee 3", "city": "Berlin", "postcode": "10435", "country": "DE", "lat": 52.5387, "lng": 13.4098}
	far := map[string]any{"name": "Ada", "line1": "Am Markt 1", "city": "Potsdam", "postcode": "14467", "country": "DE", "lat": 52.3906, "lng": 13.0645}
	var opts optionsOut
	e.Do(t, tok, optionsQuery, map[string]any{"a": home}).Decode(t, &opts)
	var zones []string
	for _, o := range opts.DeliveryOptions {
		if o.Method == "LOCAL_DELIVERY" {
			zones = append(zones, fmt.Sprint(o.Zone.ID, o.Price.Amount, *o.SameDay))
		}
	}
	if want := []string{fmt.Sprint(ring.CreateDeliveryZone.Zone.ID, 390, true), fmt.Sprint(prefix.CreateDeliveryZone.Zone.ID, 590, true)}; fmt.Sprint(zones) != fmt.Sprint(want) {
		t.Fatalf("zones %v, want %v (cheapest first)", zones, want)
	}
	wantCode(t, e.Do(t, tok, setDeliveryMutation, map[string]any{"i": map[string]any{"method": "LOCAL_DELIVERY", "address": far, "idempotencyKey": "far"}}), "BAD_USER_INPUT")

	var ch choiceOut
	e.Do(t, tok, setDeliveryMutation, map[string]any{"i": map[string]any{"method": "LOCAL_DELIVERY", "address": home,
		"zoneId": prefix.CreateDeliveryZone.Zone.ID, "idempotencyKey": "local"}}).Decode(t, &ch)
	if d := ch.SetDeliveryMethod.Delivery; d.Zone.ID != prefix.CreateDeliveryZone.Zone.ID || !d.SameDay || d.Price.Amount != 590 {
		t.Fatalf("choice %+v", d)
	}
	// Six minutes later it is past the zone's cutoff: the order is not same-day.
	e.Clock.Advance(6 * time.Minute)
	var co checkoutOut
	e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": cartID, "payWith": map[string]any{"card": true},
		"idempotencyKey": "pay"}}).Decode(t, &co)
	if co.Checkout.Order.Total.Amount != 1500+590 {
		t.Fatalf("total %d", co.Checkout.Order.Total.Amount)
	}
	var ord struct {
		Node struct {
			Delivery struct {
				SameDay bool
				Price   struct{ Amount int }
				Address struct{ Postcode string }
			}
		}
	}
	e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Order { delivery { sameDay price { amount } address { postcode } } } } }`,
		map[string]any{"id": co.Checkout.Order.ID}).Decode(t, &ord)
	if d := ord.Node.Delivery; d.SameDay || d.Price.Amount != 590 || d.Address.Postcode != "10435" {
		t.Fatalf("order's delivery %+v", d)
	}
	// Paid past the cutoff, it is due by the end of the next Berlin day
	// (its SLA deadline; a same-day order is due by the end of this one).
	deliver(t, e, "evt_local", "payment_intent.succeeded", *co.Checkout.PaymentIntentID)
	f := e.Client.Fulfillment.Query().Where(fulfillment.OrderID(decodeID(t, co.Checkout.Order.ID))).OnlyX(sys())
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := e.Clock.Now().In(berlin)
	if want := time.Date(now.Year(), now.Month(), now.Day()+2, 0, 0, 0, 0, berlin); f.DueAt == nil || !f.DueAt.Equal(want) {
		t.Fatalf("a next-day local delivery is due %v, want %v (the end of the next Berlin day)", f.DueAt, want)
	}
}

// TestDeliveryAddresses: saved addresses are their owner's only, and one
// can be used for delivery by id.
func TestDeliveryAddresses(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 20, 1500, "EUR")
	e.Staff(t, createRateMutation, map[string]any{"i": map[string]any{"name": "UK", "country": "GB",
		"price": map[string]any{"amount": 1200, "currency": "EUR"}, "idempotencyKey": "gb"}}, &struct{}{})
	tok, _ := e.SignUp(t, "saver@delivery.example")
	other, _ := e.SignUp(t, "snoop@delivery.example")
	var a struct {
		CreateAddress struct {
			Address struct {
				ID, Label string
				Address   struct{ Name, Postcode, Country string }
			}
		}
	}
	wantCode(t, e.Do(t, tok, createAddressMutation, map[string]any{"i": map[string]any{"address": map[string]any{
		"name": "Ada", "line1": "10 Downing St", "city": "London", "postcode": "SW1A", "country": "GB"}, "idempotencyKey": "bad"}}), "BAD_USER_INPUT")
	e.Do(t, tok, createAddressMutation, map[string]any{"i": map[string]any{"label": "Home", "address": map[string]any{
		"name": "Ada", "line1": "10 Downing St", "city": "London", "postcode": "sw1a2aa", "country": "gb"}, "idempotencyKey": "home"}}).Decode(t, &a)
	saved := a.CreateAddress.Address
	if saved.Address.Postcode != "SW1A 2AA" || saved.Address.Country != "GB" || saved.Label != "Home" {
		t.Fatalf("saved %+v", saved)
	}
	list := func(tok string) int {
		var out struct {
			Viewer struct{ Addresses []struct{ ID string } }
		}
		e.Do(t, tok, `{ viewer { addresses { id } } }`, nil).Decode(t, &out)
		return len(out.Viewer.Addresses)
	}
	if list(tok) != 1 || list(other) != 0 {
		t.Fatalf("addresses: owner %d, other %d", list(tok), list(other))
	}
	wantCode(t, e.Do(t, other, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": saved.ID}), "NOT_FOUND")

	heldCartOf(t, e, other, v, "add-other")
	wantCode(t, e.Do(t, other, setDeliveryMutation, map[string]any{"i": map[string]any{"method": "SHIPPING", "addressId": saved.ID,
		"idempotencyKey": "steal"}}), "BAD_USER_INPUT")
	heldCartOf(t, e, tok, v, "add")
	var ch choiceOut
	e.Do(t, tok, setDeliveryMutation, map[string]any{"i": map[string]any{"method": "SHIPPING", "addressId": saved.ID,
		"contact": map[string]any{"phone": "+44 20 7925 0918"}, "idempotencyKey": "ship"}}).Decode(t, &ch)
	if d := ch.SetDeliveryMethod.Delivery; d.Address.Postcode != "SW1A 2AA" || d.Price.Amount != 1200 || d.Contact.Phone != "+44 20 7925 0918" || d.Contact.Email != "saver@delivery.example" {
		t.Fatalf("choice %+v", d)
	}
	// Editing the saved address later does not move the choice's copy.
	e.Do(t, tok, `mutation($i: UpdateAddressInput!) { updateAddress(input: $i) { address { id } } }`, map[string]any{"i": map[string]any{
		"id": saved.ID, "address": map[string]any{"name": "Ada", "line1": "1 Elsewhere", "city": "Leeds", "postcode": "LS1 1AA", "country": "GB"},
		"idempotencyKey": "edit"}}).Decode(t, &struct{}{})
	var cart struct {
		Cart struct {
			Delivery struct{ Address struct{ Postcode string } }
		}
	}
	e.Do(t, tok, `{ cart { delivery { address { postcode } } } }`, nil).Decode(t, &cart)
	if cart.Cart.Delivery.Address.Postcode != "SW1A 2AA" {
		t.Fatalf("the choice's address moved to %s", cart.Cart.Delivery.Address.Postcode)
	}
	wantCode(t, e.Do(t, other, `mutation($i: DeleteAddressInput!) { deleteAddress(input: $i) { deletedId } }`,
		map[string]any{"i": map[string]any{"id": saved.ID, "idempotencyKey": "del"}}), "NOT_FOUND")
	if list(tok) != 1 {
		t.Fatal("another customer deleted the address")
	}
}

// TestDeliveryLatePaymentWindowFull: a card payment that arrives after
// the order's holds expired takes its pickup place again, or — the
// window filled meanwhile — is refunded like an order whose units are gone.
func TestDeliveryLatePaymentWindowFull(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 20, 1500, "EUR")
			point := pickupPoint(t, e, "late-"+d, "CENTRAL", 100)
			w := pickupWindow(t, e, point, 1, "w")
			w2 := pickupWindow(t, e, point, 1, "w2")
			pay := func(tok, cartID, key string) string {
				var co checkoutOut
				e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": cartID, "payWith": map[string]any{"card": true},
					"idempotencyKey": key}}).Decode(t, &co)
				return *co.Checkout.PaymentIntentID
			}
			slow, _ := e.SignUp(t, "slow@delivery.example")
			fast, _ := e.SignUp(t, "fast@delivery.example")
			ok, _ := e.SignUp(t, "ok@delivery.example")

			cartID := heldCartOf(t, e, slow, v, "add")
			chooseWindow(t, e, slow, w, "choose").Decode(t, &struct{}{})
			pi := pay(slow, cartID, "pay")
			okCart := heldCartOf(t, e, ok, v, "add")
			chooseWindow(t, e, ok, w2, "choose").Decode(t, &struct{}{})
			okPI := pay(ok, okCart, "pay")

			// Both payment windows pass: the sweeper cancels the orders and
			// their places go back.
			e.Clock.Advance(16 * time.Minute)
			if _, err := e.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			if taken(t, e, w) != 0 || taken(t, e, w2) != 0 {
				t.Fatalf("taken %d, %d after the orders lapsed, want 0", taken(t, e, w), taken(t, e, w2))
			}
			heldCartOf(t, e, fast, v, "add")
			chooseWindow(t, e, fast, w, "choose").Decode(t, &struct{}{})

			// The slow payment arrives: its window is full now, so it is refunded.
			deliver(t, e, "evt_late_full", "payment_intent.succeeded", pi)
			o := e.Client.Order.Query().Where(order.CartID(decodeID(t, cartID))).OnlyX(sys())
			if o.Status != order.StatusREFUNDED || o.RefundedAmount != 1500+100 || e.Stripe.Refunds(pi) != 1500+100 {
				t.Fatalf("late order %s, refunded %d (card %d), want REFUNDED and %d", o.Status, o.RefundedAmount, e.Stripe.Refunds(pi), 1500+100)
			}
			if taken(t, e, w) != 1 {
				t.Fatalf("taken %d, want 1 (the fast customer's)", taken(t, e, w))
			}
			// The other late payment finds its window free: paid, place kept.
			deliver(t, e, "evt_late_ok", "payment_intent.succeeded", okPI)
			o = e.Client.Order.Query().Where(order.CartID(decodeID(t, okCart))).OnlyX(sys())
			if o.Status != order.StatusPAID || taken(t, e, w2) != 1 {
				t.Fatalf("late order %s, window taken %d; want PAID and 1", o.Status, taken(t, e, w2))
			}
		})
	}
}

// TestDeliveryWalletCheckout: an order paid by wallet alone is paid at
// once: its place is sold and its fulfilment opened in the same transaction.
func TestDeliveryWalletCheckout(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 20, 1500, "EUR")
	point := pickupPoint(t, e, "wallet", "HUB", 300)
	w := pickupWindow(t, e, point, 4, "w")
	tok, id := e.SignUp(t, "wallet@delivery.example")
	grant(t, e, id, 5000, "credit")
	cartID := heldCartOf(t, e, tok, v, "add")
	chooseWindow(t, e, tok, w, "choose").Decode(t, &struct{}{})
	// The wallet must cover the delivery too: 1500 alone leaves 300 for a card.
	wantCode(t, e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": cartID,
		"payWith": map[string]any{"wallet": map[string]any{"amount": 1500, "currency": "EUR"}}, "idempotencyKey": "short"}}), "BAD_USER_INPUT")
	var co checkoutOut
	e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": cartID,
		"payWith": map[string]any{"wallet": map[string]any{"amount": 1800, "currency": "EUR"}}, "idempotencyKey": "pay"}}).Decode(t, &co)
	if co.Checkout.Order.Status != "PAID" || co.Checkout.Order.Total.Amount != 1800 || balance(t, e, tok) != 5000-1800 {
		t.Fatalf("order %+v, balance %d", co.Checkout.Order, balance(t, e, tok))
	}
	oid := decodeID(t, co.Checkout.Order.ID)
	f := e.Client.Fulfillment.Query().Where(fulfillment.OrderID(oid)).OnlyX(sys())
	if f.WindowID == nil || *f.WindowID != decodeID(t, w) || taken(t, e, w) != 1 {
		t.Fatalf("fulfilment window %v, taken %d", f.WindowID, taken(t, e, w))
	}
	// Sold places stay sold: the sweeper, later, gives nothing back.
	e.Clock.Advance(time.Hour)
	if _, err := e.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if taken(t, e, w) != 1 {
		t.Fatalf("taken %d after the sweep, want 1", taken(t, e, w))
	}
}

// TestDeliverySweepLeftoverPlace: a place still HELD by a cart that holds
// no line (what a removal racing a choice can leave) is given back by the
// sweeper, once, after a quiet minute.
func TestDeliverySweepLeftoverPlace(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 20, 1500, "EUR")
			w := pickupWindow(t, e, pickupPoint(t, e, "left-"+d, "LOCKER", 0), 2, "w")
			tok, _ := e.SignUp(t, "leftover@delivery.example")
			cartID := heldCartOf(t, e, tok, v, "add")
			chooseWindow(t, e, tok, w, "choose").Decode(t, &struct{}{})
			// The line leaves the cart without telling delivery.
			e.Client.CartLine.Update().Where(cartline.CartID(decodeID(t, cartID))).SetStatus(cartline.StatusRELEASED).ExecX(sys())
			if _, err := e.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			if taken(t, e, w) != 1 {
				t.Fatal("a place chosen a moment ago was swept")
			}
			e.Clock.Advance(2 * time.Minute)
			for range 2 {
				if _, err := e.Sweep(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := taken(t, e, w); got != 0 {
				t.Fatalf("taken %d after sweeping the leftover, want 0", got)
			}
		})
	}
}
