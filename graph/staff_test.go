package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/accounts"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

const (
	createStaffMutation = `mutation($i: CreateStaffInput!) { createStaff(input: $i) { staff { id email role location } } }`
	staffSignInMutation = `mutation($e: String!, $p: String!) { staffSignIn(input: {email: $e, password: $p}) { token expiresAt staff { id email role } } }`
)

// staffMember is a member an owner created, signed in.
type staffMember struct{ ID, Token string }

// addStaff creates a member as the owner (e.StaffToken) and signs them in.
func addStaff(t *testing.T, e *graphtest.Env, email, role, loc string) staffMember {
	t.Helper()
	in := map[string]any{"email": email, "name": "M " + role, "role": role, "password": "correct horse " + role}
	if loc != "" {
		in["location"] = loc
	}
	var c struct {
		CreateStaff struct {
			Staff struct{ ID, Role, Location string }
		}
	}
	e.Staff(t, createStaffMutation, map[string]any{"i": in}, &c)
	if c.CreateStaff.Staff.Role != role || c.CreateStaff.Staff.Location != loc {
		t.Fatalf("created %+v", c.CreateStaff.Staff)
	}
	var s struct {
		StaffSignIn struct {
			Token     string
			ExpiresAt time.Time
			Staff     struct{ ID, Role string }
		}
	}
	e.Do(t, "", staffSignInMutation, map[string]any{"e": email, "p": "correct horse " + role}).Decode(t, &s)
	if s.StaffSignIn.Staff.ID != c.CreateStaff.Staff.ID || !strings.HasPrefix(s.StaffSignIn.Token, "mst_") {
		t.Fatalf("signed in %+v", s.StaffSignIn)
	}
	if d := s.StaffSignIn.ExpiresAt.Sub(time.Now()); d < 11*time.Hour || d > 13*time.Hour {
		t.Fatalf("a staff session lasts %s, want 12h", d)
	}
	return staffMember{ID: c.CreateStaff.Staff.ID, Token: s.StaffSignIn.Token}
}

func wantForbidden(t *testing.T, r graphtest.Response, says string) {
	t.Helper()
	wantCode(t, r, "FORBIDDEN")
	if !strings.Contains(r.Errors[0].Message, says) {
		t.Fatalf("refusal %q does not say %q", r.Errors[0].Message, says)
	}
}

// TestStaffSignInAndRoles: staff sign in with a password (a wrong one is
// refused exactly like an unknown email); a clerk cannot refund, change
// settings or make tokens, and hands over pickups only at their own
// location; staff (not owners) cannot manage tokens; every staff write is
// in the audit log with who made it, refusals with their code, and no
// password in it.
func TestStaffSignInAndRoles(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			sys := viewer.SystemContext(context.Background())
			graphtest.Must(t, e.Client.Location.Create().SetCode("counter-b").SetName("Counter B").SetKind(location.KindPARTNER_COUNTER).Exec(sys))

			member := addStaff(t, e, "ops@staff.example", "STAFF", "")
			clerk := addStaff(t, e, "till@staff.example", "CLERK", "central")
			clerkB := addStaff(t, e, "b@staff.example", "CLERK", "counter-b")

			// Sign-in refusals: one answer for a wrong password, an unknown
			// email, and a member without a password.
			wrong := e.Do(t, "", staffSignInMutation, map[string]any{"e": "ops@staff.example", "p": "not the password"})
			unknown := e.Do(t, "", staffSignInMutation, map[string]any{"e": "nobody@staff.example", "p": "not the password"})
			tokenOnly := e.Do(t, "", staffSignInMutation, map[string]any{"e": "staff@example.com", "p": "not the password"})
			for _, r := range []graphtest.Response{wrong, unknown, tokenOnly} {
				wantCode(t, r, "UNAUTHENTICATED")
				if r.Errors[0].Message != wrong.Errors[0].Message || string(r.Data) != string(wrong.Data) {
					t.Fatalf("refusals differ: %+v vs %+v", r.Errors, wrong.Errors)
				}
			}
			// A customer's password does not open a staff session.
			e.SignUp(t, "fan@staff.example")
			wantCode(t, e.Do(t, "", staffSignInMutation, map[string]any{"e": "fan@staff.example", "p": "correct horse battery"}), "UNAUTHENTICATED")

			var who struct {
				StaffViewer struct{ Email, Role, Location string }
			}
			e.Do(t, clerk.Token, `{ staffViewer { email role location } }`, nil).Decode(t, &who)
			if who.StaffViewer.Role != "CLERK" || who.StaffViewer.Location != "central" {
				t.Fatalf("staffViewer %+v", who.StaffViewer)
			}

			// A paid pickup order at central.
			v := newVariant(t, e, 10, 1500, "EUR")
			buyer, buyerID := e.SignUp(t, "buyer@staff.example")
			orderID := paidOrder(t, e, buyer, v, "staff-paid")
			pass := *orderPickup(t, e, buyer, orderID).Node.PickupPass

			// A clerk cannot refund, change settings or make tokens.
			wantForbidden(t, e.Do(t, clerk.Token, refundOrderMutation, map[string]any{"i": map[string]any{"orderId": orderID, "to": "WALLET", "idempotencyKey": "clerk-refund"}}), "clerk")
			wantForbidden(t, e.Do(t, clerk.Token, `mutation { setReturnPolicy(input: {windowDays: 3, refund: WALLET_ON_DROPOFF}) { policy { windowDays } } }`, nil), "clerk")
			wantForbidden(t, e.Do(t, clerk.Token, `mutation($i: CreateStaffTokenInput!) { createStaffToken(input: $i) { token } }`,
				map[string]any{"i": map[string]any{"staffId": clerk.ID, "label": "mine"}}), "clerk")
			wantForbidden(t, e.Do(t, clerk.Token, `{ customers(first: 5) { totalCount } }`, nil), "clerk")
			wantForbidden(t, e.Do(t, clerk.Token, `{ auditLog(first: 5) { totalCount } }`, nil), "clerk")
			// Staff run the shop but do not manage tokens or settings.
			wantForbidden(t, e.Do(t, member.Token, `mutation($i: CreateStaffTokenInput!) { createStaffToken(input: $i) { token } }`,
				map[string]any{"i": map[string]any{"staffId": member.ID}}), "owner")
			wantForbidden(t, e.Do(t, member.Token, `mutation { setReturnPolicy(input: {windowDays: 3, refund: WALLET_ON_DROPOFF}) { policy { windowDays } } }`, nil), "owner")

			// A clerk at counter B cannot hand over central's pickup; the
			// clerk at central can, and reads the order to hand it over.
			wantForbidden(t, collect(t, e, clerkB.Token, pass, "clerk-b"), "counter-b")
			var got struct {
				CollectPickup struct{ Fulfillment struct{ Status string } }
			}
			collect(t, e, clerk.Token, pass, "clerk-a").Decode(t, &got)
			if got.CollectPickup.Fulfillment.Status != "COLLECTED" {
				t.Fatalf("clerk's handover: %+v", got)
			}
			var ord struct {
				Node struct {
					Number   string
					Customer struct{ Email string }
				}
			}
			e.Do(t, clerk.Token, `query($id: ID!) { node(id: $id) { ... on Order { number customer { email } } } }`, map[string]any{"id": orderID}).Decode(t, &ord)
			if ord.Node.Customer.Email != "buyer@staff.example" {
				t.Fatalf("order for the counter: %+v", ord)
			}

			// The owner's writes and the clerk's refusals are audited.
			type entry struct {
				Operation, Role, Outcome, TargetID, Input string
				Staff                                     struct{ ID, Email string }
			}
			var log struct {
				AuditLog struct {
					TotalCount int
					Edges      []struct{ Node entry }
				}
			}
			e.Staff(t, `query($s: ID) { auditLog(first: 100, staffId: $s) { totalCount edges { node { operation role outcome targetID input staff { id email } } } } }`,
				map[string]any{"s": clerk.ID}, &log)
			seen := map[string]entry{}
			for _, ed := range log.AuditLog.Edges {
				if ed.Node.Staff.ID != clerk.ID || ed.Node.Role != "CLERK" {
					t.Fatalf("clerk's filter gave %+v", ed.Node)
				}
				seen[ed.Node.Operation+" "+ed.Node.Outcome] = ed.Node
			}
			for _, want := range []string{"refundOrder FORBIDDEN", "setReturnPolicy FORBIDDEN", "createStaffToken FORBIDDEN", "collectPickup OK"} {
				if _, ok := seen[want]; !ok {
					t.Fatalf("audit log of the clerk lacks %q: %+v", want, seen)
				}
			}
			if r := seen["refundOrder FORBIDDEN"]; r.TargetID != orderID || !strings.Contains(r.Input, "clerk-refund") {
				t.Fatalf("refused refund entry %+v", r)
			}
			e.Staff(t, `{ auditLog(first: 100, operation: "createStaff") { totalCount edges { node { operation role outcome targetID input staff { id email } } } } }`, nil, &log)
			if log.AuditLog.TotalCount != 3 {
				t.Fatalf("createStaff entries: %d, want 3", log.AuditLog.TotalCount)
			}
			for _, ed := range log.AuditLog.Edges {
				n := ed.Node
				if n.Staff.Email != "staff@example.com" || n.Role != "OWNER" || n.Outcome != "OK" {
					t.Fatalf("createStaff entry %+v", n)
				}
				if strings.Contains(n.Input, "correct horse") || !strings.Contains(n.Input, "[redacted]") || !strings.Contains(n.Input, "@staff.example") {
					t.Fatalf("createStaff input not redacted: %s", n.Input)
				}
			}
			// Nobody's sign-in is a staff write; customers and anonymous
			// callers cannot read the log.
			wantCode(t, e.Do(t, buyer, `{ auditLog(first: 5) { totalCount } }`, nil), "FORBIDDEN")
			wantCode(t, e.Do(t, "", `{ auditLog(first: 5) { totalCount } }`, nil), "UNAUTHENTICATED")

			// Finding customers: staff search by email or name; customers
			// are refused.
			var found struct {
				Customers struct {
					TotalCount int
					Edges      []struct{ Node struct{ ID, Email string } }
				}
			}
			e.Do(t, member.Token, `{ customers(search: "BUYER@", first: 10) { totalCount edges { node { id email } } } }`, nil).Decode(t, &found)
			if found.Customers.TotalCount != 1 || found.Customers.Edges[0].Node.ID != buyerID {
				t.Fatalf("search buyer: %+v", found)
			}
			e.Do(t, member.Token, `{ customers(first: 10) { totalCount } }`, nil).Decode(t, &found)
			if found.Customers.TotalCount != 2 {
				t.Fatalf("all customers: %d", found.Customers.TotalCount)
			}
			wantCode(t, e.Do(t, buyer, `{ customers(search: "a", first: 10) { totalCount } }`, nil), "FORBIDDEN")
			wantCode(t, e.Do(t, member.Token, `{ customers(first: 1000) { totalCount } }`, nil), "BAD_USER_INPUT")
			var mine struct {
				Node struct {
					Customer struct {
						Email   string
						Orders  struct{ TotalCount int }
						Wallets []struct{ Currency string }
					}
				}
			}
			e.Do(t, buyer, `query($id: ID!) { node(id: $id) { ... on Order { customer { email orders(first: 5) { totalCount } wallets { currency } } } } }`, map[string]any{"id": orderID}).Decode(t, &mine)
			if mine.Node.Customer.Email != "buyer@staff.example" || mine.Node.Customer.Orders.TotalCount != 1 {
				t.Fatalf("the buyer's own order's customer: %+v", mine)
			}
		})
	}
}

// TestStaffDisableEndsSessions: disabling a member refuses their tokens
// at once and closes their open subscription socket; they cannot sign in
// again. Owners manage tokens; a token's role narrows its member's.
func TestStaffDisableEndsSessions(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			member := addStaff(t, e, "leaver@staff.example", "STAFF", "")

			// An owner issues a clerk-narrowed token for the member.
			var issued struct {
				CreateStaffToken struct {
					Token      string
					StaffToken struct {
						ID, Label, Role string
						Staff           struct{ Email string }
					}
				}
			}
			e.Staff(t, `mutation($i: CreateStaffTokenInput!) { createStaffToken(input: $i) { token staffToken { id label role staff { email } } } }`,
				map[string]any{"i": map[string]any{"staffId": member.ID, "label": "till tablet", "role": "CLERK", "expiresIn": 3600}}, &issued)
			narrowed := issued.CreateStaffToken.Token
			if issued.CreateStaffToken.StaffToken.Role != "CLERK" || issued.CreateStaffToken.StaffToken.Staff.Email != "leaver@staff.example" {
				t.Fatalf("issued %+v", issued)
			}
			wantForbidden(t, e.Do(t, narrowed, `{ customers(first: 1) { totalCount } }`, nil), "clerk")
			var ok struct{ Customers struct{ TotalCount int } }
			e.Do(t, member.Token, `{ customers(first: 1) { totalCount } }`, nil).Decode(t, &ok)

			// The member watches a fulfilment over a socket.
			v := newVariant(t, e, 10, 1500, "EUR")
			buyer, _ := e.SignUp(t, "buyer@leaver.example")
			orderID := paidOrder(t, e, buyer, v, "leaver-paid")
			fid := orderPickup(t, e, buyer, orderID).Node.Fulfillment.ID
			w := dialWS(t, e, member.Token)
			w.subscribe("f", `subscription($ids: [ID!]!) { fulfillmentUpdated(fulfillmentIds: $ids) { id status } }`, map[string]any{"ids": []string{fid}})
			if got := w.next("f"); !strings.Contains(got, "UNFULFILLED") {
				t.Fatalf("subscription: %s", got)
			}

			var dis struct {
				DisableStaff struct {
					Staff struct{ DisabledAt *time.Time }
				}
			}
			e.Staff(t, `mutation($i: DisableStaffInput!) { disableStaff(input: $i) { staff { disabledAt } } }`, map[string]any{"i": map[string]any{"staffId": member.ID}}, &dis)
			if dis.DisableStaff.Staff.DisabledAt == nil {
				t.Fatal("not disabled")
			}
			for _, tok := range []string{member.Token, narrowed} {
				wantCode(t, e.Do(t, tok, `{ staffViewer { email } }`, nil), "UNAUTHENTICATED")
			}
			wantCode(t, e.Do(t, "", staffSignInMutation, map[string]any{"e": "leaver@staff.example", "p": "correct horse STAFF"}), "UNAUTHENTICATED")
			graphtest.Must(t, w.c.SetReadDeadline(time.Now().Add(10*time.Second)))
			for {
				var m map[string]any
				if err := w.c.ReadJSON(&m); err != nil {
					if strings.Contains(err.Error(), "timeout") {
						t.Fatalf("the socket of a disabled member stayed open: %v", err)
					}
					break
				}
			}
			// An owner cannot disable themself; the audit log has the disable.
			var me struct{ StaffViewer struct{ ID string } }
			e.Staff(t, `{ staffViewer { id } }`, nil, &me)
			wantCode(t, e.Do(t, e.StaffToken, `mutation($i: DisableStaffInput!) { disableStaff(input: $i) { staff { id } } }`, map[string]any{"i": map[string]any{"staffId": me.StaffViewer.ID}}), "BAD_USER_INPUT")
			var log struct {
				AuditLog struct {
					Edges []struct {
						Node struct{ Outcome, TargetID string }
					}
				}
			}
			e.Staff(t, `{ auditLog(first: 5, operation: "disableStaff") { edges { node { outcome targetID } } } }`, nil, &log)
			if len(log.AuditLog.Edges) != 2 || log.AuditLog.Edges[0].Node.Outcome != "BAD_USER_INPUT" || log.AuditLog.Edges[1].Node.TargetID != member.ID {
				t.Fatalf("disable entries %+v", log.AuditLog.Edges)
			}
		})
	}
}

// TestStaffSignInThrottled: staff sign-in is throttled as customers' is
// (a burst of five from one address or on one email, then RATE_LIMITED
// with a retry-after), whether the email is known or not.
func TestStaffSignInThrottled(t *testing.T) {
	for _, email := range []string{"boss@staff.example", "ghost@staff.example"} {
		th := accounts.DefaultThrottle()
		e := graphtest.New(t, graphtest.Options{Throttle: &th})
		tries := 5
		if email == "boss@staff.example" {
			addStaff(t, e, email, "OWNER", "") // one sign-in spent
			tries = 4
		}
		for range tries {
			wantCode(t, e.Do(t, "", staffSignInMutation, map[string]any{"e": email, "p": "guess"}), "UNAUTHENTICATED")
		}
		r := e.Do(t, "", staffSignInMutation, map[string]any{"e": email, "p": "guess"})
		wantCode(t, r, "RATE_LIMITED")
		if r.Errors[0].Extensions["retryAfter"] == nil {
			t.Fatalf("no retryAfter: %+v", r.Errors)
		}
	}
}
