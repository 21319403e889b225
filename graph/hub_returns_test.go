package graph_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/orderreturn"
	"github.com/merchd/merchd/ent/outbox"
	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/hardware/hardwaretest"
)

// Returns dropped off at a hub (fest), with or without its link to
// central: the hub checks the return QR with central's key, records the
// drop-off as its outbox entry under the outbox's unique key, and central
// applies it once per drop-off id, with the shop's refund policy.

const hubReceiveMutation = `mutation($i: ReceiveReturnInput!) { receiveReturn(input: $i) {
  return { id status receivedAt }
  hubDropoff { dropoffId returnId fulfillmentId orderId scannedAt state } } }`

const recordDropoffMutation = `mutation($i: RecordHubDropoffInput!) { recordHubDropoff(input: $i) {
  outcome receivedAt note return { id status } } }`

type hubDropoffView struct {
	DropoffID, OrderID, State string
	ReturnID, FulfillmentID   *string
	ScannedAt                 time.Time
}

type receivedAtHub struct {
	ReceiveReturn struct {
		Return *struct {
			ID, Status string
			ReceivedAt *time.Time
		}
		HubDropoff hubDropoffView
	}
}

type dropoffResult struct {
	RecordHubDropoff struct {
		Outcome    string
		ReceivedAt *time.Time
		Note       *string
		Return     *struct{ ID, Status string }
	}
}

func hubReceive(t testing.TB, h *graphtest.Env, code, key string) graphtest.Response {
	t.Helper()
	return h.Do(t, h.StaffToken, hubReceiveMutation, map[string]any{"i": map[string]any{"code": code, "idempotencyKey": key}})
}

func recordDropoff(t testing.TB, c *graphtest.Env, tok, id, code string, at time.Time) graphtest.Response {
	t.Helper()
	return c.Do(t, tok, recordDropoffMutation, map[string]any{"i": map[string]any{"dropoffId": id, "code": code,
		"scannedAt": at.UTC().Format(time.RFC3339Nano)}})
}

// returnAtFest is a return of all units of a collected order of the
// buyer's at central: the return's view and its id.
func (p *pickupPair) returnAtFest(t *testing.T, units int, key string) (returnView, int) {
	t.Helper()
	c := p.central
	orderID, lineID := collected(t, c, p.buyer, p.variant, units, key)
	r := requested(t, c, p.buyer, orderID, lineID, units, key+"-ret")
	id, err := gid.Decode(r.ID)
	graphtest.Must(t, err)
	return r, id
}

// TestHubReturnOffline: with the link cut, a clerk at the hub takes a
// return in by its QR and is answered at once; a replay answers the same,
// a second scan is ALREADY_RECEIVED, a forged QR or a typed code is
// refused. Central sees nothing until the link returns, then holds the
// return RECEIVED once, at fest, at the hub's time, and the buyer's wallet
// credited once; delivering the drop-off again changes nothing.
func TestHubReturnOffline(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			p := startPickupPair(t, d)
			c, h := p.central, p.hub
			// Asked for 10 minutes ago, scanned at the hub 5 minutes ago
			// (the hub's clock stays behind the real one: its outbox is
			// due by it).
			t0 := c.Clock.Now()
			c.Clock.Set(t0.Add(-10 * time.Minute))
			r, rid := p.returnAtFest(t, 2, "a")
			p.setLink(t, false)
			c.Clock.Set(t0)
			h.Clock.Set(t0.Add(-5 * time.Minute))

			var a receivedAtHub
			hubReceive(t, h, *r.QR, "scan-a").Decode(t, &a)
			hd, ret := a.ReceiveReturn.HubDropoff, a.ReceiveReturn.Return
			if hd.State != "QUEUED" || hd.ReturnID == nil || *hd.ReturnID != r.ID || hd.DropoffID == "" || !hd.ScannedAt.Equal(h.Clock.Now()) {
				t.Fatalf("the hub's drop-off: %+v", hd)
			}
			if ret == nil || ret.ID != r.ID || ret.Status != "RECEIVED" {
				t.Fatalf("the hub's view of the return: %+v", ret)
			}
			if rr := hubReceive(t, h, *r.QR, "scan-a"); rr.Code() != "" || !strings.Contains(string(rr.Data), hd.DropoffID) {
				t.Fatalf("a replay of the scan: %s %s", rr.Code(), rr.Data)
			}
			wantCode(t, hubReceive(t, h, *r.QR, "scan-a-again"), "ALREADY_RECEIVED")
			wantCode(t, hubReceive(t, h, (*r.QR)[:len(*r.QR)-4]+"AAAA", "forged"), "BAD_USER_INPUT")
			wantCode(t, hubReceive(t, h, r.Code, "typed"), "BAD_USER_INPUT")
			if st, _ := returnStatus(t, c, p.buyer, r.ID); st != "REQUESTED" {
				t.Fatalf("central saw the return %s through a cut link", st)
			}
			if b := balance(t, c, p.buyer); b != 0 {
				t.Fatalf("credited %d through a cut link", b)
			}

			p.setLink(t, true)
			waitFor(t, "the drop-off delivered", func() bool {
				q, _ := h.Sales.Queue(context.Background())
				return q.Depth == 0
			})
			got := c.Client.OrderReturn.GetX(sysCtx(), rid)
			if got.Status != orderreturn.StatusRECEIVED || got.ReceivedBy != "hub:fest" || got.ReceivedLocationID == nil || *got.ReceivedLocationID != p.hubLoc ||
				got.ReceivedAt == nil || !got.ReceivedAt.Equal(hd.ScannedAt) {
				t.Fatalf("central's return: %s by %q at location %v at %v; want RECEIVED by hub:fest at %d at %s",
					got.Status, got.ReceivedBy, got.ReceivedLocationID, got.ReceivedAt, p.hubLoc, hd.ScannedAt)
			}
			if b, n := balance(t, c, p.buyer), refundEntries(t, c); b != 3000 || n != 1 {
				t.Fatalf("balance %d, %d refund entries; want 3000 and 1", b, n)
			}

			// Redelivery: asked directly, or the hub's outbox sending it
			// again, the drop-off answers the same and credits nothing more.
			var first dropoffResult
			recordDropoff(t, c, p.hubTok, hd.DropoffID, *r.QR, hd.ScannedAt).Decode(t, &first)
			if o := first.RecordHubDropoff; o.Outcome != "RECEIVED" || o.ReceivedAt == nil || !o.ReceivedAt.Equal(hd.ScannedAt) {
				t.Fatalf("redelivered drop-off: %+v", o)
			}
			key := "hubdropoff-r" + fmt.Sprint(rid)
			graphtest.Must(t, h.Client.Outbox.Update().Where(outbox.Key(key)).SetStatus(outbox.StatusPENDING).Exec(sysCtx()))
			waitFor(t, "the redelivery", func() bool {
				return h.Client.Outbox.Query().Where(outbox.Key(key)).OnlyX(sysCtx()).Status == outbox.StatusDONE
			})
			if b, n := balance(t, c, p.buyer), refundEntries(t, c); b != 3000 || n != 1 {
				t.Fatalf("after redelivery: balance %d, %d refund entries; want 3000 and 1", b, n)
			}
			if o := h.Client.Outbox.Query().Where(outbox.Key(key)).OnlyX(sysCtx()); o.LastError != "" {
				t.Fatalf("a received drop-off carries a note at the hub: %q", o.LastError)
			}
		})
	}
}

// TestHubReturnTrustBoundary: central takes a hub's drop-offs only with a
// hub's own token, at that hub's location (the token's; the input has no
// location); a forged QR is refused; the hub's time is clamped to
// [requested, central's now]; a second drop-off of a return received
// before is a final ALREADY_RECEIVED, noted.
func TestHubReturnTrustBoundary(t *testing.T) {
	p := startPickupPair(t, "sqlite")
	c := p.central
	r, rid := p.returnAtFest(t, 1, "t1")
	r2, _ := p.returnAtFest(t, 1, "t2")
	now := c.Clock.Now()

	wantCode(t, recordDropoff(t, c, c.StaffToken, "k0", *r.QR, now), "FORBIDDEN")
	wantCode(t, recordDropoff(t, c, "", "k0", *r.QR, now), "UNAUTHENTICATED")
	wantCode(t, recordDropoff(t, c, hubToken(t, c, "fair"), "k0", *r.QR, now), "FORBIDDEN") // no hub "fair" on central
	wantCode(t, c.Do(t, p.hubTok, `mutation($i: RecordHubDropoffInput!) { recordHubDropoff(input: $i) { outcome } }`,
		map[string]any{"i": map[string]any{"dropoffId": "k0", "code": *r.QR, "scannedAt": now, "locationId": gid.Encode(c.Catalog.LocationID())}}),
		"BAD_USER_INPUT") // unknown field: the location is never the input's
	// receiveReturn with a hub's token: its own hub only.
	wantCode(t, c.Do(t, p.hubTok, receiveReturnMutation, receiveVars(*r.QR, centralID(c), "k1")), "FORBIDDEN")
	wantCode(t, recordDropoff(t, c, p.hubTok, "k2", (*r.QR)[:len(*r.QR)-4]+"AAAA", now), "BAD_USER_INPUT")
	if st, _ := returnStatus(t, c, p.buyer, r.ID); st != "REQUESTED" {
		t.Fatalf("a refused drop-off moved the return to %s", st)
	}

	// Stamped before the return was asked for: taken as at the request;
	// from the future: as at central's now.
	var out dropoffResult
	recordDropoff(t, c, p.hubTok, "past", *r.QR, now.Add(-24*time.Hour)).Decode(t, &out)
	created := c.Client.OrderReturn.GetX(sysCtx(), rid).CreatedAt
	if o := out.RecordHubDropoff; o.Outcome != "RECEIVED" || !o.ReceivedAt.Equal(created) || o.Return == nil || o.Return.Status != "RECEIVED" {
		t.Fatalf("a drop-off from before the request: %+v, want received at %s", o, created)
	}
	got := c.Client.OrderReturn.GetX(sysCtx(), rid)
	if *got.ReceivedLocationID != p.hubLoc || got.ReceivedBy != "hub:fest" {
		t.Fatalf("received at location %d by %q, want fest's %d", *got.ReceivedLocationID, got.ReceivedBy, p.hubLoc)
	}
	recordDropoff(t, c, p.hubTok, "future", *r2.QR, now.Add(time.Hour)).Decode(t, &out)
	if o := out.RecordHubDropoff; o.Outcome != "RECEIVED" || !o.ReceivedAt.Equal(c.Clock.Now()) {
		t.Fatalf("a drop-off from the future: %+v, want received at %s", o, c.Clock.Now())
	}

	// The same drop-off id with another code is refused; a new drop-off of
	// a received return is final and noted.
	if code := recordDropoff(t, c, p.hubTok, "past", *r2.QR, now).Code(); code == "" {
		t.Fatal("a drop-off id reused for another return was taken")
	}
	recordDropoff(t, c, p.hubTok, "again", *r.QR, now).Decode(t, &out)
	if o := out.RecordHubDropoff; o.Outcome != "ALREADY_RECEIVED" || o.Note == nil || !strings.Contains(*o.Note, "conflict: hub fest") {
		t.Fatalf("a second drop-off: %+v", o)
	}
	if b, n := balance(t, c, p.buyer), refundEntries(t, c); b != 3000 || n != 2 {
		t.Fatalf("balance %d, %d refund entries; want 3000 and 2", b, n)
	}
}

// TestRace_receiveReturnAtHub: clerks at the hub scanning one return at
// once, with the link cut: one key, all the first answer; a key each, one
// drop-off and the rest ALREADY_RECEIVED; one record queued per return.
func TestRace_receiveReturnAtHub(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			p := startPickupPair(t, d)
			h, cl := p.hub, raceClient()
			one, _ := p.returnAtFest(t, 1, "same")
			each, _ := p.returnAtFest(t, 1, "each")
			p.setLink(t, false)
			do := func(code, key string) graphtest.Response {
				return postWith(t, cl, h.URL, h.StaffToken, hubReceiveMutation, map[string]any{"i": map[string]any{"code": code, "idempotencyKey": key}})
			}
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return do(*one.QR, "scan") }))
			rs := raceAll(raceN, func(i int) graphtest.Response { return do(*each.QR, fmt.Sprint("scan-", i)) })
			if got := codeCounts(rs); got[""] != 1 || got["ALREADY_RECEIVED"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 drop-off and %d ALREADY_RECEIVED", got, raceN-1)
			}
			if q, _ := h.Sales.Queue(context.Background()); q.Depth != 2 {
				t.Fatalf("%d drop-offs queued, want 2", q.Depth)
			}
		})
	}
}

// TestRace_recordHubDropoff: one drop-off delivered 16 times at once is
// applied once and answered the same; 16 drop-offs of one return (16 ids)
// receive it once, the rest ALREADY_RECEIVED; the wallet is credited once
// per return.
func TestRace_recordHubDropoff(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			p := startPickupPair(t, d)
			c, cl := p.central, raceClient()
			at := c.Clock.Now()
			send := func(id, code string) graphtest.Response {
				return postWith(t, cl, c.URL, p.hubTok, recordDropoffMutation, map[string]any{"i": map[string]any{
					"dropoffId": id, "code": code, "scannedAt": at.UTC().Format(time.RFC3339Nano)}})
			}
			one, _ := p.returnAtFest(t, 1, "same")
			rs := raceAll(raceN, func(int) graphtest.Response { return send("one", *one.QR) })
			allSame(t, rs)
			if !strings.Contains(string(rs[0].Data), `"outcome":"RECEIVED"`) {
				t.Fatalf("one drop-off delivered %d times: %s", raceN, rs[0].Data)
			}
			each, _ := p.returnAtFest(t, 1, "each")
			rs = raceAll(raceN, func(i int) graphtest.Response { return send(fmt.Sprint("each-", i), *each.QR) })
			outcomes := map[string]int{}
			for _, r := range rs {
				var out dropoffResult
				r.Decode(t, &out)
				outcomes[out.RecordHubDropoff.Outcome]++
			}
			if outcomes["RECEIVED"] != 1 || outcomes["ALREADY_RECEIVED"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 RECEIVED and %d ALREADY_RECEIVED", outcomes, raceN-1)
			}
			if b, n := balance(t, c, p.buyer), refundEntries(t, c); b != 3000 || n != 2 {
				t.Fatalf("balance %d, %d refund entries; want 3000 and 2", b, n)
			}
		})
	}
}

// parcelReturnQR prints the label of fulfilment fid at packing, as ZPL
// and as a PDF, and returns the return QR both carry; the PDF's two QR
// codes are read back.
func parcelReturnQR(t *testing.T, c *graphtest.Env, fid int, key string) string {
	t.Helper()
	const q = `mutation($i: PrintFulfillmentLabelInput!) { printFulfillmentLabel(input: $i) { data qr returnQr } }`
	var zpl, pdf struct {
		PrintFulfillmentLabel struct {
			Data, QR string
			ReturnQR *string
		}
	}
	for format, out := range map[string]any{"ZPL": &zpl, "PDF": &pdf} {
		c.Do(t, c.StaffToken, q, map[string]any{"i": map[string]any{"fulfillmentId": gid.Encode(fid), "packagingVariant": "mailer-M",
			"format": format, "idempotencyKey": key + "-" + format}}).Decode(t, out)
	}
	z, p := zpl.PrintFulfillmentLabel, pdf.PrintFulfillmentLabel
	if z.ReturnQR == nil || p.ReturnQR == nil || *z.ReturnQR != *p.ReturnQR || *z.ReturnQR == z.QR {
		t.Fatalf("return QRs: ZPL %v, PDF %v", z.ReturnQR, p.ReturnQR)
	}
	raw, _ := base64.StdEncoding.DecodeString(z.Data)
	if !strings.Contains(string(raw), "^FDRETURN^FS") || !strings.Contains(string(raw), *z.ReturnQR) || !strings.Contains(string(raw), z.QR) {
		t.Fatalf("the ZPL label lacks a QR code:\n%s", raw)
	}
	doc, _ := base64.StdEncoding.DecodeString(p.Data)
	want := []string{p.QR, *p.ReturnQR}
	slices.Sort(want)
	if got := hardwaretest.DecodePDFQRs(t, doc); !slices.Equal(got, want) {
		t.Fatalf("the PDF label's QR codes read %q, want %q", got, want)
	}
	return *p.ReturnQR
}

// TestParcelLabelReturnQR: the label printed at packing carries the
// parcel's return QR. A buyer who asked for nothing online drops the
// parcel at the counter: the scan starts the return of every unit
// (reason OTHER) and receives it, wallet credited once; a second scan is
// ALREADY_RECEIVED. At a hub, offline, the same QR of another parcel is
// taken in once and central starts and receives its return once. A
// forged one is refused.
func TestParcelLabelReturnQR(t *testing.T) {
	p := startPickupPair(t, "sqlite")
	c, h := p.central, p.hub
	_, fid, pass, _ := p.pickupAt(t, 0, "counter")
	ret := parcelReturnQR(t, c, fid, "label")
	if r := collect(t, c, c.StaffToken, pass, "hand-over"); r.Code() != "" {
		t.Fatalf("collect: %+v", r.Errors)
	}
	var out struct {
		ReceiveReturn struct {
			Return struct {
				ID, Status, Reason string
				Units              int
				Refunded           struct{ Amount int }
			}
		}
	}
	c.Do(t, c.StaffToken, `mutation($i: ReceiveReturnInput!) { receiveReturn(input: $i) { return { id status reason units refunded { amount } } } }`,
		receiveVars(ret, centralID(c), "desk-1")).Decode(t, &out)
	if r := out.ReceiveReturn.Return; r.Status != "RECEIVED" || r.Reason != "OTHER" || r.Units != 1 || r.Refunded.Amount != 1500 {
		t.Fatalf("the label's return at the desk: %+v", r)
	}
	wantCode(t, receive(t, c, c.StaffToken, ret, "desk-2"), "ALREADY_RECEIVED")
	wantCode(t, receive(t, c, c.StaffToken, ret[:len(ret)-4]+"AAAA", "desk-forged"), "BAD_USER_INPUT")
	if b, n := balance(t, c, p.buyer), refundEntries(t, c); b != 1500 || n != 1 {
		t.Fatalf("balance %d, %d refund entries; want 1500 and 1", b, n)
	}

	// At the hub, offline.
	_, fid2, pass2, _ := p.pickupAt(t, 0, "hub")
	ret2 := parcelReturnQR(t, c, fid2, "label-2")
	if r := collect(t, c, c.StaffToken, pass2, "hand-over-2"); r.Code() != "" {
		t.Fatalf("collect: %+v", r.Errors)
	}
	p.setLink(t, false)
	var a receivedAtHub
	hubReceive(t, h, ret2, "hub-1").Decode(t, &a)
	if hd := a.ReceiveReturn.HubDropoff; hd.State != "QUEUED" || hd.ReturnID != nil || hd.FulfillmentID == nil || *hd.FulfillmentID != gid.Encode(fid2) ||
		a.ReceiveReturn.Return != nil {
		t.Fatalf("the label's drop-off at the hub: %+v, return %+v", hd, a.ReceiveReturn.Return)
	}
	wantCode(t, hubReceive(t, h, ret2, "hub-2"), "ALREADY_RECEIVED")
	wantCode(t, hubReceive(t, h, ret2[:len(ret2)-4]+"AAAA", "hub-forged"), "BAD_USER_INPUT")
	p.setLink(t, true)
	waitFor(t, "the drop-off delivered", func() bool {
		q, _ := h.Sales.Queue(context.Background())
		return q.Depth == 0
	})
	rs := c.Client.OrderReturn.Query().Where(orderreturn.FulfillmentID(fid2)).AllX(sysCtx())
	if len(rs) != 1 || rs[0].Status != orderreturn.StatusRECEIVED || rs[0].ReceivedBy != "hub:fest" || rs[0].Reason != orderreturn.ReasonOTHER {
		t.Fatalf("central's returns of the hub's parcel: %v", rs)
	}
	if b, n := balance(t, c, p.buyer), refundEntries(t, c); b != 3000 || n != 2 {
		t.Fatalf("balance %d, %d refund entries; want 3000 and 2", b, n)
	}
}

// TestRace_labelReturnDropoff: clerks scanning one parcel label's return
// QR at once, each with a key: one return is started and received, the
// rest ALREADY_RECEIVED; the wallet is credited once.
func TestRace_labelReturnDropoff(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			p := startPickupPair(t, d)
			c, cl := p.central, raceClient()
			_, fid, pass, _ := p.pickupAt(t, 0, "race")
			const q = `mutation($i: PrintFulfillmentLabelInput!) { printFulfillmentLabel(input: $i) { returnQr } }`
			var l struct{ PrintFulfillmentLabel struct{ ReturnQR string } }
			c.Do(t, c.StaffToken, q, map[string]any{"i": map[string]any{"fulfillmentId": gid.Encode(fid), "packagingVariant": "bag",
				"format": "ZPL", "idempotencyKey": "l"}}).Decode(t, &l)
			if r := collect(t, c, c.StaffToken, pass, "hand-over"); r.Code() != "" {
				t.Fatalf("collect: %+v", r.Errors)
			}
			rs := raceAll(raceN, func(i int) graphtest.Response {
				return postWith(t, cl, c.URL, c.StaffToken, receiveReturnMutation, receiveVars(l.PrintFulfillmentLabel.ReturnQR, centralID(c), fmt.Sprint("scan-", i)))
			})
			if got := codeCounts(rs); got[""] != 1 || got["ALREADY_RECEIVED"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 drop-off and %d ALREADY_RECEIVED", got, raceN-1)
			}
			if n := c.Client.OrderReturn.Query().Where(orderreturn.FulfillmentID(fid)).CountX(sysCtx()); n != 1 {
				t.Fatalf("%d returns of the parcel, want 1", n)
			}
			if b, n := balance(t, c, p.buyer), refundEntries(t, c); b != 1500 || n != 1 {
				t.Fatalf("balance %d, %d refund entries; want 1500 and 1", b, n)
			}
		})
	}
}
