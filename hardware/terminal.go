package hardware

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/client"
)

// ReaderState is a Stripe Terminal reader and its current action, as
// polled: a server-driven payment is in_progress until the buyer presents
// a card, then succeeded or failed.
type ReaderState struct {
	ID, Label string
	// Status is online or offline.
	Status string
	// Action is the reader's current action ("" when idle), e.g.
	// process_payment_intent, and ActionStatus in_progress, succeeded or
	// failed (with FailureCode and FailureMessage).
	Action, ActionStatus        string
	PaymentIntentID             string
	FailureCode, FailureMessage string
}

// StripeTerminal drives Stripe Terminal readers the server-driven way
// (readers connected to Stripe over the venue's internet, commanded by
// API calls): process a PaymentIntent on a reader, cancel, poll; and, in
// test mode, present a simulated card.
type StripeTerminal struct{ api *client.API }

// NewStripeTerminal talks to Stripe with secretKey; apiURL overrides the
// API's address (stripe-mock, TerminalSimulator).
func NewStripeTerminal(secretKey, apiURL string) *StripeTerminal {
	bc := &stripe.BackendConfig{
		MaxNetworkRetries: stripe.Int64(2),
		HTTPClient:        &http.Client{Timeout: 20 * time.Second},
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelError},
	}
	if apiURL != "" {
		bc.URL = stripe.String(apiURL)
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	api := &client.API{}
	api.Init(secretKey, &stripe.Backends{API: b, Connect: b, Uploads: b})
	return &StripeTerminal{api: api}
}

// ErrReaderBusy is a reader already running an action.
var ErrReaderBusy = errors.New("the card reader is busy with another payment; cancel it first")

// Process asks the reader to collect and confirm paymentIntentID; the
// buyer then taps, inserts or swipes their card on it.
func (t *StripeTerminal) Process(ctx context.Context, readerID, paymentIntentID string) (ReaderState, error) {
	p := &stripe.TerminalReaderProcessPaymentIntentParams{PaymentIntent: stripe.String(paymentIntentID)}
	p.Context = ctx
	r, err := t.api.TerminalReaders.ProcessPaymentIntent(readerID, p)
	return readerState(r, err)
}

// Cancel stops the reader's current action.
func (t *StripeTerminal) Cancel(ctx context.Context, readerID string) (ReaderState, error) {
	p := &stripe.TerminalReaderCancelActionParams{}
	p.Context = ctx
	r, err := t.api.TerminalReaders.CancelAction(readerID, p)
	return readerState(r, err)
}

// Reader polls the reader's state.
func (t *StripeTerminal) Reader(ctx context.Context, readerID string) (ReaderState, error) {
	p := &stripe.TerminalReaderParams{}
	p.Context = ctx
	r, err := t.api.TerminalReaders.Get(readerID, p)
	return readerState(r, err)
}

// PresentCard simulates a buyer presenting a card on a simulated reader
// (Stripe's test helper; test mode only). 4000000000000002 is declined.
func (t *StripeTerminal) PresentCard(ctx context.Context, readerID, number string) (ReaderState, error) {
	p := &stripe.TestHelpersTerminalReaderPresentPaymentMethodParams{Type: stripe.String("card_present")}
	if number != "" {
		p.CardPresent = &stripe.TestHelpersTerminalReaderPresentPaymentMethodCardPresentParams{Number: stripe.String(number)}
	}
	p.Context = ctx
	r, err := t.api.TestHelpersTerminalReaders.PresentPaymentMethod(readerID, p)
	return readerState(r, err)
}

func readerState(r *stripe.TerminalReader, err error) (ReaderState, error) {
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && se.Code == "terminal_reader_busy" {
			return ReaderState{}, ErrReaderBusy
		}
		return ReaderState{}, err
	}
	s := ReaderState{ID: r.ID, Label: r.Label, Status: string(r.Status)}
	if a := r.Action; a != nil {
		s.Action, s.ActionStatus = string(a.Type), string(a.Status)
		s.FailureCode, s.FailureMessage = a.FailureCode, a.FailureMessage
		if a.ProcessPaymentIntent != nil && a.ProcessPaymentIntent.PaymentIntent != nil {
			s.PaymentIntentID = a.ProcessPaymentIntent.PaymentIntent.ID
		}
	}
	return s, nil
}
