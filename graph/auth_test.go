package graph_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

func TestAuth(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			alice, aliceID := e.SignUp(t, "alice@example.com")
			bob, bobID := e.SignUp(t, "Bob@Example.com ")

			t.Run("viewer is the signed-in customer", func(t *testing.T) {
				var out struct{ Viewer *struct{ ID, Email string } }
				e.Do(t, alice, `{ viewer { id email } }`, nil).Decode(t, &out)
				if out.Viewer == nil || out.Viewer.ID != aliceID || out.Viewer.Email != "alice@example.com" {
					t.Fatalf("viewer = %+v", out.Viewer)
				}
				e.Do(t, "", `{ viewer { id } }`, nil).Decode(t, &out)
				if out.Viewer != nil {
					t.Fatalf("anonymous viewer = %+v, want null", out.Viewer)
				}
			})
			t.Run("a customer cannot read another customer", func(t *testing.T) {
				r := e.Do(t, alice, `query($id: ID!) { node(id: $id) { ... on Customer { email } } }`, map[string]any{"id": bobID})
				if r.Code() != "NOT_FOUND" || strings.Contains(string(r.Data), "bob@") {
					t.Fatalf("alice read bob: %s %+v", r.Data, r.Errors)
				}
				r = e.Do(t, "", `query($id: ID!) { node(id: $id) { ... on Customer { email } } }`, map[string]any{"id": bobID})
				if r.Code() == "" || strings.Contains(string(r.Data), "bob@") {
					t.Fatalf("anonymous read bob: %s %+v", r.Data, r.Errors)
				}
				var own struct{ Node struct{ Email string } }
				e.Do(t, bob, `query($id: ID!) { node(id: $id) { ... on Customer { email } } }`, map[string]any{"id": bobID}).Decode(t, &own)
				if own.Node.Email != "bob@example.com" {
					t.Fatalf("bob reads himself as %+v", own)
				}
			})
			t.Run("only staff write the catalog", func(t *testing.T) {
				m := `mutation { createProduct(input: {title: "X", slug: "x"}) { product { id } } }`
				if r := e.Do(t, "", m, nil); r.Code() != "UNAUTHENTICATED" {
					t.Fatalf("anonymous write: %+v", r.Errors)
				}
				if r := e.Do(t, alice, m, nil); r.Code() != "FORBIDDEN" {
					t.Fatalf("customer write: %+v", r.Errors)
				}
				var none struct{ Products struct{ TotalCount int } }
				e.Staff(t, `{ products(first: 1) { totalCount } }`, nil, &none)
				if none.Products.TotalCount != 0 {
					t.Fatalf("a refused write created %d products", none.Products.TotalCount)
				}
			})
			t.Run("sign in and out", func(t *testing.T) {
				r := e.Do(t, "", `mutation { signIn(input: {email: "ALICE@example.com", password: "wrong password"}) { token } }`, nil)
				if r.Code() != "UNAUTHENTICATED" {
					t.Fatalf("wrong password: %+v", r.Errors)
				}
				r = e.Do(t, "", `mutation { signIn(input: {email: "nobody@example.com", password: "wrong password"}) { token } }`, nil)
				if r.Code() != "UNAUTHENTICATED" || r.Errors[0].Message != "wrong email or password" {
					t.Fatalf("unknown email: %+v", r.Errors)
				}
				var in struct{ SignIn struct{ Token string } }
				e.Do(t, "", `mutation { signIn(input: {email: "ALICE@example.com", password: "correct horse battery"}) { token } }`, nil).Decode(t, &in)
				tok := in.SignIn.Token
				if !strings.HasPrefix(tok, "mcs_") || tok == alice {
					t.Fatalf("token %q", tok)
				}
				var out struct{ SignOut struct{ Ok bool } }
				e.Do(t, tok, `mutation { signOut { ok } }`, nil).Decode(t, &out)
				r = e.Do(t, tok, `{ viewer { id } }`, nil)
				if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" {
					t.Fatalf("signed-out token: status %d %+v", r.Status, r.Errors)
				}
				// The other session is untouched.
				var v struct{ Viewer struct{ ID string } }
				e.Do(t, alice, `{ viewer { id } }`, nil).Decode(t, &v)
			})
			t.Run("bad sign-ups change nothing", func(t *testing.T) {
				for _, in := range []map[string]any{
					{"email": "alice@example.com", "password": "another password"},
					{"email": "not an email", "password": "long enough"},
					{"email": "carol@example.com", "password": "short"},
				} {
					r := e.Do(t, "", `mutation($i: SignUpInput!) { signUp(input: $i) { token } }`, map[string]any{"i": in})
					if r.Code() != "BAD_USER_INPUT" {
						t.Errorf("signUp(%v): %+v", in, r.Errors)
					}
				}
				r := e.Do(t, "", `mutation { signIn(input: {email: "carol@example.com", password: "short"}) { token } }`, nil)
				if r.Code() != "UNAUTHENTICATED" {
					t.Fatalf("refused sign-up left an account: %+v", r.Errors)
				}
			})
			t.Run("a forged token is refused, not treated as anonymous", func(t *testing.T) {
				for _, tok := range []string{"mcs_forged", "mst_forged", "garbage"} {
					r := e.Do(t, tok, `{ viewer { id } }`, nil)
					if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" {
						t.Errorf("token %q: status %d %+v", tok, r.Status, r.Errors)
					}
				}
			})
			t.Run("tokens are stored hashed", func(t *testing.T) {
				var n int
				row := e.DB.SQL.QueryRow(`SELECT COUNT(*) FROM customer_sessions WHERE token_hash = $1`, []byte(alice))
				graphtest.Must(t, row.Scan(&n))
				if n != 0 {
					t.Fatal("a session token is stored in plain text")
				}
			})
		})
	}
}
