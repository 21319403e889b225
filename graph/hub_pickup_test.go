package graph_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/edge"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/fulfillmentevent"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/hubpickup"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/outbox"
	"github.com/merchd/merchd/graph/graphtest"
)

// Pickups handed over at a hub (fest), with or without its link to
// central: the hub checks the pass with central's key, records the
// handover in its outbox under a unique index on the fulfilment, and
// central applies it once per collection id.

const hubCollectMutation = `mutation($i: CollectPickupInput!) { collectPickup(input: $i) {
  fulfillment { id status collectedAt pickupCode order { id } events { to } }
  hubHandover { collectionId fulfillmentId orderId pickupCode collectedAt state note } } }`

const recordCollectionsMutation = `mutation($i: RecordHubCollectionsInput!) { recordHubCollections(input: $i) {
  results { collectionId outcome collectedAt note error code } } }`

type hubHandover struct {
	CollectionID, FulfillmentID, OrderID, PickupCode, State string
	CollectedAt                                             time.Time
	Note                                                    *string
}

type collectionResult struct {
	CollectionID string
	Outcome      *string
	CollectedAt  *time.Time
	Note, Error  *string
	Code         *string
}

// link is the hub's internet: a reverse proxy to central that can be cut
// (a cut link drops each connection unanswered).
type link struct {
	up  atomic.Bool
	url string
}

func newLink(t *testing.T, central string) *link {
	t.Helper()
	target, err := url.Parse(central)
	graphtest.Must(t, err)
	l := &link{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.up.Load() {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	l.url = srv.URL
	return l
}

// pickupPair is central and hub fest, with fest's sync loop running over
// a link the test cuts and restores.
type pickupPair struct {
	popupEnv
	link    *link
	syncer  *edge.Syncer
	variant string // a central SKU to order
	hubLoc  int    // fest's location on central
	buyer   string // a customer's token on central
}

func startPickupPair(t *testing.T, d string) *pickupPair {
	return startPickupPairPolling(t, d, 10*time.Millisecond)
}

// startPickupPairPolling is startPickupPair with the sync loop polling
// an idle link every poll.
func startPickupPairPolling(t *testing.T, d string, poll time.Duration) *pickupPair {
	t.Helper()
	p := &pickupPair{popupEnv: startPopupEnv(t, d, 5)}
	c, h := p.central, p.hub
	key, err := hubs.ParsePublicKey(c.Hubs.SigningKey())
	graphtest.Must(t, err)
	h.Sales.TrustCentral(key, 5000)
	h.Clock.Set(c.Clock.Now())
	p.hubLoc = c.Client.Location.Query().Where(location.Code("fest")).OnlyIDX(sysCtx())
	p.variant = newVariant(t, c, 100, 1500, "EUR")
	p.buyer, _ = c.SignUp(t, "fan@hub-pickup.example")
	p.link = newLink(t, c.Base)
	cfg := edge.DefaultConfig()
	cfg.Upstream, cfg.Token, cfg.Hub, cfg.Currency = p.link.url, p.hubTok, "fest", "EUR"
	cfg.Poll, cfg.MinBackoff, cfg.MaxBackoff, cfg.Refused = poll, 10*time.Millisecond, 50*time.Millisecond, time.Hour
	p.syncer = edge.New(cfg, h.Client, h.Sales, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.syncer.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return p
}

// pickupAt is a paid order of the buyer's to be picked up at location loc
// (central's own location if 0): its order id, fulfilment id, pass and
// code. The pickup point is set in the database: a stand-in for choosing
// one at checkout.
func (p *pickupPair) pickupAt(t *testing.T, loc int, key string) (orderID string, fid int, pass, code string) {
	t.Helper()
	c := p.central
	orderID = paidOrder(t, c, p.buyer, p.variant, key)
	pk := orderPickup(t, c, p.buyer, orderID)
	fid, err := gid.Decode(pk.Node.Fulfillment.ID)
	graphtest.Must(t, err)
	if loc != 0 {
		graphtest.Must(t, c.Client.Fulfillment.UpdateOneID(fid).SetLocationID(loc).Exec(sysCtx()))
	}
	return orderID, fid, *pk.Node.PickupPass, *pk.Node.PickupCode
}

func (p *pickupPair) setLink(t *testing.T, up bool) {
	t.Helper()
	p.link.up.Store(up)
	want := hubs.LinkOffline
	if up {
		want = hubs.LinkOnline
	}
	waitFor(t, "the hub's link "+string(want), func() bool { st, _, _ := p.syncer.LinkStatus(); return st == want })
}

// waitFor polls ok until it holds, for at most 15 seconds.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 15s", what)
		}
	}
}

func hubCollect(t testing.TB, h *graphtest.Env, code, key string) graphtest.Response {
	t.Helper()
	return h.Do(t, h.StaffToken, hubCollectMutation, map[string]any{"i": map[string]any{"code": code, "idempotencyKey": key}})
}

func hubHandovers(t *testing.T, h *graphtest.Env) map[string]hubHandover {
	t.Helper()
	var out struct{ HubHandovers []hubHandover }
	h.Staff(t, `{ hubHandovers(first: 50) { collectionId fulfillmentId orderId pickupCode collectedAt state note } }`, nil, &out)
	m := map[string]hubHandover{}
	for _, hv := range out.HubHandovers {
		m[hv.OrderID] = hv
	}
	return m
}

// centralPickup is a fulfilment as central's staff see it.
type centralPickup struct {
	Status      string
	CollectedAt *time.Time
	Events      []struct{ From, To, Actor, Note string }
}

func (p *pickupPair) centralPickup(t *testing.T, fid int) centralPickup {
	t.Helper()
	var out struct{ Node centralPickup }
	p.central.Staff(t, `query($id: ID!) { node(id: $id) { ... on Fulfillment { status collectedAt events { from to actor note } } } }`,
		map[string]any{"id": gid.Encode(fid)}, &out)
	return out.Node
}

// collectedEvents counts the moves to COLLECTED by actor.
func (c centralPickup) collectedEvents() map[string]int {
	m := map[string]int{}
	for _, e := range c.Events {
		if e.To == "COLLECTED" && e.From != "COLLECTED" {
			m[e.Actor]++
		}
	}
	return m
}

func recordCollections(t testing.TB, e *graphtest.Env, tok string, cs ...map[string]any) graphtest.Response {
	t.Helper()
	return e.Do(t, tok, recordCollectionsMutation, map[string]any{"i": map[string]any{"collections": cs}})
}

func collectionIn(id string, fid int, code string, at time.Time) map[string]any {
	return map[string]any{"collectionId": id, "fulfillmentId": gid.Encode(fid), "code": code, "collectedAt": at.UTC().Format(time.RFC3339Nano)}
}

// TestHubPickupOffline: with the link cut, the hub hands a pickup over by
// its pass and another by its typed code (from the list synced while
// online); a second scan is ALREADY_COLLECTED; a pickup collected at
// central's counter meanwhile, and one of another location, are queued
// like the rest. With the link back, central holds each of the hub's
// pickups COLLECTED once, by actor HUB at the hub's time; the counter's
// stays the counter's and the hub's handover of it is a conflict noted for
// staff (final at the hub); the foreign one is refused FORBIDDEN and stays
// queued at the hub. Delivering a handover again changes nothing.
func TestHubPickupOffline(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			p := startPickupPair(t, d)
			c, h := p.central, p.hub
			orderA, fidA, passA, _ := p.pickupAt(t, p.hubLoc, "a")
			orderB, fidB, _, codeB := p.pickupAt(t, p.hubLoc, "b")
			orderC, fidC, passC, _ := p.pickupAt(t, p.hubLoc, "c")
			orderX, fidX, passX, _ := p.pickupAt(t, 0, "x") // picked up at central, not at fest

			// Online, the hub learns the pickups waiting there.
			p.setLink(t, true)
			waitFor(t, "fest's pickups listed at the hub", func() bool {
				return h.Client.HubPickup.Query().Where(hubpickup.StatusEQ(hubpickup.StatusWAITING)).CountX(sysCtx()) == 3
			})
			p.setLink(t, false)

			// Offline: by pass, replayed, scanned again.
			var a struct {
				CollectPickup struct {
					Fulfillment struct {
						ID, Status, PickupCode string
						CollectedAt            *time.Time
						Order                  *struct{ ID string }
						Events                 []struct{ To string }
					}
					HubHandover hubHandover
				}
			}
			hubCollect(t, h, passA, "scan-a").Decode(t, &a)
			f, hv := a.CollectPickup.Fulfillment, a.CollectPickup.HubHandover
			if f.ID != gid.Encode(fidA) || f.Status != "COLLECTED" || f.CollectedAt == nil || f.Order != nil || len(f.Events) != 0 {
				t.Fatalf("the hub's view of the handover: %+v", f)
			}
			if hv.State != "QUEUED" || hv.OrderID != orderA || hv.CollectionID == "" || !hv.CollectedAt.Equal(h.Clock.Now()) {
				t.Fatalf("the hub's handover: %+v", hv)
			}
			if r := hubCollect(t, h, passA, "scan-a"); r.Code() != "" || !strings.Contains(string(r.Data), hv.CollectionID) {
				t.Fatalf("a replay of the scan: %s %s", r.Code(), r.Data)
			}
			wantCode(t, hubCollect(t, h, passA, "scan-a-again"), "ALREADY_COLLECTED")

			// Offline, by the typed code of the synced list; an unknown code
			// is refused.
			typed := strings.ToLower(codeB[:3]) + "-" + codeB[3:]
			if r := hubCollect(t, h, typed, "type-b"); r.Code() != "" {
				t.Fatalf("typed code at the hub: %s %s", r.Code(), r.Data)
			}
			wantCode(t, hubCollect(t, h, codeB, "type-b-again"), "ALREADY_COLLECTED")
			wantCode(t, hubCollect(t, h, "ZZZZZZ", "type-unknown"), "BAD_USER_INPUT")
			forged := passA[:len(passA)-4] + "AAAA"
			wantCode(t, hubCollect(t, h, forged, "forged"), "BAD_USER_INPUT")

			// Meanwhile central's counter hands C over; the hub, offline,
			// does too, and takes X, which is not fest's.
			if r := collect(t, c, c.StaffToken, passC, "counter-c"); r.Code() != "" {
				t.Fatalf("counter: %s", r.Code())
			}
			for _, s := range []struct{ pass, key string }{{passC, "scan-c"}, {passX, "scan-x"}} {
				if r := hubCollect(t, h, s.pass, s.key); r.Code() != "" {
					t.Fatalf("%s at the hub offline: %s", s.key, r.Code())
				}
			}
			if st := p.centralPickup(t, fidA).Status; st != "UNFULFILLED" {
				t.Fatalf("central saw A %s through a cut link", st)
			}
			if q, _ := h.Sales.Queue(context.Background()); q.Depth != 4 {
				t.Fatalf("%d handovers queued at the hub, want 4", q.Depth)
			}

			// The link returns.
			p.setLink(t, true)
			waitFor(t, "the queue down to the refused handover", func() bool {
				q, _ := h.Sales.Queue(context.Background())
				return q.Depth == 1
			})
			for _, fid := range []int{fidA, fidB} {
				cp := p.centralPickup(t, fid)
				if got := cp.collectedEvents(); cp.Status != "COLLECTED" || got["HUB"] != 1 || len(got) != 1 {
					t.Fatalf("central's fulfilment %d: %s, moves to COLLECTED %v, want one by HUB", fid, cp.Status, got)
				}
			}
			if cp := p.centralPickup(t, fidA); cp.CollectedAt == nil || !cp.CollectedAt.Equal(hv.CollectedAt) {
				t.Fatalf("central holds A collected at %v, the hub handed it over at %s", cp.CollectedAt, hv.CollectedAt)
			}
			cpC := p.centralPickup(t, fidC)
			if got := cpC.collectedEvents(); got["STAFF"] != 1 || len(got) != 1 {
				t.Fatalf("C's moves to COLLECTED: %v, want the counter's only", got)
			}
			last := cpC.Events[len(cpC.Events)-1]
			if last.Actor != "HUB" || last.From != "COLLECTED" || last.To != "COLLECTED" || !strings.Contains(last.Note, "conflict: hub fest") {
				t.Fatalf("C's conflict is not noted for staff: %+v", last)
			}
			if cp := p.centralPickup(t, fidX); cp.Status != "UNFULFILLED" {
				t.Fatalf("the hub collected another location's pickup: %s", cp.Status)
			}
			got := hubHandovers(t, h)
			for o, want := range map[string]string{orderA: "COLLECTED", orderB: "COLLECTED", orderC: "ALREADY_COLLECTED", orderX: "QUEUED"} {
				if got[o].State != want {
					t.Errorf("handover of %s at the hub: %s, want %s", o, got[o].State, want)
				}
			}
			if n := got[orderX].Note; n == nil || !strings.Contains(*n, "FORBIDDEN") {
				t.Fatalf("the refused handover's note at the hub: %v", n)
			}
			if n := got[orderC].Note; n == nil || !strings.Contains(*n, "conflict") {
				t.Fatalf("the conflict's note at the hub: %v", n)
			}

			// Redelivery: the same handover again answers the same and
			// changes nothing, whether central is asked directly or the
			// hub's outbox sends it again.
			in := collectionIn(got[orderA].CollectionID, fidA, passA, got[orderA].CollectedAt)
			for range 2 {
				var out struct {
					RecordHubCollections struct{ Results []collectionResult }
				}
				recordCollections(t, c, p.hubTok, in).Decode(t, &out)
				r := out.RecordHubCollections.Results[0]
				if r.Outcome == nil || *r.Outcome != "COLLECTED" || r.CollectedAt == nil || !r.CollectedAt.Equal(hv.CollectedAt) {
					t.Fatalf("redelivered handover: %+v", r)
				}
			}
			before := p.centralPickup(t, fidA)
			graphtest.Must(t, h.Client.Outbox.Update().Where(outbox.Key("hubcollect-"+hv.CollectionID)).
				SetStatus(outbox.StatusPENDING).Exec(sysCtx()))
			waitFor(t, "the redelivery", func() bool {
				return h.Client.Outbox.Query().Where(outbox.Key("hubcollect-"+hv.CollectionID)).OnlyX(sysCtx()).Status == outbox.StatusDONE
			})
			if after := p.centralPickup(t, fidA); len(after.Events) != len(before.Events) || !after.CollectedAt.Equal(*before.CollectedAt) {
				t.Fatalf("a redelivery changed A: %d events → %d", len(before.Events), len(after.Events))
			}
			if n := c.Client.FulfillmentEvent.Query().Where(fulfillmentevent.FulfillmentID(fidA), fulfillmentevent.To("COLLECTED")).CountX(sysCtx()); n != 1 {
				t.Fatalf("%d COLLECTED events for A on central, want 1", n)
			}
		})
	}
}

// TestHubPickupOnlineGoesAtOnce: online, a handover at the hub reaches
// central at once, not at the sync loop's next poll (an hour here).
func TestHubPickupOnlineGoesAtOnce(t *testing.T) {
	p := startPickupPairPolling(t, "sqlite", time.Hour)
	p.setLink(t, true)
	_, fid, pass, _ := p.pickupAt(t, p.hubLoc, "now")
	if r := hubCollect(t, p.hub, pass, "scan"); r.Code() != "" {
		t.Fatalf("handover: %s", r.Code())
	}
	waitFor(t, "collected on central", func() bool { return p.centralPickup(t, fid).Status == "COLLECTED" })
	waitFor(t, "central's answer at the hub", func() bool {
		for _, hv := range hubHandovers(t, p.hub) {
			return hv.State == "COLLECTED"
		}
		return false
	})
}

// TestHubPickupTrustBoundary: central takes a hub's handovers only with
// that hub's own token and only for pickups at that hub; a pass or code
// that is not the pickup's is refused; the hub's time is clamped to
// [paid, central's now]; a collection id is the hub's and the pickup's.
func TestHubPickupTrustBoundary(t *testing.T) {
	p := startPickupPair(t, "sqlite")
	c := p.central
	fair := hubToken(t, c, "fair")
	_, fid, pass, code := p.pickupAt(t, p.hubLoc, "t1")
	_, fid2, pass2, _ := p.pickupAt(t, p.hubLoc, "t2")
	_, fidX, passX, _ := p.pickupAt(t, 0, "tx")
	now := c.Clock.Now()
	result := func(tok string, in map[string]any) collectionResult {
		t.Helper()
		var out struct {
			RecordHubCollections struct{ Results []collectionResult }
		}
		recordCollections(t, c, tok, in).Decode(t, &out)
		return out.RecordHubCollections.Results[0]
	}
	refused := func(r collectionResult, code string) {
		t.Helper()
		if r.Code == nil || *r.Code != code || r.Outcome != nil {
			t.Fatalf("%+v, want refused %s", r, code)
		}
	}

	// Only a hub's own token; the hub is the token's.
	wantCode(t, recordCollections(t, c, c.StaffToken, collectionIn("k0", fid, pass, now)), "FORBIDDEN")
	wantCode(t, recordCollections(t, c, "", collectionIn("k0", fid, pass, now)), "UNAUTHENTICATED")
	refused(result(fair, collectionIn("k1", fid, pass, now)), "FORBIDDEN")
	refused(result(p.hubTok, collectionIn("k2", fidX, passX, now)), "FORBIDDEN")
	// The pass or code must be the pickup's.
	refused(result(p.hubTok, collectionIn("k3", fid, pass2, now)), "BAD_USER_INPUT")
	refused(result(p.hubTok, collectionIn("k4", fid, "ZZZZZZ", now)), "BAD_USER_INPUT")
	if st := p.centralPickup(t, fid).Status; st != "UNFULFILLED" {
		t.Fatalf("a refused handover moved the pickup to %s", st)
	}

	// A handover stamped before the order was paid is taken as at payment;
	// one from the future as at central's now.
	paidAt := *c.Client.Fulfillment.Query().Where(fulfillment.ID(fid)).QueryOrder().OnlyX(sysCtx()).PaidAt
	r := result(p.hubTok, collectionIn("past", fid, code, paidAt.Add(-24*time.Hour)))
	if r.Outcome == nil || *r.Outcome != "COLLECTED" || !r.CollectedAt.Equal(paidAt) {
		t.Fatalf("a handover from before payment: %+v, want collected at %s", r, paidAt)
	}
	r = result(p.hubTok, collectionIn("future", fid2, pass2, now.Add(time.Hour)))
	if r.Outcome == nil || *r.Outcome != "COLLECTED" || !r.CollectedAt.Equal(c.Clock.Now()) {
		t.Fatalf("a handover from the future: %+v, want collected at %s", r, c.Clock.Now())
	}
	// A collection id is the hub's and its pickup's.
	refused(result(p.hubTok, collectionIn("past", fid2, pass2, now)), "BAD_USER_INPUT")
	refused(result(fair, collectionIn("past", fid, code, now)), "BAD_USER_INPUT")
	// A second handover of a collected pickup is final and noted.
	r = result(p.hubTok, collectionIn("again", fid, pass, now))
	if r.Outcome == nil || *r.Outcome != "ALREADY_COLLECTED" || r.Note == nil {
		t.Fatalf("a second handover: %+v", r)
	}
}

// TestRace_recordHubCollections: one handover delivered 16 times at once
// is applied once and answered the same; 16 handovers of one pickup (16
// collection ids, as from a hub reinstalled or two hubs' worth of
// retries) collect it once, the rest ALREADY_COLLECTED.
func TestRace_recordHubCollections(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			p := startPickupPair(t, d)
			c, cl := p.central, raceClient()
			at := c.Clock.Now()
			send := func(in map[string]any) graphtest.Response {
				return postWith(t, cl, c.URL, p.hubTok, recordCollectionsMutation, map[string]any{"i": map[string]any{"collections": []any{in}}})
			}
			_, fid, pass, _ := p.pickupAt(t, p.hubLoc, "same")
			rs := raceAll(raceN, func(int) graphtest.Response { return send(collectionIn("one", fid, pass, at)) })
			allSame(t, rs)
			if !strings.Contains(string(rs[0].Data), `"outcome":"COLLECTED"`) {
				t.Fatalf("one handover delivered 16 times: %s", rs[0].Data)
			}
			if got := p.centralPickup(t, fid).collectedEvents(); got["HUB"] != 1 || len(got) != 1 {
				t.Fatalf("moves to COLLECTED %v, want one by HUB", got)
			}

			_, fid2, pass2, _ := p.pickupAt(t, p.hubLoc, "each")
			rs = raceAll(raceN, func(i int) graphtest.Response { return send(collectionIn(fmt.Sprint("each-", i), fid2, pass2, at)) })
			outcomes := map[string]int{}
			for _, r := range rs {
				var out struct {
					RecordHubCollections struct{ Results []collectionResult }
				}
				r.Decode(t, &out)
				if o := out.RecordHubCollections.Results[0].Outcome; o != nil {
					outcomes[*o]++
				}
			}
			if outcomes["COLLECTED"] != 1 || outcomes["ALREADY_COLLECTED"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 COLLECTED and %d ALREADY_COLLECTED", outcomes, raceN-1)
			}
			if got := p.centralPickup(t, fid2).collectedEvents(); got["HUB"] != 1 || len(got) != 1 {
				t.Fatalf("moves to COLLECTED %v, want one by HUB", got)
			}
		})
	}
}

// TestRace_collectPickupAtHub: clerks at the hub scanning one pass at
// once, with the link cut: one key, all the first answer; a key each, one
// handover and the rest ALREADY_COLLECTED; one record queued.
func TestRace_collectPickupAtHub(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			p := startPickupPair(t, d)
			h, cl := p.hub, raceClient()
			do := func(code, key string) graphtest.Response {
				return postWith(t, cl, h.URL, h.StaffToken, hubCollectMutation, map[string]any{"i": map[string]any{"code": code, "idempotencyKey": key}})
			}
			_, _, one, _ := p.pickupAt(t, p.hubLoc, "same")
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return do(one, "scan") }))
			_, _, each, _ := p.pickupAt(t, p.hubLoc, "each")
			rs := raceAll(raceN, func(i int) graphtest.Response { return do(each, fmt.Sprint("scan-", i)) })
			if got := codeCounts(rs); got[""] != 1 || got["ALREADY_COLLECTED"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 handover and %d ALREADY_COLLECTED", got, raceN-1)
			}
			if q, _ := h.Sales.Queue(context.Background()); q.Depth != 2 {
				t.Fatalf("%d handovers queued, want 2", q.Depth)
			}
		})
	}
}

// TestHubPickupRacesCounter: the hub's delivered handover and a clerk at
// central's counter, on one pickup at once, eight times over: each pickup
// is COLLECTED once on central; the loser is the counter's
// ALREADY_COLLECTED or the hub's final ALREADY_COLLECTED, noted for staff.
func TestHubPickupRacesCounter(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			p := startPickupPair(t, d)
			c := p.central
			for i := range 8 {
				_, fid, pass, _ := p.pickupAt(t, p.hubLoc, fmt.Sprint("r", i))
				var hub, counter graphtest.Response
				concurrently(2, func(j int) {
					if j == 0 {
						hub = recordCollections(t, c, p.hubTok, collectionIn(fmt.Sprint("race-", i), fid, pass, c.Clock.Now()))
					} else {
						counter = collect(t, c, c.StaffToken, pass, fmt.Sprint("counter-", i))
					}
				})
				var out struct {
					RecordHubCollections struct{ Results []collectionResult }
				}
				hub.Decode(t, &out)
				o := out.RecordHubCollections.Results[0].Outcome
				switch {
				case o == nil:
					t.Fatalf("the hub's handover: %+v", out.RecordHubCollections.Results[0])
				case *o == "COLLECTED" && counter.Code() == "ALREADY_COLLECTED":
				case *o == "ALREADY_COLLECTED" && counter.Code() == "":
				default:
					t.Fatalf("hub %s, counter %q: want exactly one handover", *o, counter.Code())
				}
				cp := p.centralPickup(t, fid)
				if got := cp.collectedEvents(); cp.Status != "COLLECTED" || got["HUB"]+got["STAFF"] != 1 {
					t.Fatalf("pickup %d: %s, moves to COLLECTED %v", i, cp.Status, got)
				}
			}
		})
	}
}
