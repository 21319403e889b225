package graph_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/hardware/hardwaretest"
)

const labelMutation = `mutation($i: PrintFulfillmentLabelInput!) { printFulfillmentLabel(input: $i) {
  format contentType data qr fulfillment { id status packagingVariant } } }`

const scanMutation = `mutation($i: ScanLabelInput!) { scanLabel(input: $i) { fulfillment { id status late events { to actor scan } } } }`

type labelOut struct {
	PrintFulfillmentLabel struct {
		Format, ContentType, Data, QR string
		Fulfillment                   struct{ ID, Status, PackagingVariant string }
	}
}

func printLabel(t testing.TB, e *graphtest.Env, tok, fid, packaging, format, key string) graphtest.Response {
	t.Helper()
	return e.Do(t, tok, labelMutation, map[string]any{"i": map[string]any{
		"fulfillmentId": fid, "packagingVariant": packaging, "format": format, "idempotencyKey": key}})
}

func scanLabel(t testing.TB, e *graphtest.Env, tok, code, scan, key string) graphtest.Response {
	t.Helper()
	return e.Do(t, tok, scanMutation, map[string]any{"i": map[string]any{"code": code, "scan": scan, "idempotencyKey": key}})
}

// TestLabelsAndScans: a pickup bag's label renders as ZPL and as a PDF
// whose QR code, read back by an independent renderer, is the signed label
// code; each scan of it moves the fulfilment one step and is recorded with
// the scan's name and who scanned; a forged label is refused.
func TestLabelsAndScans(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "fan@labels.example")
	orderID := paidOrder(t, e, tok, v, "label")
	fid := orderPickup(t, e, tok, orderID).Node.Fulfillment.ID

	wantCode(t, printLabel(t, e, tok, fid, "bag-S", "PDF", "buyer"), "FORBIDDEN")
	wantCode(t, printLabel(t, e, e.StaffToken, fid, strings.Repeat("x", 41), "PDF", "long"), "BAD_USER_INPUT")

	var zpl labelOut
	printLabel(t, e, e.StaffToken, fid, "bag-S", "ZPL", "zpl").Decode(t, &zpl)
	z := zpl.PrintFulfillmentLabel
	raw, _ := base64.StdEncoding.DecodeString(z.Data)
	if z.ContentType != "application/zpl" || !strings.Contains(string(raw), "^BQN") || !strings.Contains(string(raw), z.QR) ||
		!strings.Contains(z.QR, "M1.") || z.Fulfillment.PackagingVariant != "bag-S" {
		t.Fatalf("ZPL label: %+v\n%s", z, raw)
	}
	var pdf labelOut
	printLabel(t, e, e.StaffToken, fid, "bag-M", "PDF", "pdf").Decode(t, &pdf)
	p := pdf.PrintFulfillmentLabel
	doc, _ := base64.StdEncoding.DecodeString(p.Data)
	if p.ContentType != "application/pdf" || !strings.HasPrefix(string(doc), "%PDF-") || p.Fulfillment.PackagingVariant != "bag-M" {
		t.Fatalf("PDF label: %+v", p)
	}

	// A forged label and a buyer's scan are refused.
	wantCode(t, scanLabel(t, e, e.StaffToken, p.QR[:len(p.QR)-4]+"AAAA", "PACKED", "forged"), "BAD_USER_INPUT")
	wantCode(t, scanLabel(t, e, tok, p.QR, "PACKED", "buyer"), "FORBIDDEN")
	wantCode(t, scanLabel(t, e, e.StaffToken, p.QR, "HANDED_OVER", "courier"), "BAD_USER_INPUT") // a pickup

	type scanOut struct {
		ScanLabel struct {
			Fulfillment struct {
				Status string
				Late   bool
				Events []struct{ To, Actor, Scan string }
			}
		}
	}
	for i, step := range []struct{ scan, status string }{{"PACKED", "PACKED"}, {"AT_POINT", "READY_FOR_PICKUP"},
		{"RETURNED", "READY_FOR_PICKUP"}, {"COLLECTED", "COLLECTED"}} {
		var out scanOut
		scanLabel(t, e, e.StaffToken, "https://shop.example/l/"+p.QR, step.scan, fmt.Sprint("scan-", i)).Decode(t, &out)
		f := out.ScanLabel.Fulfillment
		last := f.Events[len(f.Events)-1]
		if f.Status != step.status || last.Scan != step.scan || last.Actor != "STAFF" || last.To != step.status || f.Late {
			t.Fatalf("after %s: %+v", step.scan, f)
		}
	}
	wantCode(t, scanLabel(t, e, e.StaffToken, p.QR, "COLLECTED", "again"), "ALREADY_COLLECTED")
	wantCode(t, printLabel(t, e, e.StaffToken, fid, "bag-L", "PDF", "late"), "BAD_USER_INPUT")

	// The PDF's QR code, rendered by poppler and read back, is the code
	// (beside the parcel's return QR).
	if got := hardwaretest.DecodePDFQRs(t, doc); !slices.Contains(got, p.QR) || len(got) != 2 {
		t.Fatalf("the PDF's QR codes read %q, want %q and the return QR", got, p.QR)
	}
}

// TestRace_printFulfillmentLabel: concurrent prints of one label record
// one packaging variant: with one key all see the first answer; with a
// key each, every print succeeds and the variant is one of those sent.
func TestRace_printFulfillmentLabel(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 10, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@race-label.example")
			fid := orderPickup(t, e, tok, paidOrder(t, e, tok, v, "label")).Node.Fulfillment.ID
			do := func(pack, key string) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, labelMutation, map[string]any{"i": map[string]any{
					"fulfillmentId": fid, "packagingVariant": pack, "format": "ZPL", "idempotencyKey": key}})
			}
			allSame(t, raceAll(raceN, func(i int) graphtest.Response { return do("box-S", "print") }))
			rs := raceAll(raceN, func(i int) graphtest.Response { return do(fmt.Sprint("box-", i), fmt.Sprint("print-", i)) })
			if got := codeCounts(rs); got[""] != raceN {
				t.Fatalf("outcomes %v, want %d prints", got, raceN)
			}
		})
	}
}

// TestRace_scanLabel: couriers scanning one parcel at once move it once:
// with one key all see the first answer; with a key each, one PACKED and
// the rest refused (PACKED cannot follow PACKED).
func TestRace_scanLabel(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			v := newVariant(t, e, 10, 1500, "EUR")
			tok, _ := e.SignUp(t, "fan@race-scan.example")
			code := func(key string) string {
				fid := orderPickup(t, e, tok, paidOrder(t, e, tok, v, key)).Node.Fulfillment.ID
				var out labelOut
				printLabel(t, e, e.StaffToken, fid, "bag", "ZPL", "l-"+key).Decode(t, &out)
				return out.PrintFulfillmentLabel.QR
			}
			do := func(code, key string) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, scanMutation, map[string]any{"i": map[string]any{
					"code": code, "scan": "PACKED", "idempotencyKey": key}})
			}
			one := code("same")
			allSame(t, raceAll(raceN, func(int) graphtest.Response { return do(one, "scan") }))
			each := code("each")
			rs := raceAll(raceN, func(i int) graphtest.Response { return do(each, fmt.Sprint("scan-", i)) })
			if got := codeCounts(rs); got[""] != 1 || got["BAD_USER_INPUT"] != raceN-1 {
				t.Fatalf("outcomes %v, want 1 PACKED and %d BAD_USER_INPUT", got, raceN-1)
			}
		})
	}
}

// TestFulfillmentLiveAndLate: a staff screen subscribed to fulfilments sees
// each scan; an order's page (orderUpdated) carries its fulfilment's
// state; a pickup nobody collects reaches the late list once the SLA
// sweep passes its deadline (7 days by default), and only staff see it.
func TestFulfillmentLiveAndLate(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 1500, "EUR")
	tok, _ := e.SignUp(t, "fan@live-late.example")
	orderID := paidOrder(t, e, tok, v, "live")
	fid := orderPickup(t, e, tok, orderID).Node.Fulfillment.ID

	staff := dialWS(t, e, e.StaffToken)
	staff.subscribe("f", `subscription($ids: [ID!]!) { fulfillmentUpdated(fulfillmentIds: $ids) { id status late } }`,
		map[string]any{"ids": []string{fid}})
	if got := staff.next("f"); !strings.Contains(got, `"status":"UNFULFILLED"`) {
		t.Fatalf("first value: %s", got)
	}
	buyer := dialWS(t, e, tok)
	buyer.subscribe("o", `subscription($id: ID!) { orderUpdated(orderId: $id) { fulfillment { status } } }`, map[string]any{"id": orderID})
	if got := buyer.next("o"); !strings.Contains(got, `"status":"UNFULFILLED"`) {
		t.Fatalf("order's first value: %s", got)
	}
	buyer.subscribe("no", `subscription($ids: [ID!]!) { fulfillmentUpdated(fulfillmentIds: $ids) { id } }`, map[string]any{"ids": []string{fid}})
	if code := buyer.refusal("no"); code != "FORBIDDEN" {
		t.Fatalf("a buyer watching the staff stream: %s", code)
	}
	var l labelOut
	printLabel(t, e, e.StaffToken, fid, "bag", "ZPL", "l").Decode(t, &l)
	if got := staff.next("f"); !strings.Contains(got, `"status":"UNFULFILLED"`) {
		t.Fatalf("after the label: %s", got)
	}
	scanLabel(t, e, e.StaffToken, l.PrintFulfillmentLabel.QR, "PACKED", "p").Decode(t, &struct{}{})
	if got := staff.next("f"); !strings.Contains(got, `"status":"PACKED"`) {
		t.Fatalf("after the scan: %s", got)
	}
	if got := buyer.next("o"); !strings.Contains(got, `"status":"PACKED"`) {
		t.Fatalf("the order page after the scan: %s", got)
	}

	lateQuery := `{ lateFulfillments { id status late escalatedAt } }`
	var late struct {
		LateFulfillments []struct {
			ID          string
			Late        bool
			EscalatedAt *string
		}
	}
	e.Do(t, e.StaffToken, lateQuery, nil).Decode(t, &late)
	if len(late.LateFulfillments) != 0 {
		t.Fatalf("late before its deadline: %+v", late)
	}
	wantCode(t, e.Do(t, tok, lateQuery, nil), "FORBIDDEN")
	e.Clock.Advance(7*24*time.Hour + time.Minute)
	if _, err := e.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Do(t, e.StaffToken, lateQuery, nil).Decode(t, &late)
	if len(late.LateFulfillments) != 1 || late.LateFulfillments[0].ID != fid || !late.LateFulfillments[0].Late ||
		late.LateFulfillments[0].EscalatedAt == nil {
		t.Fatalf("late list after the deadline: %+v", late)
	}
	if got := staff.next("f"); !strings.Contains(got, `"late":true`) {
		t.Fatalf("the staff screen after the escalation: %s", got)
	}
}
