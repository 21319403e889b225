package web_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/merchd/merchd/web"
)

var (
	// A <script> element that runs inline code: one without src, or with a body.
	inlineScript = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	// Inline event handlers and style attributes, which the policy blocks.
	inlineAttr = regexp.MustCompile(`(?i)<[^>]*\s(on[a-z]+|style)\s*=`)
	styleBlock = regexp.MustCompile(`(?i)<style\b`)
)

func checkNoInline(t *testing.T, where, html string) {
	t.Helper()
	for _, m := range inlineScript.FindAllStringSubmatch(html, -1) {
		if !strings.Contains(strings.ToLower(m[1]), "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("%s: inline script %q", where, m[0])
		}
	}
	if m := inlineAttr.FindString(html); m != "" {
		t.Errorf("%s: inline handler or style attribute in %q", where, m)
	}
	if styleBlock.MatchString(html) {
		t.Errorf("%s: a <style> block (move it to a stylesheet under static/)", where)
	}
}

// Finding 11: every page carries a Content-Security-Policy that allows no
// inline script and no other origin (Stripe's only where Elements is on),
// and no page needs inline script or style to work.
func TestPagesCarryCSP(t *testing.T) {
	verify := func(code string) error {
		if code == "forged" {
			return errors.New("bad signature")
		}
		return nil
	}
	type page struct {
		path       string
		stripe     bool // mounts Stripe Elements
		embeddable bool // the OBS overlay
		status     int
	}
	pages := []page{
		{"/", true, false, 200}, {"/products/tee", true, false, 200}, {"/drops/x", true, false, 200},
		{"/cart", true, false, 200}, {"/signin", true, false, 200}, {"/orders/x", true, false, 200},
		{"/wallet", true, false, 200}, {"/q/good", true, false, 200}, {"/q/forged", false, false, 400},
		{"/orders", true, false, 200}, {"/account", true, false, 200}, {"/reset-password", true, false, 200}, {"/verify-email", true, false, 200},
		{"/pay/hub", true, false, 200}, {"/hub-sales/abc", false, false, 200}, {"/watch/s", true, false, 200},
		{"/overlay/s", false, true, 200}, {"/assets/shop.js", false, false, 200}, {"/nope/nope", false, false, 404},
		{"/till", false, false, 200}, {"/assets/till.js", false, false, 200},
	}
	for _, pk := range []string{"", "pk_test_123"} {
		srv := httptest.NewServer(web.Handler(web.Config{StripePublishableKey: pk, VerifyQR: verify}))
		for _, p := range pages {
			resp, err := http.Get(srv.URL + p.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			where := p.path + " (key " + pk + ")"
			if resp.StatusCode != p.status {
				t.Errorf("%s: status %d, want %d", where, resp.StatusCode, p.status)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			dirs := map[string]string{}
			for _, d := range strings.Split(csp, ";") {
				name, val, _ := strings.Cut(strings.TrimSpace(d), " ")
				dirs[name] = val
			}
			host := strings.TrimPrefix(srv.URL, "http://")
			wantScript := "'self'"
			if pk != "" && p.stripe {
				wantScript = "'self' https://js.stripe.com https://*.js.stripe.com"
				if !strings.Contains(dirs["connect-src"], "https://api.stripe.com") || !strings.Contains(dirs["frame-src"], "https://js.stripe.com") ||
					!strings.Contains(dirs["frame-src"], "https://hooks.stripe.com") {
					t.Errorf("%s: Stripe Elements is on but the policy does not allow Stripe: %q", where, csp)
				}
			} else if strings.Contains(csp, "stripe") {
				t.Errorf("%s: Stripe's origins without Stripe Elements: %q", where, csp)
			}
			switch {
			case dirs["default-src"] != "'self'":
				t.Errorf("%s: default-src in %q", where, csp)
			case dirs["script-src"] != wantScript:
				t.Errorf("%s: script-src %q, want %q", where, dirs["script-src"], wantScript)
			case dirs["style-src"] != "'self'":
				t.Errorf("%s: style-src %q", where, dirs["style-src"])
			case !strings.HasPrefix(dirs["connect-src"], "'self' ws://"+host+" wss://"+host):
				t.Errorf("%s: connect-src %q", where, dirs["connect-src"])
			case dirs["object-src"] != "'none'" || dirs["base-uri"] != "'none'":
				t.Errorf("%s: object-src/base-uri in %q", where, csp)
			}
			if p.embeddable {
				if _, ok := dirs["frame-ancestors"]; ok || resp.Header.Get("X-Frame-Options") != "" {
					t.Errorf("%s: the OBS overlay cannot be embedded: %q", where, csp)
				}
			} else if dirs["frame-ancestors"] != "'none'" || resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: may be framed: %q", where, csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" {
				t.Errorf("%s: nosniff %q, referrer policy %q", where, resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("Referrer-Policy"))
			}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				checkNoInline(t, where, string(body))
			}
		}
		srv.Close()
	}
	// The templates themselves, including any page not routed above.
	files, _ := filepath.Glob("static/*.html")
	if len(files) == 0 {
		t.Fatal("no templates found")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkNoInline(t, f, string(raw))
	}
}

// A Host header cannot smuggle directives into the policy.
func TestPolicyIgnoresOddHost(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "evil.example; script-src *"
	web.Handler(web.Config{}).ServeHTTP(rec, req)
	csp := rec.Header().Get("Content-Security-Policy")
	if strings.Contains(csp, "evil") || !strings.Contains(csp, "connect-src 'self';") {
		t.Fatalf("policy %q", csp)
	}
}

// The creator's colour reaches the pages through /assets/brand.css (the
// policy allows no inline style), and Stripe.js from another address
// widens the policy by that origin only.
func TestBrandAndStripeJSURL(t *testing.T) {
	h := web.Handler(web.Config{StripePublishableKey: "pk_test_1", ShopName: "Night Owl",
		Brand: web.Brand{Color: "#6a1fb0", LogoURL: "/assets/demo/owl.svg", StripeJSURL: "https://js.example/v3/"}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/assets/brand.css", nil))
	if !strings.Contains(rec.Body.String(), "--brand: #6a1fb0") {
		t.Fatalf("brand.css: %q", rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/q/code", nil))
	body, csp := rec.Body.String(), rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"Night Owl", `src="/assets/demo/owl.svg"`, `data-stripe-js="https://js.example/v3/"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if !strings.Contains(csp, "script-src 'self' https://js.example;") || strings.Contains(csp, "stripe.com") {
		t.Errorf("policy %q", csp)
	}
	// A bad colour never reaches a page (main refuses it first).
	rec = httptest.NewRecorder()
	web.Handler(web.Config{Brand: web.Brand{Color: "red;}*{display:none"}}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/assets/brand.css", nil))
	if strings.Contains(rec.Body.String(), "display") {
		t.Fatalf("brand.css: %q", rec.Body.String())
	}
}
