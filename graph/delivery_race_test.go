package graph_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/customeraddress"
	"github.com/merchd/merchd/ent/deliveryzone"
	"github.com/merchd/merchd/ent/pickuppoint"
	"github.com/merchd/merchd/ent/pickupwindow"
	"github.com/merchd/merchd/ent/shippingrate"
	"github.com/merchd/merchd/graph/graphtest"
)

// The delivery configuration and addresses under the race table's rule:
// raceN calls with one key make one record that everyone sees; with a key
// each, the invariant of the record holds.

// raceDelivery runs body on SQLite and PostgreSQL with a fresh API.
func raceDelivery(t *testing.T, body func(t *testing.T, e *graphtest.Env, post func(tok, query string, vars map[string]any) graphtest.Response)) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			body(t, e, func(tok, query string, vars map[string]any) graphtest.Response {
				return postWith(t, c, e.URL, tok, query, vars)
			})
		})
	}
}

func TestRace_createPickupPoint(t *testing.T) {
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		in := func(code, key string) map[string]any {
			return map[string]any{"i": map[string]any{"code": code, "kind": "LOCKER", "name": "Lockers", "address": venue, "idempotencyKey": key}}
		}
		allSame(t, raceAll(raceN, func(int) graphtest.Response { return post(e.StaffToken, createPointMutation, in("lockers-a", "k")) }))
		// A key each, one code: one point; the others are told the code is taken.
		rs := raceAll(raceN, func(i int) graphtest.Response {
			return post(e.StaffToken, createPointMutation, in("lockers-b", fmt.Sprint("k-", i)))
		})
		if got := codeCounts(rs); got[""] != 1 || got["BAD_USER_INPUT"] != raceN-1 {
			t.Fatalf("outcomes %v, want 1 point and %d BAD_USER_INPUT", got, raceN-1)
		}
		if n := e.Client.PickupPoint.Query().Where(pickuppoint.HasLocationWith()).CountX(sys()); n != 2 {
			t.Fatalf("%d pickup points, want 2", n)
		}
	})
}

func TestRace_updatePickupPoint(t *testing.T) {
	const m = `mutation($i: UpdatePickupPointInput!) { updatePickupPoint(input: $i) { pickupPoint { id name active price { amount } } } }`
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		p := pickupPoint(t, e, "upd", "PARTNER_COUNTER", 0)
		allSame(t, raceAll(raceN, func(int) graphtest.Response {
			return post(e.StaffToken, m, map[string]any{"i": map[string]any{"id": p, "name": "Renamed", "idempotencyKey": "k"}})
		}))
		rs := raceAll(raceN, func(i int) graphtest.Response {
			return post(e.StaffToken, m, map[string]any{"i": map[string]any{"id": p, "price": map[string]any{"amount": 100 * i, "currency": "EUR"},
				"idempotencyKey": fmt.Sprint("k-", i)}})
		})
		if got := codeCounts(rs); got[""] != raceN {
			t.Fatalf("outcomes %v", got)
		}
		if got := e.Client.PickupPoint.GetX(sys(), decodeID(t, p)); got.Name != "Renamed" || got.PriceAmount%100 != 0 || got.PriceAmount >= 100*raceN {
			t.Fatalf("point %s at %d: not one of the writes", got.Name, got.PriceAmount)
		}
	})
}

func TestRace_createPickupWindow(t *testing.T) {
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		p := pickupPoint(t, e, "win", "CENTRAL", 0)
		start := e.Clock.Now().Add(time.Hour)
		in := func(key string) map[string]any {
			return map[string]any{"i": map[string]any{"pickupPointId": p, "startsAt": start, "endsAt": start.Add(time.Hour), "capacity": 10, "idempotencyKey": key}}
		}
		allSame(t, raceAll(raceN, func(int) graphtest.Response { return post(e.StaffToken, createWindowMutation, in("k")) }))
		rs := raceAll(raceN, func(i int) graphtest.Response {
			return post(e.StaffToken, createWindowMutation, in(fmt.Sprint("k-", i)))
		})
		if got := codeCounts(rs); got[""] != raceN {
			t.Fatalf("outcomes %v", got)
		}
		if n := e.Client.PickupWindow.Query().Where(pickupwindow.Taken(0)).CountX(sys()); n != raceN+1 {
			t.Fatalf("%d windows, want %d", n, raceN+1)
		}
	})
}

// TestRace_updatePickupWindow: capacity changes racing each other never
// take a window below the places already held.
func TestRace_updatePickupWindow(t *testing.T) {
	const m = `mutation($i: UpdatePickupWindowInput!) { updatePickupWindow(input: $i) { window { id capacity taken } } }`
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		v := newVariant(t, e, 20, 1000, "EUR")
		p := pickupPoint(t, e, "cap", "HUB", 0)
		w := pickupWindow(t, e, p, 5, "w")
		for i, tok := range customers(t, e, 3, "cap") {
			heldCartOf(t, e, tok, v, "hold")
			chooseWindow(t, e, tok, w, fmt.Sprint("choose-", i)).Decode(t, &struct{}{})
		}
		allSame(t, raceAll(raceN, func(int) graphtest.Response {
			return post(e.StaffToken, m, map[string]any{"i": map[string]any{"id": w, "capacity": 8, "idempotencyKey": "k"}})
		}))
		rs := raceAll(raceN, func(i int) graphtest.Response {
			return post(e.StaffToken, m, map[string]any{"i": map[string]any{"id": w, "capacity": 1 + i%6, "idempotencyKey": fmt.Sprint("k-", i)}})
		})
		for i, r := range rs {
			if want := ""; 1+i%6 < 3 {
				want = "BAD_USER_INPUT"
				wantCode(t, r, want)
			} else if r.Code() != want {
				t.Fatalf("capacity %d: %+v", 1+i%6, r.Errors)
			}
		}
		if got := e.Client.PickupWindow.GetX(sys(), decodeID(t, w)); got.Taken != 3 || got.Capacity < 3 {
			t.Fatalf("window %d of %d taken", got.Taken, got.Capacity)
		}
	})
}

func TestRace_createDeliveryZone(t *testing.T) {
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		in := func(key string) map[string]any {
			return map[string]any{"i": map[string]any{"name": "Mitte", "country": "DE", "postcodePrefixes": []string{"101"},
				"price": map[string]any{"amount": 390, "currency": "EUR"}, "idempotencyKey": key}}
		}
		allSame(t, raceAll(raceN, func(int) graphtest.Response { return post(e.StaffToken, createZoneMutation, in("k")) }))
		rs := raceAll(raceN, func(i int) graphtest.Response { return post(e.StaffToken, createZoneMutation, in(fmt.Sprint("k-", i))) })
		if got := codeCounts(rs); got[""] != raceN {
			t.Fatalf("outcomes %v", got)
		}
		if n := e.Client.DeliveryZone.Query().Where(deliveryzone.Country("DE")).CountX(sys()); n != raceN+1 {
			t.Fatalf("%d zones, want %d", n, raceN+1)
		}
	})
}

func TestRace_updateDeliveryZone(t *testing.T) {
	const m = `mutation($i: UpdateDeliveryZoneInput!) { updateDeliveryZone(input: $i) { zone { id postcodes price { amount } } } }`
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		var z struct {
			CreateDeliveryZone struct{ Zone struct{ ID string } }
		}
		e.Staff(t, createZoneMutation, map[string]any{"i": map[string]any{"name": "Ring", "country": "DE", "centerLat": 52.52, "centerLng": 13.40,
			"radiusKm": 5, "price": map[string]any{"amount": 490, "currency": "EUR"}, "idempotencyKey": "z"}}, &z)
		id := z.CreateDeliveryZone.Zone.ID
		allSame(t, raceAll(raceN, func(int) graphtest.Response {
			return post(e.StaffToken, m, map[string]any{"i": map[string]any{"id": id, "radiusKm": 7.5, "idempotencyKey": "k"}})
		}))
		// A key each: radius and postcode edits at once. A zone is one kind
		// for life: every postcode edit of a radius zone is refused.
		rs := raceAll(raceN, func(i int) graphtest.Response {
			in := map[string]any{"id": id, "radiusKm": 1 + i, "idempotencyKey": fmt.Sprint("k-", i)}
			if i%2 == 1 {
				in = map[string]any{"id": id, "postcodes": []string{"10115"}, "idempotencyKey": fmt.Sprint("k-", i)}
			}
			return post(e.StaffToken, m, map[string]any{"i": in})
		})
		if got := codeCounts(rs); got[""] != raceN/2 || got["BAD_USER_INPUT"] != raceN/2 {
			t.Fatalf("outcomes %v", got)
		}
		if got := e.Client.DeliveryZone.GetX(sys(), decodeID(t, id)); len(got.Postcodes) != 0 || got.RadiusKm == nil {
			t.Fatalf("zone became %v / %v", got.Postcodes, got.RadiusKm)
		}
	})
}

func TestRace_createShippingRate(t *testing.T) {
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		in := func(key string) map[string]any {
			return map[string]any{"i": map[string]any{"name": "Standard", "country": "FR", "price": map[string]any{"amount": 790, "currency": "EUR"},
				"idempotencyKey": key}}
		}
		allSame(t, raceAll(raceN, func(int) graphtest.Response { return post(e.StaffToken, createRateMutation, in("k")) }))
		rs := raceAll(raceN, func(i int) graphtest.Response { return post(e.StaffToken, createRateMutation, in(fmt.Sprint("k-", i))) })
		if got := codeCounts(rs); got[""] != raceN {
			t.Fatalf("outcomes %v", got)
		}
		if n := e.Client.ShippingRate.Query().Where(shippingrate.Country("FR")).CountX(sys()); n != raceN+1 {
			t.Fatalf("%d rates, want %d", n, raceN+1)
		}
	})
}

// TestRace_updateShippingRate: band edits racing each other never leave a
// band upside down (min above max): the CHECK refuses what the two would
// make together.
func TestRace_updateShippingRate(t *testing.T) {
	const m = `mutation($i: UpdateShippingRateInput!) { updateShippingRate(input: $i) { rate { id minGrams maxGrams } } }`
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		var r struct {
			CreateShippingRate struct{ Rate struct{ ID string } }
		}
		e.Staff(t, createRateMutation, map[string]any{"i": map[string]any{"name": "Band", "country": "NL", "minGrams": 0, "maxGrams": 1000,
			"price": map[string]any{"amount": 500, "currency": "EUR"}, "idempotencyKey": "r"}}, &r)
		id := r.CreateShippingRate.Rate.ID
		allSame(t, raceAll(raceN, func(int) graphtest.Response {
			return post(e.StaffToken, m, map[string]any{"i": map[string]any{"id": id, "maxGrams": 2000, "idempotencyKey": "k"}})
		}))
		rs := raceAll(raceN, func(i int) graphtest.Response {
			in := map[string]any{"id": id, "minGrams": 1500, "idempotencyKey": fmt.Sprint("k-", i)}
			if i%2 == 1 {
				in = map[string]any{"id": id, "maxGrams": 1000, "idempotencyKey": fmt.Sprint("k-", i)}
			}
			return post(e.StaffToken, m, map[string]any{"i": in})
		})
		for _, r := range rs {
			if c := r.Code(); c != "" && c != "BAD_USER_INPUT" {
				t.Fatalf("%+v", r.Errors)
			}
		}
		got := e.Client.ShippingRate.GetX(sys(), decodeID(t, id))
		if got.MinGrams != nil && got.MaxGrams != nil && *got.MinGrams > *got.MaxGrams {
			t.Fatalf("band %d..%d", *got.MinGrams, *got.MaxGrams)
		}
	})
}

const createAddressMutation = `mutation($i: CreateAddressInput!) { createAddress(input: $i) { address { id label address { name postcode country } } } }`

func TestRace_createAddress(t *testing.T) {
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		tok, id := e.SignUp(t, "addr@race.example")
		in := func(key string) map[string]any {
			return map[string]any{"i": map[string]any{"label": "Home", "address": venue, "idempotencyKey": key}}
		}
		allSame(t, raceAll(raceN, func(int) graphtest.Response { return post(tok, createAddressMutation, in("k")) }))
		rs := raceAll(raceN, func(i int) graphtest.Response { return post(tok, createAddressMutation, in(fmt.Sprint("k-", i))) })
		if got := codeCounts(rs); got[""] != raceN {
			t.Fatalf("outcomes %v", got)
		}
		if n := e.Client.CustomerAddress.Query().Where(customeraddress.CustomerID(decodeID(t, id))).CountX(sys()); n != raceN+1 {
			t.Fatalf("%d addresses, want %d", n, raceN+1)
		}
	})
}

func TestRace_updateAddress(t *testing.T) {
	const m = `mutation($i: UpdateAddressInput!) { updateAddress(input: $i) { address { id label } } }`
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		tok, _ := e.SignUp(t, "addr-upd@race.example")
		var a struct {
			CreateAddress struct{ Address struct{ ID string } }
		}
		e.Do(t, tok, createAddressMutation, map[string]any{"i": map[string]any{"address": venue, "idempotencyKey": "a"}}).Decode(t, &a)
		id := a.CreateAddress.Address.ID
		allSame(t, raceAll(raceN, func(int) graphtest.Response {
			return post(tok, m, map[string]any{"i": map[string]any{"id": id, "label": "Work", "idempotencyKey": "k"}})
		}))
		rs := raceAll(raceN, func(i int) graphtest.Response {
			return post(tok, m, map[string]any{"i": map[string]any{"id": id, "label": fmt.Sprint("L", i), "idempotencyKey": fmt.Sprint("k-", i)}})
		})
		if got := codeCounts(rs); got[""] != raceN {
			t.Fatalf("outcomes %v", got)
		}
		// Another customer cannot touch it, with any key.
		other, _ := e.SignUp(t, "not-mine@race.example")
		wantCode(t, post(other, m, map[string]any{"i": map[string]any{"id": id, "label": "Mine", "idempotencyKey": "x"}}), "NOT_FOUND")
	})
}

func TestRace_deleteAddress(t *testing.T) {
	const m = `mutation($i: DeleteAddressInput!) { deleteAddress(input: $i) { deletedId } }`
	raceDelivery(t, func(t *testing.T, e *graphtest.Env, post func(string, string, map[string]any) graphtest.Response) {
		tok, _ := e.SignUp(t, "addr-del@race.example")
		newAddr := func(key string) string {
			var a struct {
				CreateAddress struct{ Address struct{ ID string } }
			}
			e.Do(t, tok, createAddressMutation, map[string]any{"i": map[string]any{"address": venue, "idempotencyKey": key}}).Decode(t, &a)
			return a.CreateAddress.Address.ID
		}
		one := newAddr("a")
		allSame(t, raceAll(raceN, func(int) graphtest.Response {
			return post(tok, m, map[string]any{"i": map[string]any{"id": one, "idempotencyKey": "k"}})
		}))
		each := newAddr("b")
		rs := raceAll(raceN, func(i int) graphtest.Response {
			return post(tok, m, map[string]any{"i": map[string]any{"id": each, "idempotencyKey": fmt.Sprint("k-", i)}})
		})
		if got := codeCounts(rs); got[""] != 1 || got["NOT_FOUND"] != raceN-1 {
			t.Fatalf("outcomes %v, want 1 deletion and %d NOT_FOUND", got, raceN-1)
		}
		if n := e.Client.CustomerAddress.Query().CountX(sys()); n != 0 {
			t.Fatalf("%d addresses left", n)
		}
	})
}
