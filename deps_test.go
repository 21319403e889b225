package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/merchd/merchd"

// allowedDeps is the dependency direction (README, "Where things live"): which of our top-level
// folders each package may depend on, directly or through others, outside
// tests. ent depends on nothing of ours; hardware and live are leaves;
// only main wires everything.
var allowedDeps = map[string][]string{
	"ent":      {"ent"},
	"hardware": {"hardware"},
	"live":     {"live"},
	"checkout": {"checkout", "ent"},
	"edge":     {"edge", "ent", "checkout", "hardware"},
	"graph":    {"graph", "checkout", "live", "ent", "hardware"},
	"web":      {"web"},
	"bench":    {},
}

// checkoutDeps is checkout's inner layering: which of checkout's packages
// each may depend on, directly or through others. The vocabulary
// (checkout) depends on none; txn and inventory only on it; a domain only
// on the domains it is built on (catalog, drops, accounts, wallets,
// streams, qrcodes and payments on no other domain); only the composition
// root (shop) sees them all. Every package under checkout/ must be listed.
var checkoutDeps = map[string][]string{
	"checkout":                         {},
	"checkout/txn":                     {"checkout"},
	"checkout/inventory":               {},
	"checkout/accounts":                {"checkout", "checkout/txn"},
	"checkout/notify":                  {"checkout", "checkout/txn"},
	"checkout/catalog":                 {"checkout", "checkout/txn", "checkout/inventory"},
	"checkout/drops":                   {"checkout", "checkout/txn"},
	"checkout/streams":                 {"checkout", "checkout/txn"},
	"checkout/qrcodes":                 {"checkout"},
	"checkout/payments":                {"checkout"},
	"checkout/wallets":                 {"checkout", "checkout/txn"},
	"checkout/memberships":             {"checkout", "checkout/txn", "checkout/wallets"},
	"checkout/carts":                   {"checkout", "checkout/txn", "checkout/inventory", "checkout/drops"},
	"checkout/delivery":                {"checkout", "checkout/txn"},
	"checkout/orders":                  {"checkout", "checkout/txn", "checkout/inventory", "checkout/drops", "checkout/carts", "checkout/wallets", "checkout/memberships", "checkout/delivery"},
	"checkout/fulfillment":             {"checkout", "checkout/txn", "checkout/wallets"},
	"checkout/returns":                 {"checkout", "checkout/txn", "checkout/inventory", "checkout/orders", "checkout/drops", "checkout/carts", "checkout/wallets", "checkout/memberships", "checkout/delivery"},
	"checkout/hubs":                    {"checkout", "checkout/txn", "checkout/inventory", "checkout/catalog", "checkout/wallets"},
	"checkout/analytics":               {"checkout", "checkout/txn"},
	"checkout/settings":                {"checkout"},
	"checkout/analytics/analyticstest": {},
	"checkout/shop":                    {"*"},
}

// checkoutUsers limits what the other folders import from checkout
// directly: the API never reaches below the domains (no txn, inventory or
// payments in resolvers); the hub sells with the hub protocol, holds and
// the catalog, and writes its own sales and stock with txn and inventory.
var checkoutUsers = map[string][]string{
	"graph": {"checkout", "checkout/accounts", "checkout/analytics", "checkout/carts", "checkout/catalog", "checkout/delivery", "checkout/drops", "checkout/fulfillment",
		"checkout/hubs", "checkout/memberships", "checkout/notify", "checkout/orders", "checkout/qrcodes", "checkout/returns", "checkout/settings", "checkout/streams", "checkout/wallets"},
	"edge": {"checkout", "checkout/carts", "checkout/catalog", "checkout/fulfillment", "checkout/hubs", "checkout/inventory", "checkout/returns", "checkout/txn"},
}

// shopUsers are the only packages that may import the composition root:
// main, the test harness, and tests.
var shopUsers = []string{module, module + "/graph/graphtest"}

// testHelpers are the packages that exist for tests: what they may depend
// on, and the folders whose tests may use them.
var testHelpers = map[string]struct{ deps, users []string }{
	module + "/ent/entdb/entdbtest":              {deps: []string{"ent"}, users: []string{"*"}},
	module + "/hardware/hardwaretest":            {deps: []string{}, users: []string{"*"}},
	module + "/checkout/analytics/analyticstest": {deps: []string{"ent"}, users: []string{"checkout", "graph", "web"}},
	module + "/live/livetest":                    {deps: []string{"live"}, users: []string{"live", "graph", "web", ""}},
	module + "/graph/graphtest":                  {deps: []string{"graph", "checkout", "live", "ent", "hardware", "edge"}, users: []string{"graph", "web", "edge", ""}},
}

type pkg struct {
	ImportPath                               string
	Imports, Deps, TestImports, XTestImports []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "-deps=false", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// TestDependencyDirection checks every package's transitive dependencies
// against the table, so a shortcut through a third package is caught too;
// a new top-level folder must be added to the table.
func TestDependencyDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		top := topDir(p.ImportPath)
		if top == "" {
			continue // main wires everything
		}
		if h, ok := testHelpers[p.ImportPath]; ok {
			for _, dep := range ours(p.Deps) {
				if !contains(h.deps, "*") && !contains(h.deps, topDir(dep)) && !isHelper(dep) {
					t.Errorf("test helper %s depends on %s: it may only depend on %v", p.ImportPath, dep, h.deps)
				}
			}
			continue
		}
		allowed, ok := allowedDeps[top]
		if !ok {
			t.Errorf("%s is in a folder (%s) the dependency table does not know: add it to allowedDeps", p.ImportPath, top)
			continue
		}
		for _, dep := range ours(p.Deps) {
			if !contains(allowed, topDir(dep)) {
				t.Errorf("%s depends on %s: %s may only depend on %v", p.ImportPath, dep, top, allowed)
			}
		}
	}
}

// TestTestImports: a package's tests use its own folder, the test helpers
// meant for them, and the packages its own code may use; a leaf's tests
// never pull in the API (hardware's tests once imported graph/graphtest for
// stripe-mock, and with it graph, checkout and live).
func TestTestImports(t *testing.T) {
	for _, p := range listPackages(t) {
		top := topDir(p.ImportPath)
		if top == "" || isHelper(p.ImportPath) {
			continue
		}
		allowed := append([]string{top}, allowedDeps[top]...)
		for _, imp := range ours(append(append([]string{}, p.TestImports...), p.XTestImports...)) {
			if h, ok := testHelpers[imp]; ok {
				if !contains(h.users, "*") && !contains(h.users, top) {
					t.Errorf("tests of %s use %s, meant only for %v", p.ImportPath, imp, h.users)
				}
				continue
			}
			if top != "graph" && top != "web" && top != "edge" && !contains(allowed, topDir(imp)) {
				t.Errorf("tests of %s import %s: %s's tests may use %v and the test helpers", p.ImportPath, imp, top, allowed)
			}
		}
	}
}

func ours(paths []string) []string {
	var out []string
	for _, p := range paths {
		if p == module || strings.HasPrefix(p, module+"/") {
			out = append(out, p)
		}
	}
	return out
}

func isHelper(importPath string) bool {
	_, ok := testHelpers[importPath]
	return ok
}

func topDir(importPath string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
	top, _, _ := strings.Cut(rest, "/")
	return top
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// TestCheckoutLayers holds checkout's packages to checkoutDeps, and keeps
// checkout/shop for main and the test harness.
func TestCheckoutLayers(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, dep := range ours(p.Deps) {
			if dep == module+"/checkout/shop" && !contains(shopUsers, p.ImportPath) {
				t.Errorf("%s imports checkout/shop: only %v may (the one composition root)", p.ImportPath, shopUsers)
			}
		}
		if users, ok := checkoutUsers[strings.TrimPrefix(p.ImportPath, module+"/")]; ok {
			for _, imp := range ours(p.Imports) {
				if d := strings.TrimPrefix(imp, module+"/"); topDir(imp) == "checkout" && !contains(users, d) {
					t.Errorf("%s imports %s: it may import only %v of checkout", p.ImportPath, d, users)
				}
			}
		}
		if topDir(p.ImportPath) != "checkout" {
			continue
		}
		allowed, ok := checkoutDeps[rel]
		if !ok {
			t.Errorf("%s is not in checkoutDeps: say what it may depend on", p.ImportPath)
			continue
		}
		if contains(allowed, "*") {
			continue
		}
		for _, dep := range ours(p.Deps) {
			d := strings.TrimPrefix(dep, module+"/")
			if topDir(dep) == "checkout" && !contains(allowed, d) {
				t.Errorf("%s depends on %s: it may only depend on %v", rel, d, allowed)
			}
		}
	}
}
