package graph

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/ent"
	entfulfillment "github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/graph/model"
	"github.com/merchd/merchd/hardware"
)

// isLate: open, and past its deadline or escalated by the SLA sweep.
func isLate(f *ent.Fulfillment, now time.Time) bool {
	switch f.Status {
	case entfulfillment.StatusCOLLECTED, entfulfillment.StatusDELIVERED, entfulfillment.StatusCANCELED, entfulfillment.StatusFAILED:
		return false
	}
	return f.EscalatedAt != nil || (f.DueAt != nil && !now.Before(*f.DueAt))
}

// renderLabel renders l as a label file in format, with the parcel's
// return QR retQR ("" for none).
func renderLabel(l *fulfillment.Label, retQR string, format model.LabelFormat) (*model.PrintFulfillmentLabelPayload, error) {
	f := l.Fulfillment
	p := hardware.ParcelLabel{OrderNumber: l.OrderNumber, Method: string(f.Method), Node: l.Node,
		Packaging: l.Packaging, QR: l.QR, ReturnQR: retQR}
	if l.Due != nil {
		p.Due = *l.Due
	}
	if f.Method == entfulfillment.MethodPICKUP {
		p.PickupCode = f.PickupCode
	}
	out := &model.PrintFulfillmentLabelPayload{Fulfillment: f, Format: format, QR: l.QR}
	if retQR != "" {
		out.ReturnQR = &retQR
	}
	switch format {
	case model.LabelFormatZpl:
		out.ContentType, out.Data = "application/zpl", base64.StdEncoding.EncodeToString([]byte(p.ZPL()))
	default:
		b, err := p.PDF()
		if err != nil {
			return nil, err
		}
		out.ContentType, out.Data = "application/pdf", base64.StdEncoding.EncodeToString(b)
	}
	return out, nil
}

func labelScan(s model.LabelScan) fulfillment.Scan { return fulfillment.Scan(s) }

// pickupPass is f's pass while it waits to be picked up (nil otherwise).
func (r *Resolver) pickupPass(f *ent.Fulfillment) *string {
	if r.Fulfil == nil {
		return nil
	}
	if f.Status == entfulfillment.StatusCOLLECTED || f.Status == entfulfillment.StatusCANCELED || f.Method != entfulfillment.MethodPICKUP {
		return nil
	}
	pass := r.Fulfil.Pass(f)
	return &pass
}

// splitFulfillment splits the input's lines off its fulfilment.
func (r *Resolver) splitFulfillment(ctx context.Context, input model.SplitFulfillmentInput) (*model.SplitFulfillmentPayload, error) {
	svc, err := r.fulfil()
	if err != nil {
		return nil, err
	}
	lines := make([]fulfillment.LineQty, len(input.Lines))
	for i, l := range input.Lines {
		lines[i] = fulfillment.LineQty{OrderLineID: l.OrderLineID, Quantity: l.Quantity}
	}
	split, err := svc.Split(ctx, input.FulfillmentID, lines, deref(input.Note), input.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	f, err := r.Client.Fulfillment.Get(ctx, *split.SplitFrom)
	if err != nil {
		return nil, err
	}
	return &model.SplitFulfillmentPayload{Fulfillment: f, Split: split}, nil
}
