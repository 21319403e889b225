package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/merchd/merchd/web"
)

var (
	assetRef  = regexp.MustCompile(`(?:src|href)="(/assets/[^"]+\.(?:js|css))"`)
	importRef = regexp.MustCompile(`(?:from\s*|import\s*\(?\s*)"(/assets/[^"]+\.js)"`)
)

// Every page ships at most 50 KB of JavaScript and CSS (uncompressed),
// counting every module it imports: the pages stay usable on slow 4G.
func TestPageWeight(t *testing.T) {
	const limit = 50 << 10
	srv := httptest.NewServer(web.Handler(web.Config{StripePublishableKey: "pk_test_123", ShopName: "Weight Shop", Brand: web.Brand{Color: "#aa3366"}}))
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		return string(b)
	}
	for _, page := range []string{"/", "/products/tee", "/drops/x", "/cart", "/orders", "/orders/x", "/account", "/wallet",
		"/reset-password", "/q/code", "/watch/s", "/overlay/s", "/pay/hub", "/hub-sales/x"} {
		html := get(page)
		seen := map[string]bool{}
		var queue []string
		for _, m := range assetRef.FindAllStringSubmatch(html, -1) {
			queue = append(queue, m[1])
		}
		total, js := 0, 0
		for len(queue) > 0 {
			a := queue[0]
			queue = queue[1:]
			if seen[a] {
				continue
			}
			seen[a] = true
			body := get(a)
			total += len(body)
			if regexp.MustCompile(`\.js$`).MatchString(a) {
				js++
				for _, m := range importRef.FindAllStringSubmatch(body, -1) {
					queue = append(queue, m[1])
				}
			}
		}
		if js == 0 {
			t.Errorf("%s: no script found; the measurement is broken", page)
		}
		if total > limit {
			t.Errorf("%s ships %d bytes of JS and CSS, over %d", page, total, limit)
		}
		t.Logf("%-16s %6d bytes of JS+CSS in %d files", page, total, len(seen))
	}
}
