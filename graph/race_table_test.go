package graph_test

import (
	"context"
	"fmt"
	gqlast "github.com/vektah/gqlparser/v2/ast"
	gqlparser "github.com/vektah/gqlparser/v2/parser"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/cart"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/droppool"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// The race table: every mutation that moves stock, money or a status has a
// test named TestRace_<mutation> that fires raceN concurrent calls at it on
// SQLite and PostgreSQL, once with one idempotency key (every caller gets
// the first result) and once with a key each (the invariant holds).
// TestRaceCoverage fails when a mutation has neither such a test nor a
// reason in raceExempt, so a new mutation cannot land without deciding.
const raceN = 16

// raceExempt lists the mutations that move neither stock nor money, with why.
var raceExempt = map[string]string{
	"signUp":                "creates an account; the unique email index refuses the second (TestSignUpRace…), no stock or money",
	"guestSignUp":           "creates an account with no password; the unique email index refuses the second (TestGuestSignUpRace), no stock or money",
	"signIn":                "reads credentials, issues a token",
	"signOut":               "revokes the caller's own token",
	"createProduct":         "catalog text; unique slug index",
	"updateProduct":         "catalog text",
	"archiveProduct":        "catalog status, idempotent by nature (ARCHIVED twice is ARCHIVED)",
	"createVariant":         "catalog; unique SKU index; stock starts at zero",
	"updateVariant":         "catalog text and list price; holds keep the price they were taken at",
	"setProductImages":      "catalog media",
	"createCollection":      "catalog text",
	"updateCollection":      "catalog text",
	"createDrop":            "schedules a drop; its pools are carved from nothing sold yet",
	"updateDrop":            "drop schedule and texts; units move only through rebalanceDropPools",
	"createMembershipTier":  "configuration",
	"setMemberPrice":        "configuration; holds keep the price they were taken at",
	"createStream":          "configuration",
	"pinProducts":           "overlay configuration",
	"highlightProduct":      "overlay configuration",
	"rotateStreamKey":       "credentials",
	"endStream":             "stream status only; no stock or money",
	"issueQRCode":           "signs a code; stateless",
	"bindTerminalReader":    "configuration: which hub may drive a reader; the reader's row is unique",
	"scanToTill":            "adds to the till's cart through the same hold path as addToCart (TestRace_addToCart)",
	"cancelTerminalPayment": "asks the reader to stop; the payment's outcome still arrives only as a webhook",
	"cancelHubCardPayment":  "forwards cancelTerminalPayment to central",
	"setReturnPolicy":       "configuration: the return window and refund mode; a return keeps the mode it was asked under",
	"staffSignIn":           "reads credentials, issues a token",
	"staffSignOut":          "revokes the caller's own token",
	"createStaff":           "creates a member; the unique email index refuses the second",
	"disableStaff":          "one guarded write (disabled_at IS NULL) and revoking tokens; no stock or money",
	"createStaffToken":      "issues a token; no stock or money",
	"revokeStaffToken":      "one guarded write (revoked_at IS NULL); no stock or money",
	"updateShopSettings":    "configuration: one compare-and-swap per change; concurrent changes all land (TestShopSettings, both dialects)",
	"sendTestEmail":         "sends one email now, rate limited; no stock, money or status",
}

// TestRaceCoverage: every mutation in the schema is either raced or exempt
// with a reason.
func TestRaceCoverage(t *testing.T) {
	raced := racedMutations(t)
	var missing []string
	for _, m := range schemaMutations(t) {
		_, exempt := raceExempt[m]
		switch {
		case raced[m] && exempt:
			t.Errorf("%s is both raced and exempt: drop it from raceExempt", m)
		case !raced[m] && !exempt:
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("mutations with no TestRace_<name> (N=%d concurrent calls, same key and different keys, SQLite and PostgreSQL) and no reason in raceExempt: %s",
			raceN, strings.Join(missing, ", "))
	}
}

// schemaMutations lists the Mutation fields of the SDL files.
func schemaMutations(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.graphqls")
	graphtest.Must(t, err)
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		graphtest.Must(t, err)
		doc, gerr := gqlparser.ParseSchema(&gqlast.Source{Name: f, Input: string(b)})
		if gerr != nil {
			t.Fatalf("%s: %v", f, gerr)
		}
		for _, d := range append(doc.Definitions, doc.Extensions...) {
			if d.Name != "Mutation" {
				continue
			}
			for _, fd := range d.Fields {
				out = append(out, fd.Name)
			}
		}
	}
	sort.Strings(out)
	if len(out) < 20 {
		t.Fatalf("found only %d mutations in the SDL: the parser is broken", len(out))
	}
	return out
}

// racedMutations finds the TestRace_<name> functions of this package.
func racedMutations(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	graphtest.Must(t, err)
	out := map[string]bool{}
	fs := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fs, f, nil, parser.SkipObjectResolution)
		graphtest.Must(t, err)
		for _, d := range af.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && strings.HasPrefix(fn.Name.Name, "TestRace_") {
				out[strings.TrimPrefix(fn.Name.Name, "TestRace_")] = true
			}
		}
	}
	return out
}

// concurrently runs f(i) for i in [0, n) at once: every goroutine waits
// at one barrier, so the calls really race.
func concurrently(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() { <-start; f(i) })
	}
	close(start)
	wg.Wait()
}

// raceAll calls fn(i) for i in [0, n) all at once and returns the results.
func raceAll[T any](n int, fn func(i int) T) []T {
	out := make([]T, n)
	concurrently(n, func(i int) { out[i] = fn(i) })
	return out
}

// allSame fails unless every response is the first one, byte for byte, and
// without errors.
func allSame(t *testing.T, rs []graphtest.Response) {
	t.Helper()
	for i, r := range rs {
		if len(r.Errors) > 0 {
			t.Fatalf("call %d of %d with one key: %+v", i, len(rs), r.Errors)
		}
		if string(r.Data) != string(rs[0].Data) {
			t.Fatalf("call %d with the same key answered %s, call 0 answered %s", i, r.Data, rs[0].Data)
		}
	}
}

// codeCounts tallies the responses' error codes ("" for success).
func codeCounts(rs []graphtest.Response) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		out[r.Code()]++
	}
	return out
}

func raceClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxConnsPerHost: raceN * 2, MaxIdleConnsPerHost: raceN * 2}}
}

// capOneDrop is a drop of one unit, one per customer, open now, over a
// variant with plenty of stock (so only the drop's rules can refuse).
func capOneDrop(t *testing.T, e *graphtest.Env) (variantID, dropID string) {
	t.Helper()
	v := newVariant(t, e, 50, 2400, "EUR")
	t0 := e.Clock.Now()
	d := createDrop(t, e, map[string]any{"title": "Cap one", "variantIds": []string{v}, "cap": 1,
		"perCustomerLimit": 1, "opensAt": t0, "closesAt": t0.Add(time.Hour)})
	return v, d
}

func poolRemaining(t *testing.T, e *graphtest.Env, dropID string) int {
	t.Helper()
	id, err := gid.Decode(dropID)
	graphtest.Must(t, err)
	n := 0
	for _, p := range e.Client.DropPool.Query().Where(droppool.DropID(id)).AllX(viewer.SystemContext(context.Background())) {
		n += p.Remaining
	}
	return n
}

// TestRace_addToCart: one key → one hold that everyone sees; a key each on
// a cap-1 drop → one hold, and the losers are told why.
func TestRace_addToCart(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			ctx := viewer.SystemContext(context.Background())
			c := raceClient()

			v, drop := capOneDrop(t, e)
			tok, _ := e.SignUp(t, "same-key@race.example")
			same := raceAll(raceN, func(int) graphtest.Response {
				return postWith(t, c, e.URL, tok, addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": v, "dropId": drop, "quantity": 1, "idempotencyKey": "one-key"}})
			})
			allSame(t, same)
			if n := e.Client.CartLine.Query().CountX(ctx); n != 1 {
				t.Fatalf("%d cart lines after %d calls with one key, want 1", n, raceN)
			}
			if r := poolRemaining(t, e, drop); r != 0 {
				t.Fatalf("drop pool %d after one hold of its one unit", r)
			}

			v2, drop2 := capOneDrop(t, e)
			toks := customers(t, e, raceN, "atc-"+d)
			diff := raceAll(raceN, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, toks[i], addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": v2, "dropId": drop2, "quantity": 1, "idempotencyKey": fmt.Sprintf("k-%d", i)}})
			})
			if got := codeCounts(diff); got[""] != 1 || got["OUT_OF_STOCK"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 hold and %d OUT_OF_STOCK", got, raceN-1)
			}
			if r := poolRemaining(t, e, drop2); r != 0 {
				t.Fatalf("pool %d, want 0", r)
			}
			if got := stockOf(t, e, v2); got != 49 {
				t.Fatalf("stock %d, want 49", got)
			}
		})
	}
}

// TestRace_removeFromCart: a hold given back by many calls at once returns
// its units exactly once.
func TestRace_removeFromCart(t *testing.T) {
	const rm = `mutation($i: RemoveFromCartInput!) { removeFromCart(input: $i) { cart { id total { amount } } } }`
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 10, 1500, "EUR")
			tok, _ := e.SignUp(t, "remover@race.example")
			lineOf := func(key string) string {
				var out struct {
					AddToCart struct{ Line struct{ ID string } }
				}
				addToCart(t, e, tok, v, 2, key).Decode(t, &out)
				return out.AddToCart.Line.ID
			}

			line := lineOf("a")
			same := raceAll(raceN, func(int) graphtest.Response {
				return postWith(t, c, e.URL, tok, rm, map[string]any{"i": map[string]any{"lineId": line, "idempotencyKey": "rm"}})
			})
			allSame(t, same)
			if got := stockOf(t, e, v); got != 10 {
				t.Fatalf("stock %d after giving back 2 of 10 once, want 10", got)
			}

			line = lineOf("b")
			diff := raceAll(raceN, func(i int) graphtest.Response {
				return postWith(t, c, e.URL, tok, rm, map[string]any{"i": map[string]any{"lineId": line, "idempotencyKey": fmt.Sprintf("rm-%d", i)}})
			})
			for i, r := range diff {
				if r.Code() != "" && r.Code() != "BAD_USER_INPUT" && r.Code() != "NOT_FOUND" {
					t.Fatalf("call %d: %+v", i, r.Errors)
				}
			}
			if got := stockOf(t, e, v); got != 10 {
				t.Fatalf("stock %d after %d removals of one 2-unit hold, want 10 (returned once)", got, raceN)
			}
		})
	}
}

// TestRace_checkout is finding 1 of the invariants issue: concurrent
// checkouts of one cart with a key each used to place one order per call
// on PostgreSQL (8 orders, all paid, from a cap-1 drop). Now exactly one
// order exists, every loser is told CART_CHECKED_OUT, and after Stripe
// confirms every PaymentIntent anyone saw, one unit is sold.
func TestRace_checkout(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			ctx := viewer.SystemContext(context.Background())
			c := raceClient()
			heldCart := func(tok string, v, drop string) string {
				var out struct {
					AddToCart struct{ Cart struct{ ID string } }
				}
				postWith(t, c, e.URL, tok, addToCartMutation, map[string]any{"i": map[string]any{
					"variantId": v, "dropId": drop, "quantity": 1, "idempotencyKey": "hold"}}).Decode(t, &out)
				return out.AddToCart.Cart.ID
			}
			pay := func(tok, cartID, key string) graphtest.Response {
				return postWith(t, c, e.URL, tok, checkoutMutation, map[string]any{"i": map[string]any{
					"cartId": cartID, "payWith": map[string]any{"card": true}, "idempotencyKey": key}})
			}

			// One key: one order, one PaymentIntent, everyone sees them,
			// even if Stripe answered each racer with its own intent.
			e.Stripe.ForgetIdempotencyKeys()
			v, drop := capOneDrop(t, e)
			tok, _ := e.SignUp(t, "same@race.example")
			cartID := heldCart(tok, v, drop)
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return pay(tok, cartID, "pay") }))
			if n := e.Client.Order.Query().CountX(ctx); n != 1 {
				t.Fatalf("%d orders after %d checkouts with one key, want 1", n, raceN)
			}

			// A key each: one order; the others CART_CHECKED_OUT.
			v2, drop2 := capOneDrop(t, e)
			tok2, _ := e.SignUp(t, "sloppy@race.example")
			cart2 := heldCart(tok2, v2, drop2)
			rs := raceAll(raceN, func(i int) graphtest.Response { return pay(tok2, cart2, fmt.Sprintf("pay-%d", i)) })
			if got := codeCounts(rs); got[""] != 1 || got["CART_CHECKED_OUT"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 order and %d CART_CHECKED_OUT", got, raceN-1)
			}
			cid, _ := gid.Decode(cart2)
			if n := e.Client.Order.Query().Where(order.CartID(cid)).CountX(ctx); n != 1 {
				t.Fatalf("%d orders for one cart, want 1", n)
			}
			// Stripe confirms every PaymentIntent that exists.
			var pis []string
			for _, r := range rs {
				var out checkoutOut
				if r.Code() == "" {
					r.Decode(t, &out)
					pis = append(pis, *out.Checkout.PaymentIntentID)
				}
			}
			for i, pi := range pis {
				body, sig := e.Stripe.Event(t, fmt.Sprintf("evt_race_co_%s_%d", d, i), "payment_intent.succeeded", pi)
				if code := graphtest.Deliver(t, e.WebhookURL, body, sig); code != http.StatusOK {
					t.Fatalf("webhook answered %d", code)
				}
			}
			if n := e.Client.Order.Query().Where(order.CartID(cid), order.StatusEQ(order.StatusPAID)).CountX(ctx); n != 1 {
				t.Fatalf("%d paid orders, want 1", n)
			}
			if n := e.Client.CartLine.Query().Where(cartline.CartID(cid), cartline.StatusEQ(cartline.StatusSOLD)).CountX(ctx); n != 1 {
				t.Fatalf("%d sold lines, want 1", n)
			}
			if st := e.Client.Cart.GetX(ctx, cid).Status; st != cart.StatusCHECKED_OUT {
				t.Fatalf("cart %s", st)
			}
			if got := stockOf(t, e, v2); got != 49 {
				t.Fatalf("stock %d, want 49 (one unit sold)", got)
			}
		})
	}
}
