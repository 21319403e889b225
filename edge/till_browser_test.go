package edge_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// hubMember makes a staff member in the hub's own database with the
// merchd staff command, as a venue's owner would on the hub box.
func (p *popup) hubMember(email, role, location string) map[string]string {
	p.t.Helper()
	const password = "correct horse battery"
	cmd := exec.Command(p.bin, "staff", "create", "--email", email, "--role", role, "--location", location, "--database", p.edgeDB)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("staff create %s: %v\n%s", email, err, out)
	}
	return map[string]string{"email": email, "password": password}
}

// TestTillInChromium drives /till on a real hub process linked to a real
// central (testdata/node/till.mjs): a clerk signs in on a tablet, sells
// for cash (change due), then with the link to central cut scans an item,
// reloads, pays with a wallet pass and reloads again while the payment's
// answer is lost on the way: the sale is made once. When the link returns
// central records each sale exactly once; the clerk closes the hub. A
// clerk of another location and a customer are refused by the API itself.
func TestTillInChromium(t *testing.T) {
	browser, dir := graphtest.Browser(t)
	const leased = 20
	p := startPopup(t, leased)
	clerk := p.hubMember("cleo@venue.example", "clerk", "popup-hub")
	// A partner counter's clerk also has an account on this box.
	db, err := entdb.Open(context.Background(), entdb.Config{URL: p.edgeDB})
	if err != nil {
		t.Fatal(err)
	}
	graphtest.Must(t, db.Client.Location.Create().SetCode("other-counter").SetName("Record shop").SetKind(location.KindPARTNER_COUNTER).
		Exec(viewer.SystemContext(context.Background())))
	db.Close()
	other := p.hubMember("otto@venue.example", "clerk", "other-counter")

	// The venue's internet, as the browser script switches it.
	ctl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/link/down":
			p.link.SetUp(false)
		case "/link/up":
			p.link.SetUp(true)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ctl.Close)

	artifacts := os.Getenv("MERCHD_ARTIFACTS")
	if artifacts == "" {
		_, file, _, _ := runtime.Caller(0)
		artifacts = filepath.Join(filepath.Dir(file), "..", "artifacts", "screenshots")
	}
	graphtest.RunBrowser(t, filepath.Join(dir, "till.mjs"), map[string]any{
		"base": p.edge.URL, "chromium": browser, "artifacts": artifacts, "control": ctl.URL,
		"clerk": clerk, "other": other, "pass": p.pass["alice"], "sku": popupSKU, "hubToken": p.edgeTok,
	}, 20, 5*time.Minute)

	// Central holds each of the hub's sales once: the cash sale of two,
	// the wallet sale of one and the offline cash sale of one, whatever
	// the reloads resent.
	p.link.SetUp(true)
	p.waitEdge(func(s hubStatus) bool { return s.State == "ONLINE" && s.QueueDepth == 0 }, "synced")
	hubIDs, centralIDs := saleIDs(p, p.edge.URL, p.edgeTok), saleIDs(p, p.central, p.centralTok)
	if len(hubIDs) != 3 || strings.Join(hubIDs, ",") != strings.Join(centralIDs, ",") {
		t.Fatalf("hub sales %v, central's %v: want the same three", hubIDs, centralIDs)
	}
	for _, s := range p.centralSaleList() {
		if s.Status != "APPLIED" {
			t.Errorf("central's sale %s is %s", s.SaleID, s.Status)
		}
	}
	if b := p.centralBalance("alice"); b != 10000-3500 {
		t.Fatalf("alice's wallet on central: %d, want %d (one 35.00 tee)", b, 10000-3500)
	}
	// Closed: the 16 units left went back to central.
	if c := p.centralStock(); c != 0 {
		t.Fatalf("central counts %d units at the closed hub, want 0", c)
	}

	// The API refuses the till to a clerk of another location and to a
	// customer, whatever the page shows.
	var in struct{ StaffSignIn struct{ Token string } }
	p.do(p.edge.URL, "", `mutation($e: String!) { staffSignIn(input: {email: $e, password: "correct horse battery"}) { token } }`,
		map[string]any{"e": other["email"]}).Decode(t, &in)
	var su struct{ SignUp struct{ Token string } }
	p.do(p.edge.URL, "", `mutation { signUp(input: {email: "walkin@example.com", password: "correct horse battery"}) { token } }`, nil).Decode(t, &su)
	for who, tok := range map[string]string{"a clerk of other-hub": in.StaffSignIn.Token, "a customer": su.SignUp.Token} {
		for _, q := range []string{
			`{ hubStatus { state } }`,
			`{ tillCart { id } }`,
			`mutation { scanToTill(input: {code: "` + popupSKU + `", idempotencyKey: "x-scan"}) { cart { id } } }`,
			`mutation { hubSell(input: {fromTill: true, idempotencyKey: "x-sell"}) { saleId } }`,
			`mutation { closeHub(input: {idempotencyKey: "x-close"}) { returned { sku } } }`,
		} {
			if r := p.do(p.edge.URL, tok, q, nil); r.Code() != "FORBIDDEN" {
				t.Errorf("%s: %s: %+v, want FORBIDDEN", who, q, r.Errors)
			}
		}
	}
}

// saleIDs lists the hub's sales as base holds them, sorted.
func saleIDs(p *popup, base, tok string) []string {
	var out struct {
		HubSales struct {
			Edges []struct{ Node struct{ SaleID string } }
		}
	}
	p.do(base, tok, `{ hubSales(first: 50, where: {hub: "popup-hub"}) { edges { node { saleID } } } }`, nil).Decode(p.t, &out)
	ids := make([]string, len(out.HubSales.Edges))
	for i, e := range out.HubSales.Edges {
		ids[i] = e.Node.SaleID
	}
	sort.Strings(ids)
	return ids
}
