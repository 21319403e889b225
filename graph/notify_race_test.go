package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent/accounttoken"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/outboxevent"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

const (
	requestResetMutation   = `mutation($i: RequestPasswordResetInput!) { requestPasswordReset(input: $i) { accepted } }`
	resetPasswordMutation  = `mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { email } }`
	requestVerifyMutation  = `mutation($i: RequestEmailVerificationInput!) { requestEmailVerification(input: $i) { sent } }`
	verifyEmailMutation    = `mutation($i: VerifyEmailInput!) { verifyEmail(input: $i) { email } }`
	deleteEndpointMutation = `mutation($i: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) { deletedId } }`
)

// latestLinkToken is the token of the newest account email of typ, read
// from the outbox (the email itself is tested with a real SMTP server in
// TestPasswordReset).
func latestLinkToken(t testing.TB, e *graphtest.Env, typ string) string {
	t.Helper()
	ev := e.Client.OutboxEvent.Query().Where(outboxevent.Type(typ)).Order(outboxevent.ByID()).AllX(viewer.SystemContext(context.Background()))
	if len(ev) == 0 {
		t.Fatalf("no %s event", typ)
	}
	var data struct {
		Token string `json:"_token"`
	}
	graphtest.Must(t, json.Unmarshal(ev[len(ev)-1].Data, &data))
	return data.Token
}

func linkTokens(t testing.TB, e *graphtest.Env, email string, purpose accounttoken.Purpose) int {
	t.Helper()
	return e.Client.AccountToken.Query().Where(accounttoken.Email(email), accounttoken.PurposeEQ(purpose)).CountX(viewer.SystemContext(context.Background()))
}

func accountMails(t testing.TB, e *graphtest.Env, typ string) int {
	t.Helper()
	return e.Client.OutboxEvent.Query().Where(outboxevent.Type(typ)).CountX(viewer.SystemContext(context.Background()))
}

// TestRace_requestPasswordReset: one key → one link and one email, the
// same answer for all; a key each → a link and an email per call (each
// link a token of its own), and every answer the same — also for an
// address with no account, which gets nothing.
func TestRace_requestPasswordReset(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			e.SignUp(t, "forgetful@race.example")
			ask := func(email, key string) graphtest.Response {
				return postWith(t, c, e.URL, "", requestResetMutation, map[string]any{"i": map[string]any{"email": email, "idempotencyKey": key}})
			}
			same := raceAll(raceN, func(int) graphtest.Response { return ask("forgetful@race.example", "reset-once") })
			allSame(t, same)
			if n, m := linkTokens(t, e, "forgetful@race.example", accounttoken.PurposePASSWORD_RESET), accountMails(t, e, checkout.EventPasswordReset); n != 1 || m != 1 {
				t.Fatalf("%d links and %d emails after %d calls with one key, want 1 and 1", n, m, raceN)
			}
			diff := raceAll(raceN, func(i int) graphtest.Response {
				if i%2 == 1 {
					return ask("nobody@race.example", fmt.Sprintf("nobody-%d", i))
				}
				return ask("forgetful@race.example", fmt.Sprintf("reset-%d", i))
			})
			for i, r := range diff {
				if len(r.Errors) > 0 || string(r.Data) != string(same[0].Data) {
					t.Fatalf("call %d answered %s %+v, want the same answer as every other", i, r.Data, r.Errors)
				}
			}
			if n, m := linkTokens(t, e, "forgetful@race.example", accounttoken.PurposePASSWORD_RESET), accountMails(t, e, checkout.EventPasswordReset); n != 1+raceN/2 || m != n {
				t.Fatalf("%d links and %d emails, want %d of each", n, m, 1+raceN/2)
			}
			if n := linkTokens(t, e, "nobody@race.example", accounttoken.PurposePASSWORD_RESET); n != 0 {
				t.Fatalf("%d links for an address without an account", n)
			}
		})
	}
}

// TestRace_resetPassword: one link used by many at once with one key:
// one reset, everyone gets its answer; a fresh link used by many with a
// key each: one reset, the others INVALID_TOKEN.
func TestRace_resetPassword(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			ctx := context.Background()
			c := raceClient()
			e.SignUp(t, "racer@race.example")
			link := func(key string) string {
				graphtest.Must(t, e.Accounts.RequestPasswordReset(ctx, "racer@race.example", key))
				return latestLinkToken(t, e, checkout.EventPasswordReset)
			}
			reset := func(token, password, key string) graphtest.Response {
				return postWith(t, c, e.URL, "", resetPasswordMutation, map[string]any{"i": map[string]any{
					"token": token, "newPassword": password, "idempotencyKey": key}})
			}
			tok := link("l1")
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return reset(tok, "first new password", "reset-once") }))
			if _, err := e.Accounts.SignIn(ctx, "racer@race.example", "first new password"); err != nil {
				t.Fatalf("sign in with the new password: %v", err)
			}

			tok = link("l2")
			rs := raceAll(raceN, func(i int) graphtest.Response {
				return reset(tok, fmt.Sprintf("password number %d", i), fmt.Sprintf("reset-%d", i))
			})
			if got := codeCounts(rs); got[""] != 1 || got["INVALID_TOKEN"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 reset and %d INVALID_TOKEN", got, raceN-1)
			}
			won := -1
			for i, r := range rs {
				if r.Code() == "" {
					won = i
				}
			}
			if _, err := e.Accounts.SignIn(ctx, "racer@race.example", fmt.Sprintf("password number %d", won)); err != nil {
				t.Fatalf("the winner's password does not sign in: %v", err)
			}
		})
	}
}

// TestRace_requestEmailVerification: one key → one link; a key each → a
// link and an email per call.
func TestRace_requestEmailVerification(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			tok, _ := e.SignUp(t, "verifier@race.example")
			ask := func(key string) graphtest.Response {
				return postWith(t, c, e.URL, tok, requestVerifyMutation, map[string]any{"i": map[string]any{"idempotencyKey": key}})
			}
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return ask("verify-once") }))
			if n, m := linkTokens(t, e, "verifier@race.example", accounttoken.PurposeEMAIL_VERIFICATION), accountMails(t, e, checkout.EventEmailVerification); n != 1 || m != 1 {
				t.Fatalf("%d links and %d emails after one key, want 1 and 1", n, m)
			}
			for i, r := range raceAll(raceN, func(i int) graphtest.Response { return ask(fmt.Sprintf("verify-%d", i)) }) {
				if len(r.Errors) > 0 {
					t.Fatalf("call %d: %+v", i, r.Errors)
				}
			}
			if n, m := linkTokens(t, e, "verifier@race.example", accounttoken.PurposeEMAIL_VERIFICATION), accountMails(t, e, checkout.EventEmailVerification); n != 1+raceN || m != n {
				t.Fatalf("%d links and %d emails, want %d of each", n, m, 1+raceN)
			}
		})
	}
}

// TestRace_verifyEmail: one link used at once with one key: verified,
// everyone gets the answer; with a key each: one success, the others
// INVALID_TOKEN.
func TestRace_verifyEmail(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			sys := viewer.SystemContext(context.Background())
			verify := func(token, key string) graphtest.Response {
				return postWith(t, c, e.URL, "", verifyEmailMutation, map[string]any{"i": map[string]any{"token": token, "idempotencyKey": key}})
			}
			for round, email := range []string{"v1@race.example", "v2@race.example"} {
				tok, _ := e.SignUp(t, email)
				e.Do(t, tok, requestVerifyMutation, map[string]any{"i": map[string]any{"idempotencyKey": "ask"}}).Decode(t, &struct{}{})
				link := latestLinkToken(t, e, checkout.EventEmailVerification)
				if round == 0 {
					allSame(t, raceAll(raceN, func(int) graphtest.Response { return verify(link, "verify-once") }))
				} else {
					rs := raceAll(raceN, func(i int) graphtest.Response { return verify(link, fmt.Sprintf("verify-%d", i)) })
					if got := codeCounts(rs); got[""] != 1 || got["INVALID_TOKEN"] != raceN-1 {
						t.Fatalf("outcomes %v, want 1 verification and %d INVALID_TOKEN", got, raceN-1)
					}
				}
				if !e.Client.Customer.Query().Where(customer.Email(email)).OnlyX(sys).EmailVerified {
					t.Fatalf("%s is not verified", email)
				}
			}
		})
	}
}

// TestRace_createWebhookEndpoint: one key → one endpoint and one secret
// for all; a key each → an endpoint each, every secret different.
func TestRace_createWebhookEndpoint(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			sys := viewer.SystemContext(context.Background())
			create := func(url, key string) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, createEndpointMutation, map[string]any{"i": map[string]any{
					"url": url, "events": []string{"order.paid"}, "idempotencyKey": key}})
			}
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return create("https://hooks.example/one", "create-once") }))
			if n := e.Client.WebhookEndpoint.Query().CountX(sys); n != 1 {
				t.Fatalf("%d endpoints after one key, want 1", n)
			}
			secrets := map[string]bool{}
			for i, r := range raceAll(raceN, func(i int) graphtest.Response {
				return create("https://hooks.example/many", fmt.Sprintf("create-%d", i))
			}) {
				var out createEndpointOut
				r.Decode(t, &out)
				if secrets[out.CreateWebhookEndpoint.Secret] {
					t.Fatalf("call %d got a secret another endpoint has", i)
				}
				secrets[out.CreateWebhookEndpoint.Secret] = true
			}
			if n := e.Client.WebhookEndpoint.Query().CountX(sys); n != 1+raceN {
				t.Fatalf("%d endpoints, want %d", n, 1+raceN)
			}
		})
	}
}

// TestRace_deleteWebhookEndpoint: one key → deleted once, everyone sees
// it; a key each → one deletion, the others NOT_FOUND.
func TestRace_deleteWebhookEndpoint(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			sys := viewer.SystemContext(context.Background())
			endpoint := func(key string) string {
				var out createEndpointOut
				e.Staff(t, createEndpointMutation, map[string]any{"i": map[string]any{"url": "https://hooks.example/" + key,
					"events": []string{"*"}, "idempotencyKey": key}}, &out)
				return out.CreateWebhookEndpoint.Endpoint.ID
			}
			del := func(id, key string) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, deleteEndpointMutation, map[string]any{"i": map[string]any{"id": id, "idempotencyKey": key}})
			}
			id := endpoint("a")
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return del(id, "delete-once") }))
			id = endpoint("b")
			rs := raceAll(raceN, func(i int) graphtest.Response { return del(id, fmt.Sprintf("delete-%d", i)) })
			if got := codeCounts(rs); got[""] != 1 || got["NOT_FOUND"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 deletion and %d NOT_FOUND", got, raceN-1)
			}
			if n := e.Client.WebhookEndpoint.Query().CountX(sys); n != 0 {
				t.Fatalf("%d endpoints left", n)
			}
		})
	}
}
