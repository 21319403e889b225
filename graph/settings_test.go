package graph_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/notify"
	"github.com/merchd/merchd/checkout/settings"
	"github.com/merchd/merchd/ent/auditentry"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

const (
	updateSettingsMutation = `mutation($i: UpdateShopSettingsInput!) { updateShopSettings(input: $i) { settings { name logoUrl brandColor currency updatedAt } } }`
	shopSettingsQuery      = `{ shopSettings { name logoUrl brandColor currency updatedAt } }`
	sendTestEmailMutation  = `mutation($to: String!) { sendTestEmail(input: {to: $to}) { to } }`
)

type shopSettingsOut struct {
	Name, LogoURL, BrandColor, Currency string
	UpdatedAt                           *time.Time
}

// TestShopSettings: only owners change the shop's name, logo, colour and
// currency (staff, clerks and customers are FORBIDDEN, anonymous callers
// UNAUTHENTICATED); a bad value is BAD_USER_INPUT naming its field; a
// change shows at once to every reader, fields left out keep their
// values, and concurrent changes of different fields all land.
func TestShopSettings(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			member := addStaff(t, e, "ops@settings.example", "STAFF", "")
			clerk := addStaff(t, e, "till@settings.example", "CLERK", "central")
			buyer, _ := e.SignUp(t, "buyer@settings.example")

			var got struct{ ShopSettings shopSettingsOut }
			e.Do(t, "", shopSettingsQuery, nil).Decode(t, &got)
			if got.ShopSettings.Name != "Test Shop" || got.ShopSettings.Currency != "EUR" || got.ShopSettings.UpdatedAt != nil {
				t.Fatalf("defaults: %+v", got.ShopSettings)
			}

			in := map[string]any{"i": map[string]any{"name": "Night Owl", "brandColor": "#123456"}}
			for _, tok := range []string{member.Token, clerk.Token, buyer} {
				wantCode(t, e.Do(t, tok, updateSettingsMutation, in), "FORBIDDEN")
				wantCode(t, e.Do(t, tok, `{ emailSettings { enabled } }`, nil), "FORBIDDEN")
				wantCode(t, e.Do(t, tok, sendTestEmailMutation, map[string]any{"to": "a@b.example"}), "FORBIDDEN")
			}
			wantCode(t, e.Do(t, "", updateSettingsMutation, in), "UNAUTHENTICATED")

			for _, bad := range []struct {
				field string
				value any
			}{
				{"brandColor", "red"}, {"brandColor", "#12345"}, {"brandColor", "#123456;}*{x:y"},
				{"logoUrl", "http://plain.example/logo.png"}, {"logoUrl", "//evil.example/x.png"}, {"logoUrl", "javascript:alert(1)"},
				{"name", "   "}, {"name", strings.Repeat("n", 81)}, {"currency", "eur"}, {"currency", "XYZ"},
			} {
				r := e.Do(t, e.StaffToken, updateSettingsMutation, map[string]any{"i": map[string]any{bad.field: bad.value}})
				wantCode(t, r, "BAD_USER_INPUT")
				if f, _ := r.Errors[0].Extensions["field"].(string); f != bad.field {
					t.Fatalf("%s=%v refused with field %q: %+v", bad.field, bad.value, f, r.Errors)
				}
			}
			e.Do(t, "", shopSettingsQuery, nil).Decode(t, &got)
			if got.ShopSettings.Name != "Test Shop" || got.ShopSettings.UpdatedAt != nil {
				t.Fatalf("a refused change changed the settings: %+v", got.ShopSettings)
			}

			var upd struct {
				UpdateShopSettings struct{ Settings shopSettingsOut }
			}
			e.Staff(t, updateSettingsMutation, in, &upd)
			if s := upd.UpdateShopSettings.Settings; s.Name != "Night Owl" || s.BrandColor != "#123456" || s.Currency != "EUR" || s.UpdatedAt == nil {
				t.Fatalf("updated: %+v", s)
			}
			e.Staff(t, updateSettingsMutation, map[string]any{"i": map[string]any{"logoUrl": "/assets/demo/owl.svg", "currency": "USD"}}, &upd)
			e.Do(t, buyer, shopSettingsQuery, nil).Decode(t, &got)
			if s := got.ShopSettings; s.Name != "Night Owl" || s.BrandColor != "#123456" || s.LogoURL != "/assets/demo/owl.svg" || s.Currency != "USD" {
				t.Fatalf("after two changes: %+v", s)
			}
			// An empty colour goes back to the default (none here).
			e.Staff(t, updateSettingsMutation, map[string]any{"i": map[string]any{"brandColor": ""}}, &upd)
			if s := upd.UpdateShopSettings.Settings; s.BrandColor != "" || s.Name != "Night Owl" {
				t.Fatalf("colour reset: %+v", s)
			}

			// Concurrent changes of different fields: every one lands.
			var wg sync.WaitGroup
			names := []string{"name", "logoUrl", "brandColor", "currency"}
			values := []string{"Concurrent Co", "https://cdn.example/logo.png", "#abcdef", "JPY"}
			for i := range names {
				wg.Go(func() {
					r := e.Do(t, e.StaffToken, updateSettingsMutation, map[string]any{"i": map[string]any{names[i]: values[i]}})
					if len(r.Errors) > 0 {
						t.Errorf("%s: %+v", names[i], r.Errors)
					}
				})
			}
			wg.Wait()
			e.Do(t, "", shopSettingsQuery, nil).Decode(t, &got)
			if s := got.ShopSettings; s.Name != values[0] || s.LogoURL != values[1] || s.BrandColor != values[2] || s.Currency != values[3] {
				t.Fatalf("concurrent changes lost one: %+v", s)
			}
			n, err := e.Client.Setting.Query().Count(viewer.SystemContext(context.Background()))
			graphtest.Must(t, err)
			if n == 0 {
				t.Fatal("no settings row")
			}
		})
	}
}

// TestSettingsCacheAcrossReplicas: a replica caches the settings; another
// replica's change reaches it through the change notification at once
// (the broker's listener), and without it within settings.TTL.
func TestSettingsCacheAcrossReplicas(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	clock := e.Clock
	other := settings.New(e.Client, settings.Shop{Name: "Flag Name", Currency: "EUR"}, clock.Now)
	if got := other.Get(context.Background()).Name; got != "Flag Name" {
		t.Fatalf("other replica before: %q", got)
	}
	var upd struct {
		UpdateShopSettings struct{ Settings shopSettingsOut }
	}
	e.Staff(t, updateSettingsMutation, map[string]any{"i": map[string]any{"name": "Renamed"}}, &upd)
	if got := other.Get(context.Background()).Name; got != "Flag Name" {
		t.Fatalf("the other replica's cache should still hold the old name, got %q", got)
	}
	e.Broker.Listen(other.Hear) // as main wires every replica
	e.Staff(t, updateSettingsMutation, map[string]any{"i": map[string]any{"name": "Renamed again"}}, &upd)
	if got := other.Get(context.Background()).Name; got != "Renamed again" {
		t.Fatalf("after the notification: %q", got)
	}
	third := settings.New(e.Client, settings.Shop{Name: "Flag Name"}, clock.Now)
	third.Get(context.Background())
	e.Staff(t, updateSettingsMutation, map[string]any{"i": map[string]any{"name": "Third"}}, &upd)
	clock.Advance(settings.TTL)
	if got := third.Get(context.Background()).Name; got != "Third" {
		t.Fatalf("after the TTL without a notification: %q", got)
	}
}

// TestSendTestEmail: an owner's test email goes through a real SMTP
// server (STARTTLS, AUTH) at once; a server that refuses it is
// EMAIL_FAILED with its reply in words; no server is EMAIL_OFF; past a
// burst, RATE_LIMITED with a retry-after. Each is audited once.
func TestSendTestEmail(t *testing.T) {
	e, ms := mailEnv(t, graphtest.Options{}, nil)
	var em struct {
		EmailSettings struct {
			Enabled         bool
			Host, From, TLS string
			Port            int
			Auth            bool
		}
	}
	e.Staff(t, `{ emailSettings { enabled host port from tls auth } }`, nil, &em)
	if s := em.EmailSettings; !s.Enabled || s.Host != ms.Host || s.Port != ms.Port || !s.Auth || s.TLS != "starttls" {
		t.Fatalf("email settings: %+v", s)
	}
	wantCode(t, e.Do(t, e.StaffToken, sendTestEmailMutation, map[string]any{"to": "not an address"}), "BAD_USER_INPUT")

	var sent struct{ SendTestEmail struct{ To string } }
	e.Staff(t, sendTestEmailMutation, map[string]any{"to": "owner@shop.example"}, &sent)
	msgs := ms.WaitFor(t, 1, 10*time.Second)
	if m := msgs[0]; len(m.To) != 1 || m.To[0] != "owner@shop.example" || !strings.Contains(m.Subject, "Test email from Test Shop") ||
		!strings.Contains(m.Text, "staff@example.com") {
		t.Fatalf("test email: to %v subject %q text %q", m.To, m.Subject, m.Text)
	}

	ms.Refuse(1)
	r := e.Do(t, e.StaffToken, sendTestEmailMutation, map[string]any{"to": "owner@shop.example"})
	wantCode(t, r, "EMAIL_FAILED")
	if msg := r.Errors[0].Message; !strings.Contains(msg, "451") {
		t.Fatalf("the refusal does not carry the server's reply: %q", msg)
	}
	e.Staff(t, sendTestEmailMutation, map[string]any{"to": "owner@shop.example"}, &sent) // the third of the burst
	r = e.Do(t, e.StaffToken, sendTestEmailMutation, map[string]any{"to": "owner@shop.example"})
	wantCode(t, r, "RATE_LIMITED")
	if ra, _ := r.Errors[0].Extensions["retryAfter"].(float64); ra < 1 {
		t.Fatalf("no retryAfter: %+v", r.Errors)
	}
	if n := len(ms.Messages()); n != 2 {
		t.Fatalf("%d emails arrived, want 2", n)
	}

	var log struct {
		AuditLog struct {
			Edges []struct {
				Node struct{ Outcome, Input string }
			}
		}
	}
	e.Staff(t, `{ auditLog(first: 10, operation: "sendTestEmail") { edges { node { outcome input } } } }`, nil, &log)
	var outcomes []string
	for _, ed := range log.AuditLog.Edges {
		outcomes = append(outcomes, ed.Node.Outcome)
	}
	if got := strings.Join(outcomes, " "); got != "RATE_LIMITED OK EMAIL_FAILED OK BAD_USER_INPUT" {
		t.Fatalf("audit of test emails, newest first: %s", got)
	}

	// An unreachable server: EMAIL_FAILED in words, never INTERNAL.
	cfg := graphtest.TestNotify()
	cfg.SMTP = notify.SMTPConfig{Host: "127.0.0.1", Port: 1, From: "shop@shop.test", TLS: notify.TLSNone, Timeout: 2 * time.Second}
	down := graphtest.New(t, graphtest.Options{Notify: &cfg})
	r = down.Do(t, down.StaffToken, sendTestEmailMutation, map[string]any{"to": "owner@shop.example"})
	wantCode(t, r, "EMAIL_FAILED")
	if !strings.Contains(r.Errors[0].Message, "refused") && !strings.Contains(r.Errors[0].Message, "connect") {
		t.Fatalf("unreachable server in words: %q", r.Errors[0].Message)
	}
	off := graphtest.New(t, graphtest.Options{})
	wantCode(t, off.Do(t, off.StaffToken, sendTestEmailMutation, map[string]any{"to": "owner@shop.example"}), "EMAIL_OFF")
}

// TestAuditEveryStaffWrite: every root mutation a staff member or a hub's
// token runs leaves exactly one audit entry with the member, the role and
// the outcome — refusals included — also when many run at once; none is
// left PENDING; entries are written before the write (intent) so a
// stopped process leaves PENDING, never a write without its entry.
func TestAuditEveryStaffWrite(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			member := addStaff(t, e, "ops@audit.example", "STAFF", "")
			clerk := addStaff(t, e, "till@audit.example", "CLERK", "central")
			sys := viewer.SystemContext(context.Background())
			before, err := e.Client.AuditEntry.Query().Count(sys)
			graphtest.Must(t, err)

			const n = 8
			var wg sync.WaitGroup
			for i := range n {
				for _, who := range []struct{ tok, role string }{{e.StaffToken, "OWNER"}, {member.Token, "STAFF"}, {clerk.Token, "CLERK"}} {
					wg.Go(func() {
						in := map[string]any{"i": map[string]any{"name": fmt.Sprintf("%s %d", who.role, i)}}
						r := e.Do(t, who.tok, updateSettingsMutation, in)
						if (who.role == "OWNER") != (len(r.Errors) == 0) {
							t.Errorf("%s: %+v", who.role, r.Errors)
						}
					})
				}
			}
			wg.Wait()
			entries, err := e.Client.AuditEntry.Query().Where(auditentry.Operation("updateShopSettings")).All(sys)
			graphtest.Must(t, err)
			if len(entries) != 3*n {
				t.Fatalf("%d audit entries for %d writes", len(entries), 3*n)
			}
			byRole := map[string]int{}
			for _, a := range entries {
				want := map[string]string{"OWNER": "OK", "STAFF": "FORBIDDEN", "CLERK": "FORBIDDEN"}[a.Role]
				if a.Outcome != want || a.StaffID == 0 || a.TokenID == 0 {
					t.Fatalf("entry %+v, want outcome %s", a, want)
				}
				byRole[a.Role]++
			}
			if byRole["OWNER"] != n || byRole["STAFF"] != n || byRole["CLERK"] != n {
				t.Fatalf("entries by role: %v", byRole)
			}
			after, err := e.Client.AuditEntry.Query().Count(sys)
			graphtest.Must(t, err)
			if after-before != 3*n {
				t.Fatalf("%d new entries, want %d", after-before, 3*n)
			}
			if p, _ := e.Client.AuditEntry.Query().Where(auditentry.Outcome("PENDING")).Count(sys); p != 0 {
				t.Fatalf("%d entries left PENDING", p)
			}
		})
	}
}

// TestAuditHubTokenWrites: a hub box's token is audited too, as the hub's
// token (role HUB, its hub code, its token).
func TestAuditHubTokenWrites(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	ctx := context.Background()
	sys := viewer.SystemContext(ctx)
	graphtest.Must(t, e.Client.Location.Create().SetCode("popup-a").SetName("Popup A").SetKind(location.KindHUB).Exec(sys))
	tok, err := e.Accounts.CreateHubToken(ctx, "hub-a@shop.example", "Hub A", "box", "popup-a")
	graphtest.Must(t, err)
	// A hub's token may not change settings: refused, and audited.
	wantCode(t, e.Do(t, tok, updateSettingsMutation, map[string]any{"i": map[string]any{"name": "Hub's"}}), "FORBIDDEN")
	a, err := e.Client.AuditEntry.Query().Where(auditentry.Operation("updateShopSettings")).Only(sys)
	graphtest.Must(t, err)
	if a.Role != "HUB" || a.Hub != "popup-a" || a.Outcome != "FORBIDDEN" || a.TokenID == 0 || a.StaffID == 0 {
		t.Fatalf("hub token's entry: %+v", a)
	}
	var log struct {
		AuditLog struct {
			Edges []struct {
				Node struct {
					Role, Hub, Outcome string
					Staff              struct{ Email string }
				}
			}
		}
	}
	e.Staff(t, `{ auditLog(first: 5, operation: "updateShopSettings") { edges { node { role hub outcome staff { email } } } } }`, nil, &log)
	if len(log.AuditLog.Edges) != 1 || log.AuditLog.Edges[0].Node.Hub != "popup-a" || log.AuditLog.Edges[0].Node.Staff.Email != "hub-a@shop.example" {
		t.Fatalf("audit log shows %+v", log.AuditLog.Edges)
	}
}

// scriptToken adds a STAFF member with email and makes them a token
// labelled "script"; it returns the token and its id.
func scriptToken(t *testing.T, e *graphtest.Env, email string) (token, id string) {
	t.Helper()
	member := addStaff(t, e, email, "STAFF", "")
	var issued struct {
		CreateStaffToken struct {
			Token      string
			StaffToken struct{ ID string }
		}
	}
	e.Staff(t, `mutation($i: CreateStaffTokenInput!) { createStaffToken(input: $i) { token staffToken { id } } }`,
		map[string]any{"i": map[string]any{"staffId": member.ID, "label": "script"}}, &issued)
	return issued.CreateStaffToken.Token, issued.CreateStaffToken.StaffToken.ID
}

// TestRevokedTokenClosesSockets: revoking a token refuses it at once and
// closes the subscription socket opened with it.
func TestRevokedTokenClosesSockets(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	tok, tokenID := scriptToken(t, e, "sock@audit.example")
	v := newVariant(t, e, 10, 1500, "EUR")
	buyer, _ := e.SignUp(t, "buyer@sock.example")
	orderID := paidOrder(t, e, buyer, v, "sock-paid")
	fid := orderPickup(t, e, buyer, orderID).Node.Fulfillment.ID
	w := dialWS(t, e, tok)
	w.subscribe("f", `subscription($ids: [ID!]!) { fulfillmentUpdated(fulfillmentIds: $ids) { id status } }`, map[string]any{"ids": []string{fid}})
	if got := w.next("f"); !strings.Contains(got, "UNFULFILLED") {
		t.Fatalf("subscription: %s", got)
	}
	var rev struct{ RevokeStaffToken struct{ Ok bool } }
	e.Staff(t, `mutation($i: RevokeStaffTokenInput!) { revokeStaffToken(input: $i) { ok } }`, map[string]any{"i": map[string]any{"tokenId": tokenID}}, &rev)
	wantCode(t, e.Do(t, tok, `{ staffViewer { email } }`, nil), "UNAUTHENTICATED")
	graphtest.Must(t, w.c.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		var m map[string]any
		if err := w.c.ReadJSON(&m); err != nil {
			if strings.Contains(err.Error(), "timeout") {
				t.Fatalf("the socket of a revoked token stayed open: %v", err)
			}
			break
		}
	}
}

// TestAuditIntentBeforeWrite: the audit entry exists (PENDING) while the
// write runs — here a test email the SMTP server holds — so a process
// stopped at that moment leaves the entry; the end completes it once.
func TestAuditIntentBeforeWrite(t *testing.T) {
	e, ms := mailEnv(t, graphtest.Options{}, nil)
	began, release := ms.Hold()
	defer release()
	done := make(chan graphtest.Response, 1)
	go func() {
		done <- e.Do(t, e.StaffToken, sendTestEmailMutation, map[string]any{"to": "owner@shop.example"})
	}()
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("the email never reached DATA")
	}
	sys := viewer.SystemContext(context.Background())
	a, err := e.Client.AuditEntry.Query().Where(auditentry.Operation("sendTestEmail")).Only(sys)
	graphtest.Must(t, err)
	if a.Outcome != "PENDING" || a.Role != "OWNER" || a.StaffID == 0 {
		t.Fatalf("while the write runs: %+v", a)
	}
	release()
	wantCode(t, <-done, "EMAIL_FAILED")
	a, err = e.Client.AuditEntry.Query().Where(auditentry.Operation("sendTestEmail")).Only(sys)
	graphtest.Must(t, err)
	if a.Outcome != "EMAIL_FAILED" {
		t.Fatalf("after the write: %+v", a)
	}
}
