package web_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/web"
)

// member is a staff member the browser signs in as.
type member struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// console is a server with the console's pages and a browser to drive
// them; Config goes to the browser script as its JSON argument.
type console struct {
	E      *graphtest.Env
	Config map[string]any
}

// newConsole starts a server with the pages, an owner, a staff member and a
// clerk at location "popup-1" who sign in with passwords. Tests needing
// Chromium or playwright-core skip without them.
func newConsole(t *testing.T, o graphtest.Options) *console {
	browser, dir := graphtest.Browser(t)
	e := graphtest.New(t, o)
	e.Mux.Handle("/", web.Handler(web.Config{ShopName: "Night Owl Merch",
		Brand: web.Brand{Color: "#6a1fb0", LogoURL: "/assets/demo/night-owl.svg"},
		Look: func(ctx context.Context) web.Look { // what an owner set in the console's settings
			l := e.Settings.Get(ctx)
			return web.Look{ShopName: l.Name, LogoURL: l.LogoURL, BrandColor: l.BrandColor}
		}}))
	add := func(email, role, location string) member {
		var out struct {
			CreateStaff struct{ Staff struct{ ID string } }
		}
		in := map[string]any{"email": email, "name": email[:len(email)-len("@shop.example")], "role": role, "password": "correct horse battery"}
		if location != "" {
			in["location"] = location
		}
		e.Staff(t, `mutation($i: CreateStaffInput!) { createStaff(input: $i) { staff { id } } }`, map[string]any{"i": in}, &out)
		return member{ID: out.CreateStaff.Staff.ID, Email: email, Password: "correct horse battery"}
	}
	// The clerk's counter: a hub at the venue.
	e.Staff(t, `mutation { createPickupPoint(input: {code: "popup-1", kind: HUB, name: "Pop-up at the Roundhouse",
		address: {name: "Roundhouse", line1: "Chalk Farm Rd", city: "London", postcode: "NW1 8EH", country: "GB"}, idempotencyKey: "pp-popup-1"}) { pickupPoint { id } } }`, nil, &struct{}{})
	artifacts := os.Getenv("MERCHD_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(repoRoot(), "artifacts", "screenshots")
	}
	return &console{E: e, Config: map[string]any{
		"base": e.Base, "chromium": browser, "artifacts": artifacts, "nodeDir": dir, "ownerToken": e.StaffToken,
		"owner": add("olivia@shop.example", "OWNER", ""), "staff": add("sam@shop.example", "STAFF", ""),
		"clerk": add("cleo@shop.example", "CLERK", "popup-1"),
	}}
}

// run runs testdata/node/<script> against the console; at least min checks must pass.
func (c *console) run(t *testing.T, script string, min int) {
	graphtest.RunBrowser(t, filepath.Join(graphtest.NodeDir(t), script), c.Config, min, 4*time.Minute)
}

// TestConsoleShellInChromium: staff sign in through the form at desktop and
// tablet size and see the areas their role opens; a clerk is refused
// settings; a disabled clerk is signed out at once.
func TestConsoleShellInChromium(t *testing.T) {
	c := newConsole(t, graphtest.Options{})
	c.run(t, "console.mjs", 8)
}
