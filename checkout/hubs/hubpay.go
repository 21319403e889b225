package hubs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/hubpayment"
	"github.com/merchd/merchd/ent/hubsale"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/predicate"
	"github.com/merchd/merchd/ent/readerbinding"
	"github.com/merchd/merchd/ent/stafftoken"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
)

// A phone-paid hub sale: the hub shows a QR code of a PaymentRequest (its
// order, priced by the hub); the buyer opens it on central over their own
// mobile data and pays by card; once Stripe confirms, central signs a
// HubReceipt the page shows and the hub checks offline before handing
// the goods over. The sale id joins the three, so one payment buys once.

// PaymentRequest is what a hub's QR code carries to central's pay page.
//
// Central takes a request only if the hub signed it: Sig is
// HMAC-SHA256 over the request's JSON (Sig empty) with a key derived from
// the hub's API token (RequestKey). Central holds each token's sha256, so
// it derives the same key for every live token of the hub (or full staff
// token) without storing another secret; revoking the token revokes its
// requests. The hub signs offline, so a phone payment works without the
// hub's link, and nobody without the hub's token can have central create
// a PaymentIntent or pre-claim a sale id. (A leak of central's database
// would let one forge requests — it would hold every other secret too.)
type PaymentRequest struct {
	SaleID   string     `json:"s"`
	Hub      string     `json:"h"`
	Amount   int64      `json:"a"`
	Currency string     `json:"c"`
	Lines    []SaleLine `json:"l"`
	Sig      string     `json:"g,omitempty"`
}

// RequestKey is the key a hub holding token signs payment requests with.
func RequestKey(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return requestKeyFromHash(sum[:])
}

// requestKeyFromHash derives the request key from a token's stored hash.
func requestKeyFromHash(tokenHash []byte) []byte {
	m := hmac.New(sha256.New, tokenHash)
	m.Write([]byte("merchd hub payment request v1"))
	return m.Sum(nil)
}

func (r PaymentRequest) mac(key []byte) []byte {
	r.Sig = ""
	b, _ := json.Marshal(r)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(nil)
}

// SignWith returns r signed with key (RequestKey of the hub's token).
func (r PaymentRequest) SignWith(key []byte) PaymentRequest {
	r.Sig = base64.RawURLEncoding.EncodeToString(r.mac(key))
	return r
}

// signedBy reports whether key signed r.
func (r PaymentRequest) signedBy(key []byte) bool {
	sig, err := base64.RawURLEncoding.DecodeString(r.Sig)
	return err == nil && len(sig) == sha256.Size && hmac.Equal(sig, r.mac(key))
}

// Encode is the request as it goes in the QR code's URL fragment.
func (r PaymentRequest) Encode() string {
	b, _ := json.Marshal(r)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errDamagedRequest is every refusal of a request's shape.
var errDamagedRequest = &checkout.InputError{Field: "request", Msg: "this payment link is damaged; scan the hub's QR code again"}

// DecodePaymentRequest reads a request from a pay page's URL fragment and
// checks its shape and arithmetic (not its signature: see verifyRequest).
func DecodePaymentRequest(s string) (PaymentRequest, error) {
	var r PaymentRequest
	if len(s) > 12<<10 {
		return PaymentRequest{}, errDamagedRequest
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "#"))
	if err != nil || len(b) > 8<<10 || json.Unmarshal(b, &r) != nil {
		return PaymentRequest{}, errDamagedRequest
	}
	if len(r.Lines) == 0 || len(r.Lines) > 50 {
		return PaymentRequest{}, errDamagedRequest
	}
	for _, l := range r.Lines {
		if l.Quantity < 1 || l.Quantity > 100 || l.UnitAmount < 0 || l.UnitAmount > checkout.MaxPrice || l.SKU == "" || len(l.SKU) > 100 {
			return PaymentRequest{}, errDamagedRequest
		}
	}
	sum, err := SumLines(r.Lines)
	if err != nil || r.SaleID == "" || len(r.SaleID) > 64 || !checkout.ValidHubCode(r.Hub) || !checkout.IsCurrencyCode(r.Currency) ||
		r.Amount < 1 || r.Amount != sum || len(r.Sig) > 100 {
		return PaymentRequest{}, errDamagedRequest
	}
	return r, nil
}

// verifyRequest checks, on central, that a live token of the request's
// hub (or a full staff token) signed it, and that it asks no more than
// central would: every SKU allocated to the hub in that quantity, no
// line above central's price.
func (h *Service) verifyRequest(ctx context.Context, r PaymentRequest) error {
	sys := viewer.SystemContext(ctx)
	// The hub's own tokens first, then full staff tokens (a hub run with
	// one); each query bounded.
	signed := false
	for _, scope := range []predicate.StaffToken{stafftoken.Hub(r.Hub), stafftoken.Or(stafftoken.HubIsNil(), stafftoken.Hub(""))} {
		toks, err := h.db.StaffToken.Query().Where(checkout.TokenInForce(h.now()), scope).Limit(200).All(sys)
		if err != nil {
			return err
		}
		for _, t := range toks {
			if r.signedBy(requestKeyFromHash(t.TokenHash)) {
				signed = true
				break
			}
		}
		if signed {
			break
		}
	}
	if !signed {
		return checkout.BadInput("request", "this payment link was not signed by hub %s; ask the hub for a new QR code", r.Hub)
	}
	hub, err := h.db.Location.Query().Where(location.Code(r.Hub), location.KindEQ(location.KindHUB)).OnlyID(sys)
	if err != nil {
		return checkout.NotFoundAs(err, "hub")
	}
	want := map[string]int{}
	for _, l := range r.Lines {
		want[l.SKU] += l.Quantity
	}
	for _, l := range r.Lines {
		v, err := h.db.Variant.Query().Where(variant.Sku(l.SKU)).Only(sys)
		if ent.IsNotFound(err) {
			return checkout.BadInput("request", "hub %s asks for %s, which central does not sell", r.Hub, l.SKU)
		} else if err != nil {
			return err
		}
		if v.Currency != r.Currency || l.UnitAmount > v.PriceAmount {
			return checkout.BadInput("request", "hub %s asks %s for %s, central's price is %s", r.Hub, checkout.FormatMoney(l.UnitAmount, r.Currency), l.SKU, checkout.FormatMoney(v.PriceAmount, v.Currency))
		}
		have, err := h.db.Stock.Query().Where(stock.VariantID(v.ID), stock.LocationID(hub)).Select(stock.FieldAvailable).Int(sys)
		if ent.IsNotFound(err) || (err == nil && have < want[l.SKU]) {
			return checkout.BadInput("request", "hub %s asks for %d × %s, beyond its allocation", r.Hub, want[l.SKU], l.SKU)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// PhonePayment is a started phone payment: confirm ClientSecret with Stripe.
type PhonePayment struct {
	PaymentIntentID, ClientSecret string
	Request                       PaymentRequest
}

// PayHubSale starts (or resumes) paying a hub's request by card, on
// central; anyone holding the QR code may pay it. One PaymentIntent per
// sale id, however often the page asks.
func (h *Service) PayHubSale(ctx context.Context, request string) (PhonePayment, error) {
	if h.pay == nil {
		return PhonePayment{}, &checkout.InputError{Field: "request", Msg: checkout.ErrPaymentsNotConfigured.Error()}
	}
	r, err := DecodePaymentRequest(request)
	if err != nil {
		return PhonePayment{}, err
	}
	if err := h.verifyRequest(ctx, r); err != nil {
		return PhonePayment{}, err
	}
	return h.startPayment(ctx, r, false)
}

// startPayment records the payment for a hub's request (once per sale id)
// and creates its PaymentIntent: for the buyer's phone, or (cardPresent)
// for a card reader at the hub.
func (h *Service) startPayment(ctx context.Context, r PaymentRequest, cardPresent bool) (PhonePayment, error) {
	sys := viewer.SystemContext(ctx)
	if _, err := h.db.Location.Query().Where(location.Code(r.Hub), location.KindEQ(location.KindHUB)).OnlyID(sys); err != nil {
		return PhonePayment{}, checkout.NotFoundAs(err, "hub")
	}
	err := h.db.HubPayment.Create().SetSaleID(r.SaleID).SetHub(r.Hub).SetLines(r.Lines).SetAmount(r.Amount).SetCurrency(r.Currency).
		OnConflictColumns(hubpayment.FieldSaleID).Ignore().Exec(sys)
	if err != nil {
		return PhonePayment{}, err
	}
	p, err := h.db.HubPayment.Query().Where(hubpayment.SaleID(r.SaleID)).Only(sys)
	if err != nil {
		return PhonePayment{}, err
	}
	if p.Hub != r.Hub || p.Amount != r.Amount || p.Currency != r.Currency {
		return PhonePayment{}, checkout.BadInput("request", "this sale is already being paid with another amount; ask the hub for a new QR code")
	}
	if p.Status == hubpayment.StatusSUCCEEDED {
		return PhonePayment{}, checkout.BadInput("request", "this sale is paid already")
	}
	key := "merchd-hub-sale-" + r.SaleID
	if cardPresent {
		key += "-card-present"
	}
	pi, err := h.pay.CreatePaymentIntent(ctx, checkout.PaymentIntentParams{Amount: r.Amount, Currency: r.Currency, Purpose: "hub",
		HubSaleID: r.SaleID, CardPresent: cardPresent, IdempotencyKey: key})
	if err != nil {
		return PhonePayment{}, err
	}
	if p.StripePaymentIntentID == nil {
		if err := h.db.HubPayment.UpdateOneID(p.ID).SetStripePaymentIntentID(pi.ID).Exec(sys); err != nil {
			return PhonePayment{}, err
		}
	} else if *p.StripePaymentIntentID != pi.ID {
		return PhonePayment{}, checkout.BadInput("request", "this sale is being paid another way; ask the hub for a new one")
	}
	return PhonePayment{PaymentIntentID: pi.ID, ClientSecret: pi.ClientSecret, Request: r}, nil
}

// Terminal drives the card readers at hubs (hardware.StripeTerminal).
type Terminal interface {
	Process(ctx context.Context, readerID, paymentIntentID string) (ReaderState, error)
	Cancel(ctx context.Context, readerID string) (ReaderState, error)
	Reader(ctx context.Context, readerID string) (ReaderState, error)
}

// ReaderState is a card reader and its current action.
type ReaderState struct {
	ID, Label, Status           string
	Action, ActionStatus        string
	PaymentIntentID             string
	FailureCode, FailureMessage string
}

// UseTerminal lets central drive card readers (Stripe Terminal).
func (h *Service) UseTerminal(t Terminal) { h.terminal = t }

// TerminalPayment is a card payment started on a hub's reader.
type TerminalPayment struct {
	Request         PaymentRequest
	PaymentIntentID string
	Reader          ReaderState
}

// StartTerminalPayment, on central, has a hub's card reader take payment
// for the hub's request (server-driven Stripe Terminal: central, holding
// the Stripe key, commands the reader). Once Stripe confirms, the sale's
// receipt is signed as for a phone payment. Needs the hub's link.
func (h *Service) StartTerminalPayment(ctx context.Context, request, readerID string) (TerminalPayment, error) {
	if err := h.readersReady(ctx); err != nil {
		return TerminalPayment{}, err
	}
	if readerID == "" || len(readerID) > 100 {
		return TerminalPayment{}, checkout.BadInput("readerId", "name the card reader (tmr_…)")
	}
	if err := h.readerOf(ctx, readerID); err != nil {
		return TerminalPayment{}, err
	}
	r, err := DecodePaymentRequest(request)
	if err != nil {
		return TerminalPayment{}, err
	}
	if err := checkout.RequireHub(ctx, r.Hub); err != nil {
		return TerminalPayment{}, err
	}
	if err := h.verifyRequest(ctx, r); err != nil {
		return TerminalPayment{}, err
	}
	p, err := h.startPayment(ctx, r, true)
	if err != nil {
		return TerminalPayment{}, err
	}
	st, err := h.terminal.Process(ctx, readerID, p.PaymentIntentID)
	if err != nil {
		return TerminalPayment{}, readerError(readerID, err)
	}
	return TerminalPayment{Request: r, PaymentIntentID: p.PaymentIntentID, Reader: st}, nil
}

// CancelTerminalPayment stops what a reader is doing (the buyer changed
// their mind); the sale stays unpaid.
func (h *Service) CancelTerminalPayment(ctx context.Context, readerID string) (ReaderState, error) {
	if err := h.readersReady(ctx); err != nil {
		return ReaderState{}, err
	}
	if err := h.readerOf(ctx, readerID); err != nil {
		return ReaderState{}, err
	}
	st, err := h.terminal.Cancel(ctx, readerID)
	return st, readerError(readerID, err)
}

// TerminalReader polls a card reader.
func (h *Service) TerminalReader(ctx context.Context, readerID string) (ReaderState, error) {
	if err := h.readersReady(ctx); err != nil {
		return ReaderState{}, err
	}
	if err := h.readerOf(ctx, readerID); err != nil {
		return ReaderState{}, err
	}
	st, err := h.terminal.Reader(ctx, readerID)
	return st, readerError(readerID, err)
}

// readersReady lets staff and hubs drive card readers where central has
// them (a hub only its own: readerOf).
func (h *Service) readersReady(ctx context.Context) error {
	if err := checkout.RequireStaffOrHub(ctx); err != nil {
		return err
	}
	if h.terminal == nil || h.pay == nil {
		return &checkout.InputError{Field: "readerId", Msg: "card readers are not configured on central (Stripe)"}
	}
	return nil
}

// readerOf refuses a hub's token a card reader not bound to its hub
// (bindTerminalReader); staff may use any reader.
func (h *Service) readerOf(ctx context.Context, readerID string) error {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.HubToken {
		return nil
	}
	b, err := h.db.ReaderBinding.Query().Where(readerbinding.ReaderID(readerID)).Only(viewer.SystemContext(ctx))
	switch {
	case ent.IsNotFound(err) || (err == nil && b.Hub != v.Hub):
		return fmt.Errorf("card reader %s is not bound to hub %s (staff bind it with bindTerminalReader): %w", readerID, v.Hub, checkout.ErrForbidden)
	case err != nil:
		return err
	}
	return nil
}

// ErrReaderBusy refuses a payment on a reader already running one. The
// Terminal driver returns it (or another checkout refusal) for what the
// clerk can act on; any other error is a failure of ours.
var ErrReaderBusy = &checkout.InputError{Field: "readerId", Msg: "the card reader is busy with another payment; cancel it first"}

// readerError is what a reader's failure tells the clerk (nil for none): a
// refusal as the driver wrote it; anything else (Stripe's answer, the
// network's) as a fixed text, the cause logged with the request.
func readerError(readerID string, err error) error {
	if err == nil {
		return nil
	}
	if _, refusal := checkout.CodeOf(err); refusal {
		return err
	}
	return &checkout.InputError{Field: "readerId", Msg: "card reader " + readerID + " did not take the request: check that it is on and online, or take cash, a wallet pass or a phone payment", Cause: err}
}

// ApplyPaymentEvent applies a Stripe event to a hub phone payment, if it
// is one (handled). Success is final; a failure after success changes
// nothing.
func (h *Service) ApplyPaymentEvent(ctx context.Context, tx *ent.Tx, ev checkout.PaymentEvent) (bool, error) {
	now := h.now()
	p, err := tx.HubPayment.Query().Where(hubpayment.StripePaymentIntentID(ev.PaymentIntentID)).Only(ctx)
	if ent.IsNotFound(err) && ev.HubSaleID != "" {
		// The event outran PayHubSale's update: find it by sale id.
		p, err = tx.HubPayment.Query().Where(hubpayment.SaleID(ev.HubSaleID), hubpayment.StripePaymentIntentIDIsNil()).Only(ctx)
		if err == nil {
			err = tx.HubPayment.UpdateOneID(p.ID).SetStripePaymentIntentID(ev.PaymentIntentID).Exec(ctx)
		}
	}
	if ent.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	switch ev.Type {
	case "payment_intent.succeeded":
		if ev.Amount != p.Amount || !strings.EqualFold(ev.Currency, p.Currency) {
			return true, fmt.Errorf("hub sale %s: Stripe confirmed %d %s, the sale is %d %s", p.SaleID, ev.Amount, ev.Currency, p.Amount, p.Currency)
		}
		// A late or redelivered success never undoes a refund.
		return true, tx.HubPayment.Update().Where(hubpayment.ID(p.ID), hubpayment.StatusIn(hubpayment.StatusPENDING, hubpayment.StatusFAILED)).
			SetStatus(hubpayment.StatusSUCCEEDED).SetPaidAt(now).Exec(ctx)
	default:
		return true, tx.HubPayment.Update().Where(hubpayment.ID(p.ID), hubpayment.StatusEQ(hubpayment.StatusPENDING)).
			SetStatus(hubpayment.StatusFAILED).Exec(ctx)
	}
}

// PhonePaymentState is a phone payment as the pay page sees it.
type PhonePaymentState struct {
	Status   string // PENDING, SUCCEEDED, FAILED
	Hub      string
	Amount   int64
	Currency string
	// Receipt, once paid: what the buyer shows the hub.
	Receipt string
}

// HubPaymentState reports a phone payment by sale id, with the signed
// receipt once Stripe confirmed it. The sale id (96 random bits, in the
// hub's QR code) is what entitles the asker.
func (h *Service) HubPaymentState(ctx context.Context, saleID string) (*PhonePaymentState, error) {
	if h.signer == nil {
		return nil, checkout.BadInput("saleId", "phone payments are kept by central, not by a hub")
	}
	p, err := h.db.HubPayment.Query().Where(hubpayment.SaleID(saleID)).Only(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	st := &PhonePaymentState{Status: p.Status.String(), Hub: p.Hub, Amount: p.Amount, Currency: p.Currency}
	if p.Status == hubpayment.StatusSUCCEEDED {
		st.Receipt = h.signer.Sign(HubReceipt{Kind: KindHubReceipt, SaleID: p.SaleID, Hub: p.Hub, Amount: p.Amount, Currency: p.Currency})
	}
	return st, nil
}

// phonePaid reports, in central's recording tx, why a QR or CARD hub sale
// cannot be recorded against a payment (conflict), or that its payment
// was refunded on central meanwhile (refunded: the goods left unpaid).
func phonePaid(ctx context.Context, tx *ent.Tx, s RemoteSale, total int64) (conflict string, refunded bool, err error) {
	p, err := tx.HubPayment.Query().Where(hubpayment.SaleID(s.SaleID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return "no phone or card payment for this sale on central", false, nil
	case err != nil:
		return "", false, err
	case p.Amount != total || p.Currency != s.Currency || p.Hub != s.Hub:
		return fmt.Sprintf("the payment was %s at hub %s, the sale %s at hub %s", checkout.FormatMoney(p.Amount, p.Currency), p.Hub, checkout.FormatMoney(total, s.Currency), s.Hub), false, nil
	case p.Status == hubpayment.StatusREFUNDED:
		return "", true, nil
	case p.Status != hubpayment.StatusSUCCEEDED:
		return fmt.Sprintf("the payment for this sale is %s", p.Status), false, nil
	}
	return "", false, nil
}

// claimPayment records, in the sale's tx, that the hub's sale used its
// payment; a refund racing it is then booked against the sale.
func (h *Service) claimPayment(ctx context.Context, tx *ent.Tx, s RemoteSale, total int64, refunded bool) (RecordResult, error) {
	if !refunded {
		n, err := tx.HubPayment.Update().Where(hubpayment.SaleID(s.SaleID), hubpayment.StatusEQ(hubpayment.StatusSUCCEEDED)).
			SetClaimed(true).Save(ctx)
		if err != nil {
			return RecordResult{}, err
		}
		if n == 1 {
			return RecordResult{Applied: true}, nil
		}
		// Refunded since phonePaid read it: book it as refunded.
	}
	res := RecordResult{Applied: true, Conflict: fmt.Sprintf("paid %s by %s, refunded on central before the sale arrived: goods handed over unpaid at hub %s", checkout.FormatMoney(total, s.Currency), strings.ToLower(s.PaidWith), s.Hub)}
	if err := tx.HubPayment.Update().Where(hubpayment.SaleID(s.SaleID)).SetClaimed(true).Exec(ctx); err != nil {
		return RecordResult{}, err
	}
	return res, tx.HubSale.Update().Where(hubsale.SaleID(s.SaleID)).SetStatus(hubsale.StatusSHORTFALL).
		SetConflict(res.Conflict).SetShortfallAmount(total).Exec(ctx)
}

// RefundHubPayment gives a hub sale's phone or card payment back (staff,
// central): the buyer paid but the hub could not hand the goods over, or
// took them back. The card refund is keyed by the sale, so retries refund
// once. If the hub's sale of it has reached central (or reaches it later),
// that sale is marked SHORTFALL for staff: the books always show it.
func (h *Service) RefundHubPayment(ctx context.Context, saleID string) (*PhonePaymentState, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	if h.pay == nil {
		return nil, &checkout.InputError{Field: "saleId", Msg: checkout.ErrPaymentsNotConfigured.Error()}
	}
	sys := viewer.SystemContext(ctx)
	p, err := h.db.HubPayment.Query().Where(hubpayment.SaleID(saleID)).Only(sys)
	if err != nil {
		return nil, checkout.NotFoundAs(err, "hub payment")
	}
	if p.Status != hubpayment.StatusSUCCEEDED && p.Status != hubpayment.StatusREFUNDED {
		return nil, checkout.BadInput("saleId", "nothing to refund: the payment is %s", p.Status)
	}
	if _, err := h.pay.Refund(ctx, *p.StripePaymentIntentID, p.Amount, "merchd-hub-refund-"+saleID); err != nil {
		return nil, err
	}
	_, err = txn.Do(sys, h.db, "refund hub payment", func(tx *ent.Tx) (struct{}, error) {
		// One conditional write: only a paid (or already refunded) payment
		// becomes REFUNDED.
		n, err := tx.HubPayment.Update().Where(hubpayment.ID(p.ID), hubpayment.StatusIn(hubpayment.StatusSUCCEEDED, hubpayment.StatusREFUNDED)).
			SetStatus(hubpayment.StatusREFUNDED).Save(sys)
		if err != nil {
			return struct{}{}, err
		}
		if n == 0 {
			return struct{}{}, checkout.BadInput("saleId", "the payment changed while refunding; ask again")
		}
		note := fmt.Sprintf("paid %s, refunded by staff on central after the sale was recorded", checkout.FormatMoney(p.Amount, p.Currency))
		// If the sale was recorded, it is short of the refund now.
		return struct{}{}, tx.HubSale.Update().Where(hubsale.SaleID(saleID), hubsale.StatusEQ(hubsale.StatusAPPLIED)).
			SetStatus(hubsale.StatusSHORTFALL).SetConflict(note).SetShortfallAmount(p.Amount).Exec(sys)
	})
	if err != nil {
		return nil, err
	}
	return h.HubPaymentState(ctx, saleID)
}

// CentralLink is what a hub asks central, link permitting: card payments
// on the hub's reader. Central's own Hubs answers the same calls.
type CentralLink interface {
	StartTerminalPayment(ctx context.Context, request, readerID string) (TerminalPayment, error)
	CancelTerminalPayment(ctx context.Context, readerID string) (ReaderState, error)
	HubPaymentState(ctx context.Context, saleID string) (*PhonePaymentState, error)
}

var _ CentralLink = (*Service)(nil)

// BindReader sets the hub a card reader stands at (full staff, central):
// a hub's token then starts, polls and cancels payments only on its own
// readers.
func (h *Service) BindReader(ctx context.Context, readerID, hubCode string) error {
	if err := checkout.RequireStaff(ctx); err != nil { // a hub's token is not staff
		return err
	}
	if readerID == "" || len(readerID) > 100 {
		return checkout.BadInput("readerId", "name the card reader (tmr_…)")
	}
	if !checkout.ValidHubCode(hubCode) {
		return checkout.BadInput("hub", "a hub code is 1 to 40 letters, digits, '-' or '_'")
	}
	sys := viewer.SystemContext(ctx)
	return h.db.ReaderBinding.Create().SetReaderID(readerID).SetHub(hubCode).
		OnConflictColumns(readerbinding.FieldReaderID).UpdateHub().UpdateUpdatedAt().Exec(sys)
}
