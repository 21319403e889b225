package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/hubpayment"
	"github.com/merchd/merchd/ent/payment"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/live/livetest"
	"github.com/merchd/merchd/web"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// chromium finds Debian's Chromium; the test skips without it.
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("MERCHD_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Skip("needs Chromium: apt-get install chromium (or set MERCHD_CHROMIUM)")
	return ""
}

type account struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Token    string `json:"token"`
}

// TestPagesInChromium drives the storefront, the QR checkout and the stream
// viewer in headless Chromium through playwright-core (testdata/node/e2e.mjs).
func TestPagesInChromium(t *testing.T) {
	browser := chromium(t)
	dir := graphtest.NodeDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		t.Skipf("needs playwright-core: run `npm ci` in %s", dir)
	}
	e := graphtest.New(t, graphtest.Options{})
	e.Mux.Handle("/", web.Handler(web.Config{VerifyQR: func(code string) error { _, err := e.QR.Verify(code); return err }}))
	// Test-only: Stripe confirms an order's card payment.
	e.Mux.HandleFunc("POST /test/pay", func(w http.ResponseWriter, r *http.Request) {
		id, err := gid.Decode(r.URL.Query().Get("order"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		p, err := e.Client.Payment.Query().Where(payment.OrderID(id), payment.MethodEQ(payment.MethodCARD)).Only(viewer.SystemContext(r.Context()))
		if err != nil || p.StripePaymentIntentID == nil {
			http.Error(w, fmt.Sprint("no card payment: ", err), 400)
			return
		}
		body, sig := e.Stripe.Event(t, "evt_e2e_"+r.URL.Query().Get("order"), "payment_intent.succeeded", *p.StripePaymentIntentID)
		w.WriteHeader(graphtest.Deliver(t, e.WebhookURL, body, sig))
	})

	// Test-only: Stripe confirms a hub sale's phone payment.
	e.Mux.HandleFunc("POST /test/pay-hub", func(w http.ResponseWriter, r *http.Request) {
		p, err := e.Client.HubPayment.Query().Where(hubpayment.SaleID(r.URL.Query().Get("sale"))).Only(viewer.SystemContext(r.Context()))
		if err != nil || p.StripePaymentIntentID == nil {
			http.Error(w, fmt.Sprint("no phone payment: ", err), 400)
			return
		}
		body, sig := e.Stripe.Event(t, "evt_e2e_hub_"+p.SaleID, "payment_intent.succeeded", *p.StripePaymentIntentID)
		w.WriteHeader(graphtest.Deliver(t, e.WebhookURL, body, sig))
	})

	staff := func(q string, vars map[string]any, out any) { e.Staff(t, q, vars, out) }
	newProduct := func(title, slug string, stock, price int) (productID, variantID string) {
		var p struct {
			CreateProduct struct{ Product struct{ ID string } }
		}
		staff(`mutation($t: String!, $s: String!) { createProduct(input: {title: $t, slug: $s}) { product { id } } }`, map[string]any{"t": title, "s": slug}, &p)
		var v struct {
			CreateVariant struct{ Variant struct{ ID string } }
		}
		staff(`mutation($p: ID!, $sku: String!, $a: Int!) { createVariant(input: {productId: $p, sku: $sku, title: "One size", price: {amount: $a, currency: "EUR"}}) { variant { id } } }`,
			map[string]any{"p": p.CreateProduct.Product.ID, "sku": strings.ToUpper(slug), "a": price}, &v)
		staff(`mutation($v: ID!, $n: Int!, $k: String!) { setStock(input: {variantId: $v, available: $n, idempotencyKey: $k}) { available } }`,
			map[string]any{"v": v.CreateVariant.Variant.ID, "n": stock, "k": "s-" + slug}, &struct{}{})
		staff(`mutation($p: ID!) { setProductImages(input: {productId: $p, images: [{url: "/assets/demo/e2e.svg", alt: "A tee"}]}) { product { id } } }`,
			map[string]any{"p": p.CreateProduct.Product.ID}, &struct{}{})
		return p.CreateProduct.Product.ID, v.CreateVariant.Variant.ID
	}
	person := func(email string, credit int) account {
		tok, id := e.SignUp(t, email)
		if credit > 0 {
			staff(`mutation($c: ID!, $a: Int!, $k: String!) { grantCredit(input: {customerIds: [$c], amount: {amount: $a, currency: "EUR"}, note: "e2e", idempotencyKey: $k}) { granted } }`,
				map[string]any{"c": id, "a": credit, "k": "g-" + email}, &struct{}{})
		}
		return account{Email: email, Password: "correct horse battery", Token: tok}
	}

	teeProduct, teeVariant := newProduct("E2E Tee", "e2e-tee", 6, 1999)
	// A pop-up hub's order, paid from the buyer's phone.
	staff(`mutation($v: ID!) { leaseAllocation(input: {hub: "e2e-hub", variantId: $v, units: 3, idempotencyKey: "e2e-lease"}) { available } }`,
		map[string]any{"v": teeVariant}, &struct{}{})
	staff(`mutation($s: String!) { recordHubSales(input: {sales: [{saleId: $s, hub: "e2e-hub", currency: "EUR", paidWith: CASH, soldAt: "2026-11-21T10:00:00Z", lines: [{sku: "E2E-TEE", quantity: 1, unitAmount: 1999}]}]}) { results { applied } } }`,
		map[string]any{"s": "e2e0receipt1"}, &struct{}{})
	hubReq := hubs.PaymentRequest{SaleID: "e2e0hub0sale", Hub: "e2e-hub", Amount: 3998, Currency: "EUR",
		Lines: []hubs.SaleLine{{SKU: "E2E-TEE", Quantity: 2, UnitAmount: 1999}}}.SignWith(hubs.RequestKey(e.StaffToken))
	_, dropVariant := newProduct("Last One Hoodie", "last-one", 1, 4500)
	liveProduct, liveVariant := newProduct("Live Cap", "live-cap", 9, 2500)
	now := e.Clock.Now()
	var d struct {
		CreateDrop struct{ Drop struct{ ID string } }
	}
	staff(`mutation($v: ID!, $o: Time!, $c: Time!) { createDrop(input: {title: "Last unit", variantIds: [$v], cap: 1, opensAt: $o, closesAt: $c}) { drop { id } } }`,
		map[string]any{"v": dropVariant, "o": now.Add(-time.Minute), "c": now.Add(time.Hour)}, &d)
	var qr struct {
		IssueQRCode struct{ Path string }
	}
	staff(`mutation($p: ID!) { issueQRCode(input: {productIds: [$p], label: "Table 4"}) { path } }`, map[string]any{"p": teeProduct}, &qr)
	var st struct {
		CreateStream struct {
			Stream    struct{ ID string }
			StreamKey string
		}
	}
	staff(`mutation($p: ID!) { createStream(input: {title: "E2E live", pinnedProductIds: [$p]}) { stream { id } streamKey } }`, map[string]any{"p": liveProduct}, &st)
	pub, code := livetest.PublishIVF(t, e.Base, st.CreateStream.Stream.ID, st.CreateStream.StreamKey, filepath.Join(repoRoot(), "testdata", "live", "testsrc.ivf"))
	if code != http.StatusCreated {
		t.Fatalf("publish: %d", code)
	}
	defer pub.Close()

	artifacts := os.Getenv("MERCHD_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(repoRoot(), "artifacts", "screenshots")
	}
	cfg := map[string]any{
		"base": e.Base, "chromium": browser, "artifacts": artifacts,
		"alice": person("alice@e2e.example", 20000), "bob": person("bob@e2e.example", 0), "carol": person("carol@e2e.example", 5000),
		"productTitle": "E2E Tee", "productSlug": "e2e-tee", "dropId": d.CreateDrop.Drop.ID, "qrPath": qr.IssueQRCode.Path,
		"hubPayPath": "/pay/hub#" + hubReq.Encode(), "hubSaleId": hubReq.SaleID, "receiptPath": "/hub-sales/e2e0receipt1",
		"streamId": st.CreateStream.Stream.ID, "streamProductId": liveProduct, "streamVariantId": liveVariant,
	}
	raw, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "e2e.mjs"), string(raw))
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	passed := 0
	for sc.Scan() {
		var r struct {
			Name   string
			OK     bool
			Detail string
		}
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if !r.OK {
			t.Errorf("browser: %s", r.Detail)
			continue
		}
		passed++
		t.Logf("browser: %s %s", r.Name, r.Detail)
	}
	if err := cmd.Wait(); err != nil || t.Failed() {
		t.Fatalf("the browser run failed (%v); screenshots in %s", err, artifacts)
	}
	if passed < 12 {
		t.Fatalf("only %d browser checks passed", passed)
	}
}
