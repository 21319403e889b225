package fulfillment

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/viewer"
)

// KindLabel is the signed-code kind of a parcel or pickup-bag label.
const KindLabel = "label"

// LabelCode is what a label's QR code carries, signed by central: the
// fulfilment, the node that ships it, its SLA deadline and the packaging
// variant — so a scanner at a locker or a hub reads the parcel's state
// without a lookup, and nobody can print a label for a parcel that is not.
type LabelCode struct {
	Kind          string `json:"k"` // "label"
	FulfillmentID int    `json:"f"`
	OrderID       int    `json:"o"`
	Node          string `json:"n,omitempty"` // the location code that ships or holds it
	Due           int64  `json:"d,omitempty"` // the SLA deadline, Unix seconds
	Packaging     string `json:"p,omitempty"`
}

// Label is everything printed on a label.
type Label struct {
	Fulfillment *ent.Fulfillment
	OrderNumber string
	Node        string
	Due         *time.Time
	Packaging   string
	// Code is the signed label code; QR is what the QR code encodes (the
	// console's URL for it when the shop has a public URL, else Code).
	Code, QR string
}

// Scan is what a label scan says happened to the parcel.
type Scan string

// The scans a label knows, and the state each moves the fulfilment to.
const (
	ScanPacked     Scan = "PACKED"
	ScanHandedOver Scan = "HANDED_OVER" // to the courier
	ScanAtPoint    Scan = "AT_POINT"    // on the pickup point's shelf or in the locker
	ScanCollected  Scan = "COLLECTED"
	ScanDelivered  Scan = "DELIVERED"
	ScanReturned   Scan = "RETURNED" // came back: recorded, the return itself is the returns desk's
)

var scanMoves = map[Scan]Status{
	ScanPacked:     fulfillment.StatusPACKED,
	ScanHandedOver: fulfillment.StatusHANDED_TO_COURIER,
	ScanAtPoint:    fulfillment.StatusREADY_FOR_PICKUP,
	ScanCollected:  fulfillment.StatusCOLLECTED,
	ScanDelivered:  fulfillment.StatusDELIVERED,
}

// PrintLabel records that fulfilment id is labelled and packed in
// packaging (kept for return rates by packaging variant) and returns the
// label to print. Idempotent by key; the packaging can be set while the
// parcel has not left (a relabel before handover replaces it).
func (s *Service) PrintLabel(ctx context.Context, id int, packaging, key string) (*Label, error) {
	if err := checkout.RequireStaffOrHub(ctx); err != nil {
		return nil, err
	}
	packaging = strings.TrimSpace(packaging)
	if len(packaging) > 40 {
		return nil, checkout.BadInput("packaging", "at most 40 characters")
	}
	req := struct {
		ID        int
		Packaging string
	}{id, packaging}
	fid, err := txn.Idempotent(ctx, s.db, "printFulfillmentLabel", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		f, err := tx.Fulfillment.Get(sys, id)
		if err != nil {
			return 0, checkout.NotFoundAs(err, "fulfillment")
		}
		n, err := tx.Fulfillment.Update().Where(fulfillment.ID(id), fulfillment.StatusIn(
			fulfillment.StatusUNFULFILLED, fulfillment.StatusPICKING, fulfillment.StatusPACKED,
			fulfillment.StatusREADY_FOR_PICKUP, fulfillment.StatusREROUTED)).
			SetPackagingVariant(packaging).SetUpdatedAt(s.now().UTC()).Save(sys)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, checkout.BadInput("fulfillmentId", "order %d is %s: its label can no longer change", f.OrderID, f.Status)
		}
		s.AfterCommit(tx, checkout.FulfillmentTopic(id))
		return id, s.event(ctx, tx, f, string(f.Status), string(f.Status), "label printed: "+packaging, "LABEL")
	})
	if err != nil {
		return nil, err
	}
	return s.Label(ctx, fid)
}

// Label is fulfilment id's label as it stands.
func (s *Service) Label(ctx context.Context, id int) (*Label, error) {
	if err := checkout.RequireStaffOrHub(ctx); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	f, err := s.db.Fulfillment.Query().Where(fulfillment.ID(id)).WithOrder().Only(sys)
	if err != nil {
		return nil, checkout.NotFoundAs(err, "fulfillment")
	}
	l := &Label{Fulfillment: f, Due: f.DueAt, Packaging: f.PackagingVariant}
	if o := f.Edges.Order; o != nil {
		l.OrderNumber = o.Number
	}
	if f.LocationID != nil {
		if loc, err := s.db.Location.Get(sys, *f.LocationID); err == nil {
			l.Node = loc.Code
		}
	}
	if s.signer == nil {
		return nil, errors.New("fulfillment: labels need the shop's signing key")
	}
	c := LabelCode{Kind: KindLabel, FulfillmentID: f.ID, OrderID: f.OrderID, Node: l.Node, Packaging: l.Packaging}
	if f.DueAt != nil {
		c.Due = f.DueAt.Unix()
	}
	l.Code = s.signer.Sign(c)
	l.QR = l.Code
	if s.cfg.LabelURL != "" {
		l.QR = strings.TrimRight(s.cfg.LabelURL, "/") + "/l/" + l.Code
	}
	return l, nil
}

// ScanLabel applies a scan of a label (or of a pickup pass, or a typed
// fallback code): each scan is one conditional transition recorded as an
// event with the scan's name and who scanned. A RETURNED scan moves
// nothing and is recorded only. Idempotent by key.
func (s *Service) ScanLabel(ctx context.Context, code string, scan Scan, key string) (*ent.Fulfillment, error) {
	if err := checkout.RequireCounter(ctx); err != nil {
		return nil, err
	}
	to, moves := scanMoves[scan]
	if !moves && scan != ScanReturned {
		return nil, checkout.BadInput("scan", "unknown scan %q", scan)
	}
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 4096 {
		return nil, checkout.BadInput("code", "scan the label or type its code")
	}
	req := struct {
		Code string
		Scan Scan
	}{code, scan}
	fid, err := txn.Idempotent(ctx, s.db, "scanLabel", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		f, err := s.find(viewer.SystemContext(ctx), tx, code)
		if err != nil {
			return 0, err
		}
		if err := clerkAt(ctx, tx, f); err != nil {
			return 0, err
		}
		if !moves {
			s.AfterCommit(tx, checkout.FulfillmentTopic(f.ID))
			return f.ID, s.event(ctx, tx, f, string(f.Status), string(f.Status), "scanned "+string(scan), string(scan))
		}
		if (to == fulfillment.StatusCOLLECTED || to == fulfillment.StatusREADY_FOR_PICKUP) && f.Method != fulfillment.MethodPICKUP {
			return 0, checkout.BadInput("scan", "order %d is not a pickup", f.OrderID)
		}
		if (to == fulfillment.StatusHANDED_TO_COURIER || to == fulfillment.StatusDELIVERED) && f.Method == fulfillment.MethodPICKUP {
			return 0, checkout.BadInput("scan", "order %d is a pickup: hand it over at the counter", f.OrderID)
		}
		return s.move(ctx, tx, f.ID, to, "", string(scan))
	})
	if err != nil {
		return nil, err
	}
	return s.db.Fulfillment.Get(viewer.SystemContext(ctx), fid)
}

// byLabel is the fulfilment a verified label code names.
func (s *Service) byLabel(ctx context.Context, tx *ent.Tx, l LabelCode) (*ent.Fulfillment, error) {
	f, err := tx.Fulfillment.Get(ctx, l.FulfillmentID)
	if err != nil || f.OrderID != l.OrderID {
		return nil, checkout.BadInput("code", "this label is not valid (damaged or not from this shop)")
	}
	return f, nil
}
