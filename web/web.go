// Package web serves merchd's pages from the binary: the storefront, the
// on-site QR checkout, the stream viewer and the OBS overlay. They are
// small vanilla-JS modules; every piece of data they show goes through the
// public GraphQL API at /query.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

//go:embed static
var static embed.FS

// Config configures the pages.
type Config struct {
	// StripePublishableKey (pk_…) turns on Stripe Elements for card payments.
	StripePublishableKey string
	// VerifyQR checks a QR code's signature; a forged code gets an error page.
	VerifyQR func(code string) error
	// ShopName is shown in the header and titles ("merchd" when empty).
	ShopName string
	// Brand is the creator's look.
	Brand Brand
	// Look, when set, is asked at every page and brand.css for the shop's
	// name, logo and colour as an owner set them in the console (cached
	// by its provider); its empty fields keep ShopName and Brand's.
	Look func(ctx context.Context) Look
}

// Look is what an owner may change without a restart.
type Look struct {
	ShopName   string
	LogoURL    string
	BrandColor string
}

// current is cfg with the owner's look laid over it; a value the pages
// cannot use is ignored (the settings refuse them; this guards old rows).
func (cfg Config) current(ctx context.Context) Config {
	if cfg.Look == nil {
		return cfg
	}
	l := cfg.Look(ctx)
	if l.ShopName != "" {
		cfg.ShopName = l.ShopName
	}
	if l.LogoURL != "" && pageURL(l.LogoURL) {
		cfg.Brand.LogoURL = l.LogoURL
	}
	if l.BrandColor != "" && hexColor.MatchString(l.BrandColor) {
		cfg.Brand.Color = l.BrandColor
	}
	return cfg
}

// BrandCSS is brand.css's address, versioned by the colour so that a
// changed colour is fetched at the next page load despite caching.
func (b Brand) BrandCSS() string {
	if b.Color == "" {
		return "/assets/brand.css"
	}
	h := fnv.New32a()
	h.Write([]byte(b.Color))
	return fmt.Sprintf("/assets/brand.css?v=%08x", h.Sum32())
}

// Brand is the creator's look on every page, from flags.
type Brand struct {
	// Color is the brand colour (#rrggbb or #rgb): buttons, links, focus.
	Color string
	// LogoURL is the logo in the header: https or a path on this server.
	LogoURL string
	// StripeJSURL is where pages load Stripe.js from: Stripe's by default
	// (https://js.stripe.com/v3/); tests point it at a stand-in.
	StripeJSURL string
}

// DefaultStripeJS is Stripe.js, which must come from Stripe.
const DefaultStripeJS = "https://js.stripe.com/v3/"

var hexColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// Validate reports a colour or address the pages cannot use.
func (b Brand) Validate() error {
	var errs []error
	if b.Color != "" && !hexColor.MatchString(b.Color) {
		errs = append(errs, fmt.Errorf("--brand-color %q is not a colour like #0b57d0", b.Color))
	}
	if b.LogoURL != "" && !pageURL(b.LogoURL) {
		errs = append(errs, fmt.Errorf("--logo-url %q is neither an https URL nor a path like /assets/logo.svg", b.LogoURL))
	}
	if b.StripeJSURL != "" && !pageURL(b.StripeJSURL) {
		errs = append(errs, fmt.Errorf("--stripe-js-url %q is neither an https URL nor a path", b.StripeJSURL))
	}
	return errors.Join(errs...)
}

// pageURL: an https URL, or a path on this server (one leading slash).
func pageURL(s string) bool {
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.ContainsAny(s, "\\\"'<> ") {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && validHost(u.Host)
}

// stripeJS is Stripe.js's address and the origin the policy must allow
// for it ("" when it is on this server).
func (b Brand) stripeJS() (src, origin string) {
	src = b.StripeJSURL
	if src == "" {
		src = DefaultStripeJS
	}
	if u, err := url.Parse(src); err == nil && u.Host != "" {
		origin = u.Scheme + "://" + u.Host
	}
	return src, origin
}

// view is what the templates see.
type view struct {
	Config
	StripeJS string
}

var pages = template.Must(template.ParseFS(static, "static/*.html"))

// Handler serves the pages and their assets.
func Handler(cfg Config) http.Handler {
	if cfg.ShopName == "" {
		cfg.ShopName = "merchd"
	}
	if cfg.Brand.Validate() != nil {
		cfg.Brand = Brand{} // main validates; a bad value never reaches a page
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /assets/brand.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		if c := cfg.current(r.Context()); c.Brand.Color != "" {
			fmt.Fprintf(w, ":root { --brand: %s; }\n", c.Brand.Color)
		}
	})
	assets, _ := fs.Sub(static, "static")
	files := http.FileServerFS(assets)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheable(files)))
	mux.HandleFunc("GET /assets/demo/{name}", demoImage)
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			render(w, r, http.StatusOK, name, cfg.current(r.Context()))
		}
	}
	for _, p := range []string{"/{$}", "/products/{slug}", "/drops/{id}", "/cart", "/signin", "/orders", "/orders/{id}", "/wallet",
		"/account", "/reset-password", "/verify-email"} {
		mux.HandleFunc("GET "+p, page("shop.html"))
	}
	mux.HandleFunc("GET /q/{code}", func(w http.ResponseWriter, r *http.Request) {
		if cfg.VerifyQR != nil {
			if err := cfg.VerifyQR(r.PathValue("code")); err != nil {
				render(w, r, http.StatusBadRequest, "qr-invalid.html", cfg.current(r.Context()))
				return
			}
		}
		render(w, r, http.StatusOK, "qr.html", cfg.current(r.Context()))
	})
	// The staff console: one page; admin.js routes /admin/<area>/… itself.
	mux.HandleFunc("GET /admin", page("admin.html"))
	mux.HandleFunc("GET /admin/{rest...}", page("admin.html"))
	// The till: a clerk's counter page on a hub (and on central).
	mux.HandleFunc("GET /till", page("till.html"))
	mux.HandleFunc("GET /pay/hub", page("pay.html"))
	mux.HandleFunc("GET /hub-sales/{sale}", page("receipt.html"))
	mux.HandleFunc("GET /watch/{stream}", page("watch.html"))
	mux.HandleFunc("GET /overlay/{stream}", page("overlay.html"))
	return security(mux)
}

// stripePages mount Stripe Elements (card payments) when a key is set.
var stripePages = map[string]bool{"shop.html": true, "pay.html": true, "qr.html": true, "watch.html": true}

// embeddable pages may be framed (the OBS overlay); no other page may.
var embeddable = map[string]bool{"overlay.html": true}

func render(w http.ResponseWriter, r *http.Request, status int, name string, cfg Config) {
	src, origin := cfg.Brand.stripeJS()
	stripe := ""
	if cfg.StripePublishableKey != "" && stripePages[name] {
		stripe = origin
		if origin == "" {
			stripe = "'self'" // a stand-in on this server
		}
	}
	w.Header().Set("Content-Security-Policy", policy(r, stripe, embeddable[name]))
	if embeddable[name] {
		w.Header().Del("X-Frame-Options")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, view{Config: cfg, StripeJS: src})
}

func cacheable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

// security sets the headers every response should carry: a strict
// Content-Security-Policy (a page widens it in render), no MIME sniffing,
// no framing and no referrer to other sites.
func security(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", policy(r, "", false))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY") // render lifts it for the OBS overlay
		next.ServeHTTP(w, r)
	})
}

// Explorer serves GraphiQL at /graphiql and its files under /graphiql/,
// all from the binary (GraphiQL and React vendored from npm, see
// testdata/node/vendor-graphiql.mjs): it works with no internet, and its
// policy allows this origin only (fonts and icons are data: URIs inside
// GraphiQL's stylesheet). Mount it on "GET /graphiql" and "GET /graphiql/".
func Explorer() http.Handler {
	files, _ := fs.Sub(static, "static/graphiql")
	assets := http.StripPrefix("/graphiql/", cacheable(http.FileServerFS(files)))
	return security(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		connect := "'self'"
		if host := r.Host; validHost(host) {
			connect += " ws://" + host + " wss://" + host
		}
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self' data:; "+
			"img-src 'self' data:; connect-src "+connect+"; worker-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		if r.URL.Path == "/graphiql" || r.URL.Path == "/graphiql/" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, files, "index.html")
			return
		}
		assets.ServeHTTP(w, r)
	}))
}

// policy is a page's Content-Security-Policy: scripts, styles and
// connections from this origin only (and its websocket for subscriptions),
// no inline script or style, no plugins, no <base> or foreign form targets.
// Stripe's origins are added only to pages that mount Stripe Elements,
// and only the OBS overlay may be framed.
//
// stripe is Stripe.js's origin on a page that mounts Elements ("" on
// others); Stripe's own origin brings its API and frames with it.
func policy(r *http.Request, stripe string, embeddable bool) string {
	script, connect, frame := "'self'", "'self'", "'none'"
	if host := r.Host; validHost(host) {
		connect += " ws://" + host + " wss://" + host
	}
	switch {
	case stripe == "https://js.stripe.com":
		script += " https://js.stripe.com https://*.js.stripe.com"
		connect += " https://api.stripe.com"
		frame = "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com"
	case stripe == "'self'":
	case stripe != "":
		script += " " + stripe
		frame = stripe
	}
	p := "default-src 'self'; script-src " + script + "; style-src 'self'; img-src 'self' data: https:; " +
		"connect-src " + connect + "; frame-src " + frame + "; object-src 'none'; base-uri 'none'; form-action 'self'"
	if !embeddable {
		p += "; frame-ancestors 'none'"
	}
	return p
}

// validHost reports whether a Host header can go into a policy as is: a
// name or address with an optional port, nothing that could end a directive.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-:[]", c) >= 0) {
			return false
		}
	}
	return true
}

// demoImage draws a product tile for the demo shop, so it needs no files.
func demoImage(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSuffix(r.PathValue("name"), ".svg")
	hf := fnv.New32a()
	hf.Write([]byte(name))
	hue := hf.Sum32() % 360
	label := strings.ToUpper(strings.ReplaceAll(strings.TrimSuffix(name, "-back"), "-", " "))
	if len(label) > 18 {
		label = label[:18]
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 400"><rect width="400" height="400" fill="hsl(%d 55%% 35%%)"/>`+
		`<text x="200" y="210" font-family="sans-serif" font-size="26" fill="#fff" text-anchor="middle">%s</text></svg>`, hue, template.HTMLEscapeString(label))
}
