package graph

import (
	"context"
	"errors"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/returns"
	"github.com/merchd/merchd/ent"
	entfulfillment "github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/orderreturn"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/model"
)

// allocationLines pairs SKUs with their variants (one query) and counts.
func (r *Resolver) allocationLines(ctx context.Context, skus []string, units func(i int) int) ([]*model.HubAllocationLine, error) {
	vs, err := r.Client.Variant.Query().Where(variant.SkuIn(skus...)).All(ctx)
	if err != nil {
		return nil, err
	}
	bySKU := make(map[string]int, len(vs))
	for i, v := range vs {
		bySKU[v.Sku] = i
	}
	out := make([]*model.HubAllocationLine, len(skus))
	for i, sku := range skus {
		out[i] = &model.HubAllocationLine{Sku: sku, Available: units(i)}
		if j, ok := bySKU[sku]; ok {
			out[i].Variant = vs[j]
		}
	}
	return out, nil
}

// tillCart is the hub till's open cart.
func (r *Resolver) tillCart(ctx context.Context) (*ent.Cart, error) {
	till, err := r.Sales.TillContext(ctx)
	if err != nil {
		return nil, err
	}
	return r.Carts.Cart(till)
}

// central is the hub's link to central; an error on central itself.
func (r *Resolver) central() (hubs.CentralLink, error) {
	if r.Central == nil {
		return nil, &checkout.InputError{Msg: "this is central: use startTerminalPayment"}
	}
	return r.Central, nil
}

// printerError is what the clerk reads of a printer's failure on a sale
// that is recorded regardless: a problem they can fix (out of paper) in
// its fixed text, anything else as INTERNAL under a logged id. The
// driver's own words (the printer's address, the network's) are logged,
// never copied into the payload.
func (r *Resolver) printerError(ctx context.Context, saleID string, err error) *string {
	var pp *hubs.PrinterProblem
	if errors.As(err, &pp) {
		if r.log != nil {
			r.log.WarnContext(ctx, "hub printer", "sale_id", saleID, "problem", pp.Msg, "error", pp.Cause)
		}
		return &pp.Msg
	}
	msg, _ := r.publicError(ctx, err)
	return &msg
}

func phonePaymentModel(p *hubs.PhonePaymentState) (*model.HubPhonePayment, error) {
	out := &model.HubPhonePayment{Status: model.HubPhonePaymentStatus(p.Status), Hub: p.Hub, Amount: &ent.Money{Amount: p.Amount, Currency: p.Currency}}
	if p.Receipt != "" {
		png, err := qrPNG(p.Receipt)
		if err != nil {
			return nil, err
		}
		out.Receipt, out.ReceiptQRPng = &p.Receipt, &png
	}
	return out, nil
}

func terminalPayload(p hubs.TerminalPayment) *model.TerminalPaymentPayload {
	return &model.TerminalPaymentPayload{SaleID: p.Request.SaleID, PaymentIntentID: p.PaymentIntentID, Reader: readerModel(p.Reader),
		Amount: &ent.Money{Amount: p.Request.Amount, Currency: p.Request.Currency}}
}

func readerModel(s hubs.ReaderState) *model.TerminalReader {
	opt := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	return &model.TerminalReader{ID: s.ID, Label: s.Label, Status: s.Status, Action: opt(s.Action), ActionStatus: opt(s.ActionStatus),
		PaymentIntentID: opt(s.PaymentIntentID), FailureCode: opt(s.FailureCode), FailureMessage: opt(s.FailureMessage)}
}

// sellLines is what the clerk rang up, as checkout takes it.
func sellLines(in []*model.HubSellLineInput) []hubs.SellLine {
	out := make([]hubs.SellLine, len(in))
	for i, l := range in {
		out[i] = hubs.SellLine{VariantID: l.VariantID, Quantity: l.Quantity}
	}
	return out
}

// paymentLines shows a sale's lines.
func paymentLines(in []hubs.SaleLine) []*model.HubPaymentLine {
	out := make([]*model.HubPaymentLine, len(in))
	for i, l := range in {
		out[i] = &model.HubPaymentLine{Sku: l.SKU, Quantity: l.Quantity, UnitAmount: int(l.UnitAmount)}
	}
	return out
}

// notAHub stands in for a hub's selling side on central: every call is
// refused (after the caller's staff check, as at a hub).
type notAHub struct{}

var errNotAHub = &checkout.InputError{Field: "hub", Msg: "this server is not a hub; run `merchd edge`"}

func (notAHub) refuse(ctx context.Context) error {
	if err := checkout.RequireStaff(ctx); err != nil {
		return err
	}
	return errNotAHub
}

func (notAHub) HubCode() string { return "" }
func (n notAHub) Sell(ctx context.Context, _ hubs.SaleInput) (hubs.RemoteSale, error) {
	return hubs.RemoteSale{}, n.refuse(ctx)
}
func (n notAHub) TillContext(ctx context.Context) (context.Context, error) { return nil, n.refuse(ctx) }
func (n notAHub) ScanToTill(ctx context.Context, _ *carts.Service, _, _ string) (int, error) {
	return 0, n.refuse(ctx)
}
func (n notAHub) Close(ctx context.Context, _ string) (hubs.RemoteReturn, error) {
	return hubs.RemoteReturn{}, n.refuse(ctx)
}
func (n notAHub) PaymentRequest(ctx context.Context, _ []hubs.SellLine) (hubs.PaymentRequest, error) {
	return hubs.PaymentRequest{}, n.refuse(ctx)
}
func (n notAHub) Queue(ctx context.Context) (hubs.HubQueue, error) {
	return hubs.HubQueue{}, n.refuse(ctx)
}
func (n notAHub) OfflineWallet(ctx context.Context, _ string) (hubs.OfflineWallet, error) {
	return hubs.OfflineWallet{}, n.refuse(ctx)
}

// fulfil is the fulfilment service, or a refusal at a hub (which hands
// over at its till, not by order).
func (r *Resolver) fulfil() (*fulfillment.Service, error) {
	if r.Fulfil == nil {
		return nil, &checkout.InputError{Field: "code", Msg: "orders are handed over on central; at a hub, sell at the till"}
	}
	return r.Fulfil, nil
}

// hubFulfillment is a pickup handed over at this hub, as the hub knows its
// fulfilment (its order and events are on central).
func hubFulfillment(hv fulfillment.HubHandover) *ent.Fulfillment {
	at := hv.CollectedAt
	return &ent.Fulfillment{ID: hv.FulfillmentID, OrderID: hv.OrderID, Method: entfulfillment.MethodPICKUP,
		Status: entfulfillment.StatusCOLLECTED, PickupCode: hv.Code, CollectedAt: &at, CreatedAt: at, UpdatedAt: at}
}

// handoverModel is a handover at this hub as the API shows it.
func handoverModel(hv fulfillment.HubHandover) *model.HubHandover {
	m := &model.HubHandover{CollectionID: hv.CollectionID, FulfillmentID: hv.FulfillmentID, OrderID: hv.OrderID,
		PickupCode: hv.Code, CollectedAt: hv.CollectedAt, State: model.HubHandoverState(hv.State)}
	if hv.Note != "" {
		m.Note = &hv.Note
	}
	return m
}

// returns is the returns service, or a refusal at a hub (returns are
// central's; a hub scans drop-offs through central).
func (r *Resolver) returns() (*returns.Service, error) {
	if r.Returns == nil {
		return nil, &checkout.InputError{Field: "code", Msg: "returns are handled on central"}
	}
	return r.Returns, nil
}

// hubReturn is a drop-off at this hub as the hub's view of its return:
// nil for a parcel label's return QR (central finds or starts the return).
func hubReturn(d returns.HubDropoff) *ent.OrderReturn {
	if d.ReturnID == 0 {
		return nil
	}
	at := d.ScannedAt
	return &ent.OrderReturn{ID: d.ReturnID, OrderID: d.OrderID, FulfillmentID: nilIfZero(d.FulfillmentID),
		Status: orderreturn.StatusRECEIVED, ReceivedAt: &at, CreatedAt: at, UpdatedAt: at}
}

// dropoffModel is a drop-off at this hub as the API shows it.
func dropoffModel(d returns.HubDropoff) *model.HubDropoff {
	return &model.HubDropoff{DropoffID: d.DropoffID, ReturnID: nilIfZero(d.ReturnID), FulfillmentID: nilIfZero(d.FulfillmentID),
		OrderID: d.OrderID, ScannedAt: d.ScannedAt, State: model.HubDropoffState(d.State)}
}

func nilIfZero(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// tillWorker lets through who may work a hub's till: owners, staff and
// hub tokens, and clerks whose location is this hub.
func (r *Resolver) tillWorker(ctx context.Context) error {
	if v := viewer.FromContext(ctx); v.Role == viewer.Staff && v.Rank == viewer.RankClerk {
		return checkout.AtLocation(ctx, r.Sales.HubCode())
	}
	return checkout.RequireStaffOrHub(ctx)
}
