package edge

import (
	"context"
	"errors"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/hubs"
)

// The hub's card payments go through central, which holds the Stripe key
// and commands the reader: these calls need the link, and say so when it
// is down.

var _ hubs.CentralLink = (*Syncer)(nil)

const readerFields = `id label status action actionStatus paymentIntentId failureCode failureMessage`

type readerJSON struct {
	ID, Label, Status                                                  string
	Action, ActionStatus, PaymentIntentID, FailureCode, FailureMessage *string
}

func (r readerJSON) state() hubs.ReaderState {
	v := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return hubs.ReaderState{ID: r.ID, Label: r.Label, Status: r.Status, Action: v(r.Action), ActionStatus: v(r.ActionStatus),
		PaymentIntentID: v(r.PaymentIntentID), FailureCode: v(r.FailureCode), FailureMessage: v(r.FailureMessage)}
}

type moneyJSON struct {
	Amount   int64
	Currency string
}

// StartTerminalPayment asks central to have the reader take the request.
func (s *Syncer) StartTerminalPayment(ctx context.Context, request, readerID string) (hubs.TerminalPayment, error) {
	var out struct {
		StartTerminalPayment struct {
			SaleID, PaymentIntentID string
			Amount                  moneyJSON
			Reader                  readerJSON
		}
	}
	err := s.call(ctx, `mutation($i: StartTerminalPaymentInput!) { startTerminalPayment(input: $i) { saleId paymentIntentId amount { amount currency } reader { `+readerFields+` } } }`,
		map[string]any{"i": map[string]any{"request": request, "readerId": readerID}}, &out)
	if err != nil {
		return hubs.TerminalPayment{}, linkError(err)
	}
	p := out.StartTerminalPayment
	r, err := hubs.DecodePaymentRequest(request)
	if err != nil {
		return hubs.TerminalPayment{}, err
	}
	return hubs.TerminalPayment{Request: r, PaymentIntentID: p.PaymentIntentID, Reader: p.Reader.state()}, nil
}

// CancelTerminalPayment asks central to stop the reader.
func (s *Syncer) CancelTerminalPayment(ctx context.Context, readerID string) (hubs.ReaderState, error) {
	var out struct{ CancelTerminalPayment readerJSON }
	err := s.call(ctx, `mutation($i: CancelTerminalPaymentInput!) { cancelTerminalPayment(input: $i) { `+readerFields+` } }`,
		map[string]any{"i": map[string]any{"readerId": readerID}}, &out)
	if err != nil {
		return hubs.ReaderState{}, linkError(err)
	}
	return out.CancelTerminalPayment.state(), nil
}

// HubPaymentState asks central how a card payment stands.
func (s *Syncer) HubPaymentState(ctx context.Context, saleID string) (*hubs.PhonePaymentState, error) {
	var out struct {
		HubPhonePayment *struct {
			Status, Hub string
			Amount      moneyJSON
			Receipt     *string
		}
	}
	err := s.call(ctx, `query($s: String!) { hubPhonePayment(saleId: $s) { status hub amount { amount currency } receipt } }`,
		map[string]any{"s": saleID}, &out)
	if err != nil {
		return nil, linkError(err)
	}
	p := out.HubPhonePayment
	if p == nil {
		return nil, nil
	}
	st := &hubs.PhonePaymentState{Status: p.Status, Hub: p.Hub, Amount: p.Amount.Amount, Currency: p.Amount.Currency}
	if p.Receipt != nil {
		st.Receipt = *p.Receipt
	}
	return st, nil
}

// linkError turns a failed call to central into what the clerk reads:
// central's refusal in central's (public) words, as a refusal of the
// clerk's input (central's UNAUTHENTICATED is about the hub's token, not
// the clerk's session); anything else (central unreachable, or failing on
// its side) as a fixed text, the cause logged with the request, never
// shown.
func linkError(err error) error {
	var ce *centralError
	switch {
	case errors.As(err, &ce) && ce.refusal():
		return &checkout.InputError{Field: "central", Msg: ce.msg}
	case errors.As(err, &ce):
		return &checkout.InputError{Field: "central", Msg: "could not answer just now: try again, or take cash, a wallet pass or a phone payment", Cause: err}
	}
	return &checkout.InputError{Field: "central", Msg: "card payments need the link to central, which is down: take cash, a wallet pass or a phone payment", Cause: err}
}
