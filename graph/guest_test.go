package graph_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

const guestQ = `mutation($e: String!) { guestSignUp(input: {email: $e}) { token customer { email } } }`

// A buyer at a venue checks out with an email only: guestSignUp makes an
// account with no password and signs it in. No password signs in to it,
// it never hands out a session for an email that has an account, and its
// owner claims it through a password-reset link.
func TestGuestSignUp(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			var g struct {
				GuestSignUp struct {
					Token    string
					Customer struct{ Email string }
				}
			}
			e.Do(t, "", guestQ, map[string]any{"e": " Guest@Venue.example "}).Decode(t, &g)
			if g.GuestSignUp.Token == "" || g.GuestSignUp.Customer.Email != "guest@venue.example" {
				t.Fatalf("guest sign-up: %+v", g)
			}
			var v struct{ Viewer struct{ Email string } }
			e.Do(t, g.GuestSignUp.Token, `{ viewer { email } }`, nil).Decode(t, &v)
			if v.Viewer.Email != "guest@venue.example" {
				t.Fatalf("the guest's token is not signed in: %+v", v)
			}
			// No password opens a guest account, not even the marker.
			for _, pw := range []string{"", "guest", "correct horse battery"} {
				r := e.Do(t, "", `mutation($i: SignInInput!) { signIn(input: $i) { token } }`, map[string]any{"i": map[string]any{"email": "guest@venue.example", "password": pw}})
				if r.Code() != "UNAUTHENTICATED" && r.Code() != "BAD_USER_INPUT" {
					t.Fatalf("sign in to a guest account with %q: %s %+v", pw, r.Code(), r.Errors)
				}
			}
			// The same email again, or one with a password account: refused,
			// with no session for it.
			e.SignUp(t, "owner@venue.example")
			for _, email := range []string{"guest@venue.example", "OWNER@venue.example"} {
				r := e.Do(t, "", guestQ, map[string]any{"e": email})
				if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "already") {
					t.Fatalf("guest sign-up for taken %s: %s %+v", email, r.Code(), r.Errors)
				}
			}
			if r := e.Do(t, "", guestQ, map[string]any{"e": "not an email"}); r.Code() != "BAD_USER_INPUT" {
				t.Fatalf("bad email: %s", r.Code())
			}
			// The owner claims the account: a reset link sets a password.
			e.Do(t, "", `mutation { requestPasswordReset(input: {email: "guest@venue.example", idempotencyKey: "claim-1"}) { accepted } }`, nil).Decode(t, &struct{}{})
			if n, err := e.Client.AccountToken.Query().Count(sysCtx()); err != nil || n != 1 {
				t.Fatalf("no reset link for the guest account: %d %v", n, err)
			}
		})
	}
}

// Sixteen guests at once with one email: exactly one account and one
// session; the others are told the email is taken.
func TestGuestSignUpRace(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			const n = 16
			codes := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { codes[i] = e.Do(t, "", guestQ, map[string]any{"e": "same@venue.example"}).Code() })
			}
			wg.Wait()
			won := 0
			for _, c := range codes {
				switch c {
				case "":
					won++
				case "BAD_USER_INPUT":
				default:
					t.Errorf("code %s", c)
				}
			}
			count, err := e.Client.Customer.Query().Count(sysCtx())
			if err != nil {
				t.Fatal(err)
			}
			if won != 1 || count != 1 {
				t.Fatalf("%d guests won, %d accounts: %v", won, count, fmt.Sprint(codes))
			}
		})
	}
}
