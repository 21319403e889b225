package graph_test

// An independent attacker's reproductions of promises the console's
// release broke (each comment says what was observed before the fix and
// where it was); they pass since the fixes and keep them fixed.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestAttack_ClerkCannotReadOtherBuyersAddressOrCart: a clerk reads only their
// location's work (README: "a clerk is refused all but the till, pickups
// and returns at their location"). Observed: a clerk at popup-1 reads, by
// node(id), the saved address (name, street, phone) and the open cart of a
// customer who never bought anything there. ent/schema/clerk.go clerkScope
// has no case for CustomerAddress, Cart, CartLine (nor DeliveryChoice), so
// they fall through to allowStaff (ent/schema/mixin.go).
func TestAttack_ClerkCannotReadOtherBuyersAddressOrCart(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			e.Client.Location.Create().SetCode("popup-1").SetName("Pop-up 1").SetKind(location.KindHUB).SaveX(sys())
			clerk := addStaff(t, e, "cleo@attack.example", "CLERK", "popup-1")
			v := newVariant(t, e, 10, 1500, "EUR")
			tok, _ := e.SignUp(t, "victim@attack.example")
			var a struct {
				CreateAddress struct{ Address struct{ ID string } }
			}
			e.Do(t, tok, `mutation { createAddress(input: {label: "Home", idempotencyKey: "a1", address: {name: "Vic Tim",
				line1: "1 Secret St", city: "Berlin", postcode: "10115", country: "DE", phone: "+4915100000"}}) { address { id } } }`, nil).Decode(t, &a)
			var c struct {
				AddToCart struct{ Cart struct{ ID string } }
			}
			addToCart(t, e, tok, v, 1, "c1").Decode(t, &c)

			r := e.Do(t, clerk.Token, `query($id: ID!) { node(id: $id) { ... on CustomerAddress { address { name line1 phone } } } }`,
				map[string]any{"id": a.CreateAddress.Address.ID})
			if r.Code() != "NOT_FOUND" && r.Code() != "FORBIDDEN" {
				t.Errorf("a clerk read another location's buyer's address: %s", r.Data)
			}
			r = e.Do(t, clerk.Token, `query($id: ID!) { node(id: $id) { ... on Cart { status lines { quantity } } } }`,
				map[string]any{"id": c.AddToCart.Cart.ID})
			if r.Code() != "NOT_FOUND" && r.Code() != "FORBIDDEN" {
				t.Errorf("a clerk read a buyer's cart: %s", r.Data)
			}
		})
	}
}

// TestAttack_ClerkCannotListHubSales: hub sales are staff business; a customer
// gets FORBIDDEN, a clerk gets the list (HubSale's staffOnlyPolicy lets
// every staff rank through, and the hubSales resolver checks no rank).
func TestAttack_ClerkCannotListHubSales(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	clerk := addStaff(t, e, "cleo@hubsales.example", "CLERK", "central")
	wantCode(t, e.Do(t, clerk.Token, `{ hubSales(first: 5) { totalCount } }`, nil), "FORBIDDEN")
}

// TestAttack_CSVDuplicateSkuInOneFile: a file naming one SKU twice applies
// both rows (the last wins) and importing the same file again reports
// UPDATED twice and writes twice, breaking "importing the same file twice
// changes nothing the second time" (checkout/catalog/csv.go ImportCSV:
// rows are not checked for a repeated sku).
func TestAttack_CSVDuplicateSkuInOneFile(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	file := "product_slug,product_title,sku,variant_title,price,currency\n" +
		"dup,Dup,DUP-1,One,1.00,EUR\n" +
		"dup,Dup,DUP-1,One,2.00,EUR\n"
	first := importCatalog(t, e, e.StaffToken, file)
	if first.Rows[1].Outcome != "FAILED" {
		t.Errorf("the second row of one SKU in one file: %+v, want FAILED (duplicate sku)", first.Rows[1])
	}
	second := importCatalog(t, e, e.StaffToken, file)
	if second.Updated != 0 || second.Created != 0 {
		t.Errorf("the same file again changed the catalog: %+v", second)
	}
}

// TestAttack_AnalyticsFractionalPeriod: a period whose start has
// a fraction of a second (any client sending milliseconds) and a paid
// order near its end answers INTERNAL ("series: bucket 2 of EUR outside
// the period"): the bucket index is computed from From.Unix() (floor)
// against SQL epochs of whole seconds (floor on SQLite, rounded on
// PostgreSQL), checkout/analytics/analytics.go:288 and :450-463. On
// PostgreSQL a whole-second period fails too when a sale falls in its
// last half second.
func TestAttack_AnalyticsFractionalPeriod(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 10, 1500, "EUR")
			tok, _ := e.SignUp(t, "buyer@analytics-attack.example")
			id := paidOrder(t, e, tok, v, "a1")
			var o struct {
				Node struct{ PaidAt time.Time }
			}
			e.Staff(t, `query($id: ID!) { node(id: $id) { ... on Order { paidAt } } }`, map[string]any{"id": id}, &o)
			p := o.Node.PaidAt.UTC()
			frac := time.Duration(p.Nanosecond())
			g := (frac + time.Second) / 2 // a fraction above the sale's
			from := p.Truncate(time.Second).Add(-2 * time.Hour).Add(g)
			to := from.Add(2 * time.Hour) // p is inside [from, to)
			if p.Before(from) || !p.Before(to) {
				t.Fatalf("period %s..%s misses %s", from, to, p)
			}
			r := e.Do(t, e.StaffToken, `query($i: AnalyticsInput!) { analytics(input: $i) { sales { revenue { amount } } series { revenue { amount } } } }`,
				map[string]any{"i": map[string]any{"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano)}})
			if r.Code() != "" {
				t.Fatalf("analytics of %s..%s: %s %+v", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), r.Code(), r.Errors)
			}
		})
	}
}

// TestAttack_LongFilterStringRefused: anonymous, a where filter with a
// 60,000-character titleContainsFold answers INTERNAL on SQLite ("LIKE or
// GLOB pattern too complex"): where strings have no length limit
// (graph/limits.go counts conditions only). It is the client's input:
// BAD_USER_INPUT.
func TestAttack_LongFilterStringRefused(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	newVariant(t, e, 1, 100, "EUR") // a row for the LIKE to look at
	r := e.Do(t, "", `query($t: String) { products(first: 1, where: {titleContainsFold: $t}) { totalCount } }`,
		map[string]any{"t": strings.Repeat("x", 60000)})
	if r.Code() == "INTERNAL" {
		t.Fatalf("a long filter string is INTERNAL: %+v", r.Errors)
	}
}

// TestAttack_UploadPolyglotRefused: "only real PNG/JPEG/WebP/GIF": a body
// that is a PNG signature followed by HTML is stored and served as
// image/png (graph/uploads.go: http.DetectContentType looks at the magic
// bytes only; nothing decodes the image). Served with nosniff and a
// sandbox CSP, so it does not run as script today, but it is not an image.
func TestAttack_UploadPolyglotRefused(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	body := []byte("\x89PNG\r\n\x1a\n<html><script>alert(document.domain)</script></html>")
	res, out := upload(t, e, e.StaffToken, body)
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("PNG signature + HTML: %d %s, want 415", res.StatusCode, out)
	}
}

// TestAttack_ImageFromAnotherSiteAsPath: "//evil.example/x.png" starts
// with a slash but is another site to a browser; a product image must be
// an http(s) URL or a path on this server.
func TestAttack_ImageFromAnotherSiteAsPath(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	var p struct {
		CreateProduct struct{ Product struct{ ID string } }
	}
	e.Staff(t, `mutation { createProduct(input: {title: "Pic", slug: "pic"}) { product { id } } }`, nil, &p)
	for _, u := range []string{"//evil.example/x.png", "/\\evil.example/x.png", "javascript:alert(1)", "/a\" onerror=\"x"} {
		r := e.Do(t, e.StaffToken, `mutation($p: ID!, $u: String!) { setProductImages(input: {productId: $p, images: [{url: $u}]}) { product { id } } }`,
			map[string]any{"p": p.CreateProduct.Product.ID, "u": u})
		if r.Code() != "BAD_USER_INPUT" {
			t.Errorf("image %q: %v, want BAD_USER_INPUT", u, r.Errors)
		}
	}
	e.Staff(t, `mutation($p: ID!) { setProductImages(input: {productId: $p, images: [{url: "/uploads/ab.png"}, {url: "https://cdn.example/x.png"}]}) { product { id } } }`,
		map[string]any{"p": p.CreateProduct.Product.ID}, &struct{}{})
}
