package graph_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/accounts"
	"github.com/merchd/merchd/checkout/notify"
	"github.com/merchd/merchd/ent/accounttoken"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/notificationdelivery"
	"github.com/merchd/merchd/ent/outboxevent"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/hardware/hardwaretest"
)

// mailEnv is a test shop that sends email to a real SMTP server (with
// AUTH PLAIN) started by the test.
func mailEnv(t *testing.T, o graphtest.Options, tune func(*notify.Config)) (*graphtest.Env, *graphtest.MailServer) {
	t.Helper()
	ms := graphtest.NewMailServer(t, "mailer", "s3cret-pass")
	cfg := graphtest.TestNotify()
	cfg.SMTP = notify.SMTPConfig{Host: ms.Host, Port: ms.Port, User: ms.User, Password: checkout.Secret(ms.Password),
		From: "Test Shop <orders@shop.test>", TLS: notify.TLSStartTLS, Timeout: 10 * time.Second, RootCAs: ms.RootCAs}
	if tune != nil {
		tune(&cfg)
	}
	o.Notify = &cfg
	return graphtest.New(t, o), ms
}

// send runs the notification worker once, as every replica does on its
// interval, and returns how many deliveries it tried.
func send(t testing.TB, e *graphtest.Env) int {
	t.Helper()
	n, err := e.Notify.DeliverDue(context.Background())
	graphtest.Must(t, err)
	return n
}

func orderNumber(t testing.TB, e *graphtest.Env, orderID string) string {
	t.Helper()
	id, err := gid.Decode(orderID)
	graphtest.Must(t, err)
	return e.Client.Order.GetX(viewer.SystemContext(context.Background()), id).Number
}

func mustContain(t testing.TB, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Fatalf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

// TestNotifyOrderEmails: a paid order sends its buyer one confirmation
// through the SMTP server, with the shop's name, the order's lines and
// total and a link to its page; a wallet refund sends one more. Sending
// again sends nothing again.
func TestNotifyOrderEmails(t *testing.T) {
	e, ms := mailEnv(t, graphtest.Options{}, nil)
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "fan@mail.example")
	orderID := paidOrder(t, e, tok, v, "mail-paid")
	number := orderNumber(t, e, orderID)

	if n := send(t, e); n != 1 {
		t.Fatalf("the worker tried %d deliveries, want 1 (the confirmation)", n)
	}
	msgs := ms.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d emails, want 1", len(msgs))
	}
	m := msgs[0]
	link := "https://shop.test/orders/" + orderID
	if len(m.To) != 1 || m.To[0] != "fan@mail.example" || m.From != "orders@shop.test" {
		t.Fatalf("envelope from %q to %v", m.From, m.To)
	}
	mustContain(t, "subject", m.Subject, "Order "+number+" confirmed", "Test Shop")
	mustContain(t, "text part", m.Text, "Order "+number, "€15.00", "Total", link, "— Test Shop")
	mustContain(t, "HTML part", m.HTML, `href="`+link+`"`, "<strong>"+number+"</strong>", "€15.00", "Test Shop")
	if id := m.Header.Get("Message-Id"); !strings.HasSuffix(id, "@shop.test>") {
		t.Fatalf("Message-ID %q", id)
	}
	if n := send(t, e); n != 0 || len(ms.Messages()) != 1 {
		t.Fatalf("a second pass tried %d and the server has %d emails, want 0 and 1", n, len(ms.Messages()))
	}

	var rf struct{}
	e.Staff(t, refundOrderMutation, map[string]any{"i": map[string]any{"orderId": orderID, "to": "WALLET", "idempotencyKey": "mail-refund"}}, &rf)
	send(t, e)
	msgs = ms.WaitFor(t, 2, 10*time.Second)
	mustContain(t, "refund email", msgs[1].Subject, "Refund issued for order "+number)
	mustContain(t, "refund email", msgs[1].Text, "We refunded €15.00 for order "+number+" to your wallet", link)
}

// TestNotifyMailRetries: a server that refuses (451) is retried with
// backoff on the clock, the same message id each time; one that keeps
// refusing makes the delivery DEAD after the last attempt.
func TestNotifyMailRetries(t *testing.T) {
	e, ms := mailEnv(t, graphtest.Options{}, func(c *notify.Config) { c.MaxAttempts = 3 })
	ctx := viewer.SystemContext(context.Background())
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "retry@mail.example")

	ms.Refuse(1)
	paidOrder(t, e, tok, v, "retry-paid")
	send(t, e)
	d := e.Client.NotificationDelivery.Query().OnlyX(ctx)
	if d.Status != notificationdelivery.StatusPENDING || d.Attempts != 1 || !strings.Contains(d.LastError, "451") {
		t.Fatalf("after a refusal: %s, %d attempts, error %q", d.Status, d.Attempts, d.LastError)
	}
	if !d.NextAttemptAt.Equal(e.Clock.Now().Add(30 * time.Second)) {
		t.Fatalf("next attempt at %s, want 30s after %s", d.NextAttemptAt, e.Clock.Now())
	}
	if send(t, e) != 0 {
		t.Fatal("retried before its backoff")
	}
	e.Clock.Advance(30 * time.Second)
	send(t, e)
	if len(ms.Messages()) != 1 || e.Client.NotificationDelivery.GetX(ctx, d.ID).Status != notificationdelivery.StatusSENT {
		t.Fatalf("after the backoff: %d emails, want 1 and SENT", len(ms.Messages()))
	}

	ms.Refuse(100)
	paidOrder(t, e, tok, v, "dead-paid")
	for i, wait := range []time.Duration{0, 30 * time.Second, 60 * time.Second} {
		e.Clock.Advance(wait)
		if n := send(t, e); n != 1 {
			t.Fatalf("attempt %d: tried %d", i+1, n)
		}
	}
	dead := e.Client.NotificationDelivery.Query().Where(notificationdelivery.StatusEQ(notificationdelivery.StatusDEAD)).OnlyX(ctx)
	if dead.Attempts != 3 || !strings.Contains(dead.LastError, "451") {
		t.Fatalf("dead delivery: %d attempts, error %q", dead.Attempts, dead.LastError)
	}
	e.Clock.Advance(24 * time.Hour)
	if n := send(t, e); n != 0 {
		t.Fatalf("a DEAD delivery was tried again (%d)", n)
	}
}

// TestNotifyWithoutSMTP: with no SMTP server configured the emails are
// SKIPPED with the reason, and webhooks still go.
func TestNotifyWithoutSMTP(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	ctx := viewer.SystemContext(context.Background())
	rc := newHookReceiver(t, nil)
	secret := createEndpoint(t, e, rc.URL(), []string{"*"}, "nosmtp")
	rc.setSecret(secret)
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "nomail@mail.example")
	paidOrder(t, e, tok, v, "nosmtp")
	send(t, e)
	mail := e.Client.NotificationDelivery.Query().Where(notificationdelivery.KindEQ(notificationdelivery.KindMAIL)).OnlyX(ctx)
	if mail.Status != notificationdelivery.StatusSKIPPED || !strings.Contains(mail.LastError, "--smtp-host") {
		t.Fatalf("email without SMTP: %s %q", mail.Status, mail.LastError)
	}
	if calls := rc.calls(); len(calls) != 1 || calls[0].Payload.Type != "order.paid" || !calls[0].SigOK {
		t.Fatalf("webhook calls %+v, want one signed order.paid", calls)
	}
}

// TestNotifyPickupPass: the pickup.ready email carries the pickup pass as
// an inline QR code that decodes back to the pass, and its fallback code;
// the webhook of the same event never carries the email-only "_pass",
// and the outbox forgets it once the email is sent.
func TestNotifyPickupPass(t *testing.T) {
	e, ms := mailEnv(t, graphtest.Options{}, nil)
	ctx := viewer.SystemContext(context.Background())
	rc := newHookReceiver(t, nil)
	rc.setSecret(createEndpoint(t, e, rc.URL(), []string{"pickup.ready"}, "pass-hook"))
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, customerGID := e.SignUp(t, "pickup@mail.example")
	orderGID := paidOrder(t, e, tok, v, "pass-paid")
	p := orderPickup(t, e, tok, orderGID)
	orderID, _ := gid.Decode(orderGID)
	customerID, _ := gid.Decode(customerGID)

	tx, err := e.Client.Tx(ctx)
	graphtest.Must(t, err)
	graphtest.Must(t, e.Notify.Record(ctx, tx, checkout.Event{Type: checkout.EventPickupReady, OrderID: orderID, CustomerID: customerID,
		Data: map[string]any{"order_id": orderGID, "location": "Venue counter", "pickup_code": *p.Node.PickupCode, "_pass": *p.Node.PickupPass}}))
	graphtest.Must(t, tx.Commit())
	send(t, e)

	msgs := ms.WaitFor(t, 2, 10*time.Second) // the confirmation, then this
	m := msgs[1]
	mustContain(t, "subject", m.Subject, "Ready for pickup: order "+orderNumber(t, e, orderGID))
	mustContain(t, "text part", m.Text, "ready for pickup at Venue counter", *p.Node.PickupCode, "https://shop.test/orders/"+orderGID)
	mustContain(t, "HTML part", m.HTML, `src="cid:pass.png"`, *p.Node.PickupCode)
	img, ok := m.Inline["pass.png"]
	if !ok {
		t.Fatalf("no inline pass.png; parts: %v", keys(m.Inline))
	}
	if got := decodeQR(t, img); got != *p.Node.PickupPass {
		t.Fatalf("the QR code reads %q, want the pass %q", got, *p.Node.PickupPass)
	}

	calls := rc.calls()
	if len(calls) != 1 || !calls[0].SigOK {
		t.Fatalf("webhook calls: %+v", calls)
	}
	if _, leaked := calls[0].Payload.Data["_pass"]; leaked || strings.Contains(string(calls[0].Body), *p.Node.PickupPass) {
		t.Fatalf("the webhook carries the pass: %s", calls[0].Body)
	}
	if calls[0].Payload.Data["pickup_code"] != *p.Node.PickupCode || calls[0].Payload.Data["location"] != "Venue counter" {
		t.Fatalf("webhook data %v", calls[0].Payload.Data)
	}
	ev := e.Client.OutboxEvent.Query().Where(outboxevent.Type(checkout.EventPickupReady)).OnlyX(ctx)
	if bytes.Contains(ev.Data, []byte("_pass")) {
		t.Fatalf("the outbox still holds the pass after the email went: %s", ev.Data)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func decodeQR(t testing.TB, pngData []byte) string {
	t.Helper()
	return hardwaretest.DecodeQRPNG(t, pngData)
}

// hookCall is one request a webhook receiver got.
type hookCall struct {
	Payload struct {
		ID, Type, CreatedAt string
		Data                map[string]any
	}
	Body     []byte
	Delivery string
	SigOK    bool
	SigErr   string
	Status   int // what the receiver answered
}

// hookReceiver is the merchant's system: it verifies each signature with
// its own verifier, records every call, and answers what status says.
type hookReceiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	log    []hookCall
	status func(c hookCall, n int) int // n: calls so far for this delivery id
	now    func() time.Time
}

func newHookReceiver(t testing.TB, status func(c hookCall, n int) int) *hookReceiver {
	r := &hookReceiver{t: t, status: status, now: time.Now}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) URL() string { return r.srv.URL + "/hooks/merchd" }

func (r *hookReceiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	c := hookCall{Body: body, Delivery: req.Header.Get("Merchd-Delivery")}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := verifyMerchdSignature(r.secret, req.Header.Get("Merchd-Signature"), body, r.now(), 5*time.Minute); err != nil {
		c.SigErr = err.Error()
	} else {
		c.SigOK = true
	}
	if err := json.Unmarshal(body, &c.Payload); err != nil {
		c.SigErr += "; bad JSON: " + err.Error()
	}
	n := 0
	for _, p := range r.log {
		if p.Delivery == c.Delivery {
			n++
		}
	}
	c.Status = http.StatusOK
	if r.status != nil {
		c.Status = r.status(c, n)
	}
	if req.Header.Get("Merchd-Event") != c.Payload.Type || req.Header.Get("Content-Type") != "application/json" {
		c.SigErr += "; headers " + fmt.Sprint(req.Header)
	}
	r.log = append(r.log, c)
	w.WriteHeader(c.Status)
	if c.Status >= 300 {
		io.WriteString(w, "receiver down for maintenance")
	} else {
		io.WriteString(w, "ok")
	}
}

func (r *hookReceiver) calls() []hookCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookCall(nil), r.log...)
}

// verifyMerchdSignature is the receiver's side of the scheme, written
// from the README and not from merchd's code: the header is
// "t=<unix>,v1=<hex>" (several v1 may come), the HMAC-SHA256 is keyed
// with the endpoint's secret over "<t>.<raw body>", and t must be within
// tolerance of the receiver's clock (replays of old requests fail).
func verifyMerchdSignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, kv := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return fmt.Errorf("malformed signature header %q", header)
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("no timestamp in %q", header)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("timestamp %s is %s from now", ts, d)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no v1 signature matches")
}

const createEndpointMutation = `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id url events createdAt } } }`

type createEndpointOut struct {
	CreateWebhookEndpoint struct {
		Secret   string
		Endpoint struct {
			ID, URL string
			Events  []string
		}
	}
}

func createEndpoint(t testing.TB, e *graphtest.Env, url string, events []string, key string) string {
	t.Helper()
	var out createEndpointOut
	e.Staff(t, createEndpointMutation, map[string]any{"i": map[string]any{"url": url, "events": events, "idempotencyKey": key}}, &out)
	if !strings.HasPrefix(out.CreateWebhookEndpoint.Secret, "whsec_") {
		t.Fatalf("secret %q", out.CreateWebhookEndpoint.Secret)
	}
	return out.CreateWebhookEndpoint.Secret
}

type deliveryView struct {
	ID, EventID, EventType, Status string
	Attempts                       int
	LastStatusCode                 *int
	LastResponse, LastError        *string
	NextAttemptAt, SentAt          *time.Time
}

func endpointDeliveries(t testing.TB, e *graphtest.Env) map[string][]deliveryView {
	t.Helper()
	var out struct {
		WebhookEndpoints []struct {
			URL        string
			Deliveries []deliveryView
		}
	}
	e.Staff(t, `{ webhookEndpoints { url deliveries(first: 50) { id eventId eventType status attempts lastStatusCode lastResponse lastError nextAttemptAt sentAt } } }`, nil, &out)
	m := map[string][]deliveryView{}
	for _, ep := range out.WebhookEndpoints {
		m[ep.URL] = ep.Deliveries
	}
	return m
}

// TestWebhookDeliveries: deliveries are signed (checked by the receiver's
// own verifier), retried with backoff after 500s under one delivery id,
// visible to staff with their last response, and the events of one order
// reach an endpoint in order: a refund waits while the order's paid event
// is failing, while another order's events go. An endpoint gets only the
// types it subscribed to; one that never answers 2xx goes DEAD.
func TestWebhookDeliveries(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d, Notify: func() *notify.Config {
				c := graphtest.TestNotify()
				c.MaxAttempts = 4
				return &c
			}()})
			v := newVariant(t, e, 20, 1500, "EUR")
			tokA, _ := e.SignUp(t, "a@hooks.example")
			tokB, _ := e.SignUp(t, "b@hooks.example")

			var orderA string
			flaky := newHookReceiver(t, func(c hookCall, n int) int {
				if c.Payload.Type == "order.paid" && c.Payload.Data["order_id"] == orderA && n < 2 {
					return http.StatusInternalServerError
				}
				return http.StatusOK
			})
			flaky.now = e.Clock.Now
			flaky.setSecret(createEndpoint(t, e, flaky.URL(), []string{"order.paid", "refund.issued"}, "flaky"))
			refunds := newHookReceiver(t, nil)
			refunds.now = e.Clock.Now
			refunds.setSecret(createEndpoint(t, e, refunds.URL(), []string{"refund.issued"}, "refunds"))
			down := newHookReceiver(t, func(hookCall, int) int { return http.StatusBadGateway })
			down.now = e.Clock.Now
			down.setSecret(createEndpoint(t, e, down.URL(), []string{"*"}, "down"))

			orderA = paidOrder(t, e, tokA, v, "hook-a")
			e.Staff(t, refundOrderMutation, map[string]any{"i": map[string]any{"orderId": orderA, "to": "WALLET", "idempotencyKey": "hook-refund"}}, &struct{}{})
			orderB := paidOrder(t, e, tokB, v, "hook-b")
			t0 := e.Clock.Now()

			send(t, e)
			// A's paid failed and waits 30s; A's refund waits behind it;
			// B's paid went; the refunds-only endpoint has A's refund.
			byType := func(ds []deliveryView, typ, order string) []deliveryView {
				var out []deliveryView
				for _, d := range ds {
					if d.EventType == typ {
						out = append(out, d)
					}
				}
				return out
			}
			ds := endpointDeliveries(t, e)[flaky.URL()]
			if len(ds) != 3 {
				t.Fatalf("flaky endpoint has %d deliveries, want 3 (A paid, A refund, B paid): %+v", len(ds), ds)
			}
			paidA, refundA := ds[2], ds[1] // newest first: B paid, A refund, A paid
			if paidA.EventType != "order.paid" || paidA.Status != "PENDING" || paidA.Attempts != 1 || paidA.LastStatusCode == nil || *paidA.LastStatusCode != 500 ||
				paidA.LastResponse == nil || *paidA.LastResponse != "receiver down for maintenance" || paidA.NextAttemptAt == nil || !paidA.NextAttemptAt.Equal(t0.Add(30*time.Second)) {
				t.Fatalf("A's paid after a 500: %+v", paidA)
			}
			if refundA.EventType != "refund.issued" || refundA.Status != "PENDING" || refundA.Attempts != 0 {
				t.Fatalf("A's refund went before A's paid succeeded: %+v", refundA)
			}
			if ds[0].Status != "SENT" || ds[0].SentAt == nil || *ds[0].LastStatusCode != 200 {
				t.Fatalf("B's paid: %+v", ds[0])
			}
			if got := byType(endpointDeliveries(t, e)[refunds.URL()], "refund.issued", orderA); len(got) != 1 || got[0].Status != "SENT" {
				t.Fatalf("refunds endpoint: %+v", got)
			}

			e.Clock.Advance(30 * time.Second)
			send(t, e)
			e.Clock.Advance(60 * time.Second)
			send(t, e)

			// The flaky endpoint's log for order A: paid (500), paid
			// (500), paid (200) under one delivery id, and only then the
			// refund.
			var seq []string
			paidIDs := map[string]bool{}
			for _, c := range flaky.calls() {
				if !c.SigOK {
					t.Fatalf("signature refused by the receiver: %s", c.SigErr)
				}
				if c.Payload.Data["order_id"] != orderA {
					continue
				}
				seq = append(seq, fmt.Sprintf("%s %d", c.Payload.Type, c.Status))
				if c.Payload.Type == "order.paid" {
					paidIDs[c.Delivery] = true
				}
			}
			if want := "order.paid 500, order.paid 500, order.paid 200, refund.issued 200"; strings.Join(seq, ", ") != want {
				t.Fatalf("order A reached the endpoint as %q, want %q", strings.Join(seq, ", "), want)
			}
			if len(paidIDs) != 1 {
				t.Fatalf("the retries of one delivery came with %d delivery ids", len(paidIDs))
			}
			for _, c := range refunds.calls() {
				if c.Payload.Type != "refund.issued" || !c.SigOK {
					t.Fatalf("refunds-only endpoint got %s (signature ok %v)", c.Payload.Type, c.SigOK)
				}
			}
			if n := len(refunds.calls()); n != 1 {
				t.Fatalf("refunds endpoint got %d calls, want 1", n)
			}
			if strings.Contains(orderB, orderA) {
				t.Fatal("one order twice")
			}

			// The down endpoint: 4 attempts each, then DEAD with the last
			// answer (A's next event starts its attempts once the one
			// before is DEAD: paid, then the pickup canceled by the full
			// refund, then the refund).
			for _, wait := range []time.Duration{2 * time.Minute, 4 * time.Minute, time.Hour, time.Hour, 2 * time.Minute, 4 * time.Minute, time.Hour, time.Hour} {
				e.Clock.Advance(wait)
				send(t, e)
			}
			for _, d := range endpointDeliveries(t, e)[down.URL()] {
				if d.Status != "DEAD" || d.Attempts != 4 || d.LastError == nil || !strings.Contains(*d.LastError, "502") || d.NextAttemptAt != nil {
					t.Fatalf("down endpoint delivery: %+v", d)
				}
			}
			before := len(down.calls())
			e.Clock.Advance(48 * time.Hour)
			send(t, e)
			if len(down.calls()) != before {
				t.Fatal("DEAD deliveries were sent again")
			}
		})
	}
}

// TestWebhookEndpointRules: only staff register endpoints; only http(s)
// on public addresses unless the server allows private ones; and even
// then a name that resolves to a private address at send time is refused
// by the dialer, not sent.
func TestWebhookEndpointRules(t *testing.T) {
	cfg := graphtest.TestNotify()
	cfg.AllowPrivateWebhooks = false
	e := graphtest.New(t, graphtest.Options{Notify: &cfg})
	tok, _ := e.SignUp(t, "nosy@hooks.example")
	create := func(tok, url string, events []string) graphtest.Response {
		return e.Do(t, tok, createEndpointMutation, map[string]any{"i": map[string]any{"url": url, "events": events, "idempotencyKey": "k-" + url}})
	}
	wantCode(t, create("", "https://hooks.example/x", []string{"*"}), "UNAUTHENTICATED")
	wantCode(t, create(tok, "https://hooks.example/x", []string{"*"}), "FORBIDDEN")
	for _, bad := range []string{"ftp://hooks.example/x", "http://127.0.0.1:9/x", "http://[::1]/x", "http://10.1.2.3/x",
		"http://169.254.169.254/latest/meta-data", "http://localhost:8080/x", "https://user:pw@hooks.example/x", "not a url"} {
		wantCode(t, create(e.StaffToken, bad, []string{"order.paid"}), "BAD_USER_INPUT")
	}
	wantCode(t, create(e.StaffToken, "https://hooks.example/y", []string{"order.exploded"}), "BAD_USER_INPUT")
	wantCode(t, create(e.StaffToken, "https://hooks.example/z", nil), "BAD_USER_INPUT")
	var types struct{ WebhookEventTypes []string }
	e.Staff(t, `{ webhookEventTypes }`, nil, &types)
	if len(types.WebhookEventTypes) != len(checkout.WebhookEvents) {
		t.Fatalf("webhookEventTypes %v", types.WebhookEventTypes)
	}

	// An endpoint on loopback that got in anyway (registered while
	// private ones were allowed, or a name that now resolves there): the
	// dialer refuses to connect.
	rc := newHookReceiver(t, nil)
	e.Client.WebhookEndpoint.Create().SetURL(rc.URL()).SetEvents([]string{"order.paid"}).SetSecret("whsec_x").
		ExecX(viewer.SystemContext(context.Background()))
	v := newVariant(t, e, 5, 1000, "EUR")
	paidOrder(t, e, tok, v, "private-paid")
	send(t, e)
	if n := len(rc.calls()); n != 0 {
		t.Fatalf("the receiver on loopback got %d calls", n)
	}
	ds := endpointDeliveries(t, e)[rc.URL()]
	if len(ds) != 1 || ds[0].Status != "PENDING" || ds[0].LastError == nil || !strings.Contains(*ds[0].LastError, "is not a public address") {
		t.Fatalf("delivery to loopback: %+v", ds)
	}
}

var linkRE = regexp.MustCompile(`https://shop\.test/(reset-password|verify-email)\?token=([A-Za-z0-9_\-]+)`)

// linkIn is the account link in an email (text and HTML must agree).
func linkIn(t testing.TB, m graphtest.Message, page string) string {
	t.Helper()
	got := linkRE.FindStringSubmatch(m.Text)
	if got == nil || got[1] != page {
		t.Fatalf("no %s link in the text part:\n%s", page, m.Text)
	}
	mustContain(t, "HTML part", m.HTML, `href="`+got[0]+`"`)
	return got[2]
}

// TestPasswordReset: a reset link reaches the buyer's inbox (and nothing
// reaches an address without an account, for the same answer); it sets
// a new password once, ends the account's sessions, verifies the email,
// and is gone from the outbox once sent. A link past its hour is refused.
func TestPasswordReset(t *testing.T) {
	e, ms := mailEnv(t, graphtest.Options{}, nil)
	ctx := viewer.SystemContext(context.Background())
	session, _ := e.SignUp(t, "lost@mail.example")
	ask := func(email, key string) graphtest.Response {
		return e.Do(t, "", requestResetMutation, map[string]any{"i": map[string]any{"email": email, "idempotencyKey": key}})
	}
	known, unknown := ask("Lost@Mail.example ", "r1"), ask("nobody@mail.example", "r2")
	if string(known.Data) != string(unknown.Data) || len(known.Errors)+len(unknown.Errors) > 0 {
		t.Fatalf("answers differ: %s %v / %s %v", known.Data, known.Errors, unknown.Data, unknown.Errors)
	}
	send(t, e)
	msgs := ms.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "lost@mail.example" {
		t.Fatalf("emails: %+v", msgs)
	}
	mustContain(t, "reset email", msgs[0].Subject, "Reset your password — Test Shop")
	mustContain(t, "reset email", msgs[0].Text, "lost@mail.example", "within an hour")
	token := linkIn(t, msgs[0], "reset-password")
	if n := e.Client.OutboxEvent.Query().Where(outboxevent.Type(checkout.EventPasswordReset)).OnlyX(ctx); bytes.Contains(n.Data, []byte(token)) {
		t.Fatal("the outbox keeps the reset token after the email went")
	}

	reset := func(token, password, key string) graphtest.Response {
		return e.Do(t, "", resetPasswordMutation, map[string]any{"i": map[string]any{"token": token, "newPassword": password, "idempotencyKey": key}})
	}
	wantCode(t, reset(token, "short", "p0"), "BAD_USER_INPUT")
	wantCode(t, reset("mpr_forged", "a long new password", "p1"), "INVALID_TOKEN")
	var out struct{ ResetPassword struct{ Email string } }
	reset(token, "a long new password", "p2").Decode(t, &out)
	if out.ResetPassword.Email != "lost@mail.example" {
		t.Fatalf("reset answered %q", out.ResetPassword.Email)
	}
	wantCode(t, reset(token, "another password", "p3"), "INVALID_TOKEN")
	wantCode(t, e.Do(t, session, `{ viewer { email } }`, nil), "UNAUTHENTICATED")
	signIn := func(password string) graphtest.Response {
		return e.Do(t, "", `mutation($i: SignInInput!) { signIn(input: $i) { token customer { emailVerified } } }`,
			map[string]any{"i": map[string]any{"email": "lost@mail.example", "password": password}})
	}
	wantCode(t, signIn("correct horse battery"), "UNAUTHENTICATED")
	var in struct {
		SignIn struct {
			Customer struct{ EmailVerified bool }
		}
	}
	signIn("a long new password").Decode(t, &in)
	if !in.SignIn.Customer.EmailVerified {
		t.Fatal("a reset through the emailed link does not count as a verified email")
	}

	// A link past its hour (accounts run on the wall clock: the link is
	// made an hour and a second old).
	ask("lost@mail.example", "r3").Decode(t, &struct{}{})
	send(t, e)
	late := linkIn(t, ms.WaitFor(t, 2, 10*time.Second)[1], "reset-password")
	sum := sha256.Sum256([]byte(late))
	lt := e.Client.AccountToken.Query().Where(accounttoken.TokenHash(sum[:])).OnlyX(ctx)
	if d := lt.ExpiresAt.Sub(lt.CreatedAt); d != time.Hour {
		t.Fatalf("a reset link lives %s, want 1h", d)
	}
	e.Client.AccountToken.Delete().Where(accounttoken.ID(lt.ID)).ExecX(ctx)
	e.Client.AccountToken.Create().SetTokenHash(lt.TokenHash).SetCustomerID(lt.CustomerID).SetPurpose(lt.Purpose).SetEmail(lt.Email).
		SetCreatedAt(lt.CreatedAt.Add(-time.Hour - time.Second)).SetExpiresAt(lt.ExpiresAt.Add(-time.Hour - time.Second)).ExecX(ctx)
	wantCode(t, reset(late, "yet another password", "p4"), "INVALID_TOKEN")
}

// TestEmailVerification: a signed-in customer asks for a link, it
// arrives, it verifies the address once; then asking again is refused.
func TestEmailVerification(t *testing.T) {
	e, ms := mailEnv(t, graphtest.Options{}, nil)
	tok, _ := e.SignUp(t, "new@mail.example")
	verified := func() bool {
		var out struct{ Viewer struct{ EmailVerified bool } }
		e.Do(t, tok, `{ viewer { emailVerified } }`, nil).Decode(t, &out)
		return out.Viewer.EmailVerified
	}
	if verified() {
		t.Fatal("verified at sign-up")
	}
	wantCode(t, e.Do(t, "", requestVerifyMutation, map[string]any{"i": map[string]any{"idempotencyKey": "v0"}}), "UNAUTHENTICATED")
	e.Do(t, tok, requestVerifyMutation, map[string]any{"i": map[string]any{"idempotencyKey": "v1"}}).Decode(t, &struct{}{})
	send(t, e)
	m := ms.WaitFor(t, 1, 10*time.Second)[0]
	mustContain(t, "verification email", m.Subject, "Confirm your email — Test Shop")
	mustContain(t, "verification email", m.Text, "new@mail.example")
	token := linkIn(t, m, "verify-email")
	verify := func(key string) graphtest.Response {
		return e.Do(t, "", verifyEmailMutation, map[string]any{"i": map[string]any{"token": token, "idempotencyKey": key}})
	}
	var out struct{ VerifyEmail struct{ Email string } }
	verify("e1").Decode(t, &out)
	if out.VerifyEmail.Email != "new@mail.example" || !verified() {
		t.Fatalf("verifyEmail answered %q; verified %v", out.VerifyEmail.Email, verified())
	}
	wantCode(t, verify("e2"), "INVALID_TOKEN")
	wantCode(t, e.Do(t, tok, requestVerifyMutation, map[string]any{"i": map[string]any{"idempotencyKey": "v2"}}), "BAD_USER_INPUT")
}

// TestPasswordResetThrottled: reset requests are throttled like sign-in,
// per address and per account, the same whether the account exists; and
// one operation holds at most one.
func TestPasswordResetThrottled(t *testing.T) {
	def := accounts.DefaultThrottle()
	e := graphtest.New(t, graphtest.Options{Throttle: &def})
	ask := func(email string, i int) graphtest.Response {
		return e.Do(t, "", requestResetMutation, map[string]any{"i": map[string]any{"email": email, "idempotencyKey": fmt.Sprintf("%s-%d", email, i)}})
	}
	codes := map[string]int{}
	for i := range 8 {
		codes[ask("nobody@throttle.example", i).Code()]++
	}
	if codes[""] != def.Burst || codes["RATE_LIMITED"] != 8-def.Burst {
		t.Fatalf("8 reset requests for one address: %v, want %d answered, then RATE_LIMITED", codes, def.Burst)
	}
	many := `mutation { a: requestPasswordReset(input: {email: "a@x.example", idempotencyKey: "a"}) { accepted }
		b: requestPasswordReset(input: {email: "b@x.example", idempotencyKey: "b"}) { accepted } }`
	wantCode(t, e.Do(t, "", many, nil), "QUERY_TOO_COMPLEX")
}
