package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/merchd/merchd/checkout/accounts"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestAbuse_PasswordGuessing: one request ran 200 aliased signIn guesses.
// Now an operation holds at most one sign-in or sign-up, and attempts are
// throttled per address and per account with RATE_LIMITED and a
// retry-after.
func TestAbuse_PasswordGuessing(t *testing.T) {
	def := accounts.DefaultThrottle()
	e := graphtest.New(t, graphtest.Options{Throttle: &def})
	graphtest.Must(t, func() error {
		_, err := e.Accounts.SignUp(context.Background(), "victim@abuse.example", "correct horse battery", "")
		return err
	}())

	var b strings.Builder
	b.WriteString("mutation {")
	for i := range 200 {
		fmt.Fprintf(&b, ` g%d: signIn(input: {email: "victim@abuse.example", password: "guess-%d"}) { token }`, i, i)
	}
	b.WriteString("}")
	r := e.Do(t, "", b.String(), nil)
	wantCode(t, r, "QUERY_TOO_COMPLEX")
	two := `mutation { a: signIn(input: {email: "victim@abuse.example", password: "x1xxxxxxxx"}) { token }
		b: signUp(input: {email: "new@abuse.example", password: "correct horse battery"}) { token } }`
	wantCode(t, e.Do(t, "", two, nil), "QUERY_TOO_COMPLEX")

	signIn := `mutation($i: SignInInput!) { signIn(input: $i) { token } }`
	codes := map[string]int{}
	var limited graphtest.Response
	for i := range 8 {
		r := e.Do(t, "", signIn, map[string]any{"i": map[string]any{"email": "victim@abuse.example", "password": fmt.Sprintf("wrong-%d", i)}})
		codes[r.Code()]++
		if r.Code() == "RATE_LIMITED" {
			limited = r
		}
	}
	if codes["UNAUTHENTICATED"] != def.Burst || codes["RATE_LIMITED"] != 8-def.Burst {
		t.Fatalf("8 wrong guesses: %v, want %d UNAUTHENTICATED then RATE_LIMITED", codes, def.Burst)
	}
	if ra, _ := limited.Errors[0].Extensions["retryAfter"].(float64); ra < 1 {
		t.Fatalf("RATE_LIMITED without a retryAfter: %+v", limited.Errors)
	}
	// Even the right password waits: the account's bucket is empty.
	r = e.Do(t, "", signIn, map[string]any{"i": map[string]any{"email": "victim@abuse.example", "password": "correct horse battery"}})
	wantCode(t, r, "RATE_LIMITED")

	// Sybil accounts: sign-ups from one address are throttled too.
	codes = map[string]int{}
	for i := range def.Burst + 3 {
		r := e.Do(t, "", `mutation($i: SignUpInput!) { signUp(input: $i) { token } }`,
			map[string]any{"i": map[string]any{"email": fmt.Sprintf("sybil%d@abuse.example", i), "password": "correct horse battery"}})
		codes[r.Code()]++
	}
	if codes[""] != def.Burst || codes["RATE_LIMITED"] != 3 {
		t.Fatalf("sign-ups from one address: %v, want %d accounts then RATE_LIMITED", codes, def.Burst)
	}
}

// TestAbuse_AliasedWrites: 500 aliased addToCart held 500 units. An
// operation may carry at most MaxWrites mutations that move stock or
// money, and 30 aliases.
func TestAbuse_AliasedWrites(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 1000, 1000, "EUR")
	tok, _ := e.SignUp(t, "hoarder@abuse.example")
	ops := func(n int) string {
		var b strings.Builder
		b.WriteString("mutation {")
		for i := range n {
			fmt.Fprintf(&b, ` a%d: addToCart(input: {variantId: %q, quantity: 1, idempotencyKey: "k%d"}) { line { id } }`, i, v, i)
		}
		b.WriteString("}")
		return b.String()
	}
	for _, n := range []int{4, 500} {
		wantCode(t, e.Do(t, tok, ops(n), nil), "QUERY_TOO_COMPLEX")
	}
	if n := e.Client.CartLine.Query().CountX(viewer.SystemContext(context.Background())); n != 0 {
		t.Fatalf("%d holds taken by refused operations", n)
	}
	r := e.Do(t, tok, ops(3), nil)
	if len(r.Errors) > 0 {
		t.Fatalf("three writes in one operation: %+v", r.Errors)
	}
	if n := e.Client.CartLine.Query().Where(cartline.StatusEQ(cartline.StatusHELD)).CountX(viewer.SystemContext(context.Background())); n != 3 {
		t.Fatalf("%d holds, want 3", n)
	}
}

// TestAbuse_ListFieldsPriced: plain list fields cost 1 whatever they
// returned; a query of cost 9 returned 160,000 objects. Lists are now
// priced by their bound, so the nesting that multiplies is refused.
func TestAbuse_ListFieldsPriced(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	q := `{ products(first: 100) { edges { node { variants { product { variants { product { variants { product { id title } } } } } } } } } }`
	wantCode(t, e.Do(t, "", q, nil), "QUERY_TOO_COMPLEX")
	var b strings.Builder
	b.WriteString("{")
	for i := range 31 {
		fmt.Fprintf(&b, " p%d: products(first: 1) { edges { node { id } } }", i)
	}
	b.WriteString("}")
	wantCode(t, e.Do(t, "", b.String(), nil), "QUERY_TOO_COMPLEX")
	// A storefront page's query still fits.
	r := e.Do(t, "", `{ products(first: 20) { edges { node { id title variants { id title sku price { amount currency } } } } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("a catalog page was refused: %+v", r.Errors)
	}
}

// TestAbuse_IntrospectionPriced: 30 aliased __schema selections returned
// 10.6 MB per request. The schema may be asked for once per operation, and
// introspection counts in the complexity.
func TestAbuse_IntrospectionPriced(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	full := `__schema { types { name fields { name args { name type { name } } } } }`
	r := e.Do(t, "", "{ "+full+" }", nil)
	if len(r.Errors) > 0 {
		t.Fatalf("one introspection: %+v", r.Errors)
	}
	wantCode(t, e.Do(t, "", "{ a: "+full+" b: "+full+" }", nil), "QUERY_TOO_COMPLEX")
	wantCode(t, e.Do(t, "", "{ a: "+full+" ...F } fragment F on Query { b: "+full+" }", nil), "QUERY_TOO_COMPLEX")
	var b strings.Builder
	b.WriteString("{")
	for i := range 30 {
		fmt.Fprintf(&b, ` t%d: __type(name: "Product") { name fields { name } }`, i)
	}
	b.WriteString(` products(first: 70) { edges { node { id title variants { id sku title price { amount currency } } } } } }`)
	wantCode(t, e.Do(t, "", b.String(), nil), "QUERY_TOO_COMPLEX")
}

// The page alone fits: it is the 30 __type selections that tip it over.
func TestAbuse_IntrospectionPricedControl(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	r := e.Do(t, "", `{ products(first: 70) { edges { node { id title variants { id sku title price { amount currency } } } } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("the page alone: %+v", r.Errors)
	}
}
