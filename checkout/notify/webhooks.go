package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/notificationdelivery"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/webhookendpoint"
)

// Webhook request headers.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// "<t>.<body>" keyed with the endpoint's secret>" (Stripe's scheme).
	SignatureHeader = "Merchd-Signature"
	// DeliveryHeader is the delivery's id: the same on every retry of
	// it, so a receiver can drop a delivery it already processed.
	DeliveryHeader = "Merchd-Delivery"
	// EventHeader is the event's type.
	EventHeader = "Merchd-Event"
)

// maxEndpointEvents bounds the event types one endpoint lists.
const maxEndpointEvents = 32

// CreatedEndpoint is a new endpoint and its signing secret, which is
// shown this once.
type CreatedEndpoint struct {
	ID     int
	Secret string
}

// CreateEndpoint registers a webhook endpoint (staff only) for events
// (event types, or "*" for all of them) and returns its secret. Only http
// and https URLs; loopback and private addresses only when the server
// allows them. A replay with the same key returns the same endpoint and
// secret.
func (s *Service) CreateEndpoint(ctx context.Context, rawURL string, events []string, key string) (CreatedEndpoint, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return CreatedEndpoint{}, err
	}
	u, err := s.checkURL(rawURL)
	if err != nil {
		return CreatedEndpoint{}, err
	}
	evs, err := checkEvents(events)
	if err != nil {
		return CreatedEndpoint{}, err
	}
	req := struct {
		URL    string
		Events []string
	}{u, evs}
	return txn.Idempotent(ctx, s.db, "createWebhookEndpoint", key, req, func(ctx context.Context, tx *ent.Tx) (CreatedEndpoint, error) {
		secret := newSecret()
		ep, err := tx.WebhookEndpoint.Create().SetURL(u).SetEvents(evs).SetSecret(secret).SetCreatedAt(s.now().UTC()).
			Save(viewer.SystemContext(ctx))
		if err != nil {
			return CreatedEndpoint{}, checkout.WrapWrite("create webhook endpoint", err)
		}
		return CreatedEndpoint{ID: ep.ID, Secret: secret}, nil
	})
}

// DeleteEndpoint removes an endpoint (staff only) with its deliveries:
// nothing more is sent to it. An unknown id is NOT_FOUND.
func (s *Service) DeleteEndpoint(ctx context.Context, id int, key string) (int, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return 0, err
	}
	return txn.Idempotent(ctx, s.db, "deleteWebhookEndpoint", key, id, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		// Its deliveries go with it (the foreign key cascades too; this
		// says so here).
		if _, err := tx.NotificationDelivery.Delete().Where(notificationdelivery.EndpointID(id)).Exec(sys); err != nil {
			return 0, err
		}
		n, err := tx.WebhookEndpoint.Delete().Where(webhookendpoint.ID(id)).Exec(sys)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, fmt.Errorf("webhook endpoint %d: %w", id, checkout.ErrNotFound)
		}
		return id, nil
	})
}

// Endpoint returns one endpoint (staff only).
func (s *Service) Endpoint(ctx context.Context, id int) (*ent.WebhookEndpoint, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return nil, err
	}
	ep, err := s.db.WebhookEndpoint.Get(viewer.SystemContext(ctx), id)
	if err != nil {
		return nil, checkout.NotFoundAs(err, "webhook endpoint")
	}
	return ep, nil
}

// Endpoints lists the endpoints (staff only), oldest first.
func (s *Service) Endpoints(ctx context.Context) ([]*ent.WebhookEndpoint, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return nil, err
	}
	return s.db.WebhookEndpoint.Query().Order(webhookendpoint.ByID()).All(viewer.SystemContext(ctx))
}

// Deliveries lists an endpoint's most recent deliveries (staff only),
// newest first, each with its event.
func (s *Service) Deliveries(ctx context.Context, endpointID, limit int) ([]*ent.NotificationDelivery, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 100 {
		return nil, checkout.BadInput("first", "between 1 and 100")
	}
	return s.db.NotificationDelivery.Query().Where(notificationdelivery.EndpointID(endpointID)).
		Order(notificationdelivery.ByID(sql.OrderDesc())).Limit(limit).WithEvent().All(viewer.SystemContext(ctx))
}

// checkURL refuses what the endpoint may not be: not http(s), with
// credentials, or on a loopback or private address (unless allowed).
func (s *Service) checkURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > 2048 {
		return "", checkout.BadInput("url", "is longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", checkout.BadInput("url", "is not an http or https URL")
	}
	if u.User != nil {
		return "", checkout.BadInput("url", "must not carry credentials: deliveries are signed with the endpoint's secret")
	}
	if u.Fragment != "" {
		return "", checkout.BadInput("url", "must not have a fragment")
	}
	if !s.cfg.AllowPrivateWebhooks {
		host := strings.ToLower(u.Hostname())
		if host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".internal") {
			return "", checkout.BadInput("url", "%s is a local name; webhooks go to public addresses", host)
		}
		if ip, err := netip.ParseAddr(host); err == nil && !publicAddr(ip) {
			return "", checkout.BadInput("url", "%s is not a public address; webhooks go to public addresses", host)
		}
	}
	return u.String(), nil
}

func checkEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, checkout.BadInput("events", "name at least one event type (or \"*\" for all): %s", strings.Join(checkout.WebhookEvents, ", "))
	}
	if len(events) > maxEndpointEvents {
		return nil, checkout.BadInput("events", "at most %d", maxEndpointEvents)
	}
	var out []string
	for _, e := range events {
		if e != "*" && !slices.Contains(checkout.WebhookEvents, e) {
			return nil, checkout.BadInput("events", "%q is not an event type; known: %s", e, strings.Join(checkout.WebhookEvents, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, nil
}

// publicAddr reports an address a webhook may be sent to: not loopback,
// private, link-local, shared (CGNAT), multicast or unspecified.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// webhookClient sends webhooks: a timeout per request, no redirects
// followed (a 3xx is a failure), and, unless private webhooks are
// allowed, a dialer that refuses non-public addresses whatever a name
// resolves to at send time.
func webhookClient(cfg Config) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if !cfg.AllowPrivateWebhooks {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !publicAddr(ap.Addr()) {
				return fmt.Errorf("webhook: %s is not a public address", address)
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: cfg.WebhookTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: cfg.WebhookTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Payload is the JSON body of every webhook delivery.
type Payload struct {
	ID        string         `json:"id"` // the event's id: one per event, whichever endpoint
	Type      string         `json:"type"`
	CreatedAt time.Time      `json:"created_at"`
	Data      map[string]any `json:"data"`
}

// sendWebhook POSTs the delivery's event, signed, to its endpoint.
func (s *Service) sendWebhook(ctx context.Context, d *ent.NotificationDelivery) outcome {
	ev, ep := d.Edges.Event, d.Edges.Endpoint
	if ep == nil {
		return outcome{skip: "the endpoint was deleted"}
	}
	data, _, err := publicData(ev.Data)
	if err != nil {
		return outcome{err: fmt.Errorf("decode event data: %w", err)}
	}
	body, err := json.Marshal(Payload{ID: gid.Encode(ev.ID), Type: ev.Type, CreatedAt: ev.CreatedAt.UTC(), Data: data})
	if err != nil {
		return outcome{err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "merchd-webhooks/1")
	req.Header.Set(SignatureHeader, Sign(ep.Secret, s.now().UTC(), body))
	req.Header.Set(DeliveryHeader, gid.Encode(d.ID))
	req.Header.Set(EventHeader, ev.Type)
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	out := outcome{code: resp.StatusCode, body: excerpt(strings.ToValidUTF8(string(b), "?"))}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		out.err = fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return out
}

// Sign returns the Merchd-Signature header value of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// newSecret is an endpoint's signing secret: 32 random bytes.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}
