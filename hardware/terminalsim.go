package hardware

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v79"
	"github.com/stripe/stripe-go/v79/webhook"
)

// TerminalSimulator is a stand-in for Stripe's API as server-driven
// Terminal uses it: it speaks Stripe's wire format (form-encoded requests,
// JSON objects and errors, Idempotency-Key) for PaymentIntents, readers
// and the present_payment_method test helper, keeps state (unlike
// stripe-mock), and sends signed payment_intent webhooks the way Stripe
// does. Point merchd's --stripe-api-url at it for a pop-up rehearsal.
type TerminalSimulator struct {
	ln  net.Listener
	srv *http.Server
	wg  sync.WaitGroup

	mu      sync.Mutex
	seq     int
	intents map[string]*simIntent
	readers map[string]*simReader
	byKey   map[string][]byte // idempotency key → first response
	// webhookURL and webhookSecret, if set, receive signed events.
	webhookURL, webhookSecret string
}

// SetWebhook makes the simulator send events, signed with secret, to url
// (merchd's /webhooks/stripe).
func (s *TerminalSimulator) SetWebhook(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL, s.webhookSecret = url, secret
}

type simIntent struct {
	ID           string            `json:"id"`
	Object       string            `json:"object"`
	Amount       int64             `json:"amount"`
	Currency     string            `json:"currency"`
	Status       string            `json:"status"`
	ClientSecret string            `json:"client_secret"`
	Metadata     map[string]string `json:"metadata"`
	MethodTypes  []string          `json:"payment_method_types"`
	Created      int64             `json:"created"`
	LastError    *simError         `json:"last_payment_error"`
}

type simReader struct {
	ID         string     `json:"id"`
	Object     string     `json:"object"`
	Label      string     `json:"label"`
	Status     string     `json:"status"`
	DeviceType string     `json:"device_type"`
	Action     *simAction `json:"action"`
}

type simAction struct {
	Type                 string    `json:"type"`
	Status               string    `json:"status"`
	FailureCode          string    `json:"failure_code,omitempty"`
	FailureMessage       string    `json:"failure_message,omitempty"`
	ProcessPaymentIntent *struct { // Stripe expands nothing here: an id
		PaymentIntent string `json:"payment_intent"`
	} `json:"process_payment_intent"`
}

type simError struct {
	Type    string `json:"type"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// DeclinedCard is the test card number the simulator (like Stripe) declines.
const DeclinedCard = "4000000000000002"

// NewTerminalSimulator starts the simulator on 127.0.0.1 with the given
// readers (ids like tmr_…), all online and idle.
func NewTerminalSimulator(readers ...string) (*TerminalSimulator, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &TerminalSimulator{ln: ln, intents: map[string]*simIntent{}, readers: map[string]*simReader{}, byKey: map[string][]byte{}}
	for i, id := range readers {
		s.readers[id] = &simReader{ID: id, Object: "terminal.reader", Label: fmt.Sprintf("Counter %d", i+1), Status: "online", DeviceType: "simulated_wisepos_e"}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payment_intents", s.createIntent)
	mux.HandleFunc("GET /v1/payment_intents/{id}", s.getIntent)
	mux.HandleFunc("POST /v1/payment_intents/{id}/cancel", s.cancelIntent)
	mux.HandleFunc("GET /v1/terminal/readers/{id}", s.getReader)
	mux.HandleFunc("POST /v1/terminal/readers/{id}/process_payment_intent", s.process)
	mux.HandleFunc("POST /v1/terminal/readers/{id}/cancel_action", s.cancelAction)
	mux.HandleFunc("POST /v1/test_helpers/terminal/readers/{id}/present_payment_method", s.present)
	s.srv = &http.Server{Handler: s.auth(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the simulator's API base, for --stripe-api-url.
func (s *TerminalSimulator) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the simulator once its webhook deliveries are done.
func (s *TerminalSimulator) Close() error {
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// Intent returns a PaymentIntent's status and amount.
func (s *TerminalSimulator) Intent(id string) (status string, amount int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pi := s.intents[id]; pi != nil {
		return pi.Status, pi.Amount
	}
	return "", 0
}

// SetReaderOnline turns a reader on or off (a reader that lost Wi-Fi).
func (s *TerminalSimulator) SetReaderOnline(id string, online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.readers[id]; r != nil {
		r.Status = map[bool]string{true: "online", false: "offline"}[online]
	}
}

func (s *TerminalSimulator) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || !strings.HasPrefix(k, "sk_test_") {
			writeStripeError(w, http.StatusUnauthorized, "invalid_request_error", "", "Invalid API Key provided (the simulator takes sk_test_… keys)")
			return
		}
		if err := r.ParseForm(); err != nil {
			writeStripeError(w, http.StatusBadRequest, "invalid_request_error", "", "unreadable form body")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeStripeError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": simError{Type: typ, Code: code, Message: msg}})
}

func writeObject(w http.ResponseWriter, v any) []byte {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return b
}

func (s *TerminalSimulator) newID(prefix string) string {
	s.seq++
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s_sim%d%s", prefix, s.seq, hex.EncodeToString(b))
}

func (s *TerminalSimulator) createIntent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := r.Header.Get("Idempotency-Key")
	if b, ok := s.byKey[key]; ok && key != "" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	amount, err := strconv.ParseInt(r.PostForm.Get("amount"), 10, 64)
	cur := r.PostForm.Get("currency")
	if err != nil || amount < 1 || len(cur) != 3 {
		writeStripeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid_integer", "amount and currency are required")
		return
	}
	pi := &simIntent{Object: "payment_intent", Amount: amount, Currency: strings.ToLower(cur), Status: "requires_payment_method",
		Metadata: map[string]string{}, Created: time.Now().Unix(), MethodTypes: r.PostForm["payment_method_types[]"]}
	pi.ID = s.newID("pi")
	pi.ClientSecret = pi.ID + "_secret_sim"
	if len(pi.MethodTypes) == 0 {
		pi.MethodTypes = []string{"card"}
	}
	for k, v := range r.PostForm {
		if name, ok := strings.CutPrefix(k, "metadata["); ok && len(v) > 0 {
			pi.Metadata[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	s.intents[pi.ID] = pi
	b := writeObject(w, pi)
	if key != "" {
		s.byKey[key] = b
	}
}

func (s *TerminalSimulator) intent(w http.ResponseWriter, id string) *simIntent {
	pi := s.intents[id]
	if pi == nil {
		writeStripeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "No such payment_intent: '"+id+"'")
	}
	return pi
}

func (s *TerminalSimulator) getIntent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pi := s.intent(w, r.PathValue("id")); pi != nil {
		writeObject(w, pi)
	}
}

func (s *TerminalSimulator) cancelIntent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi := s.intent(w, r.PathValue("id"))
	if pi == nil {
		return
	}
	if pi.Status == "succeeded" {
		writeStripeError(w, http.StatusBadRequest, "invalid_request_error", "payment_intent_unexpected_state",
			"You cannot cancel this PaymentIntent because it has a status of succeeded.")
		return
	}
	pi.Status = "canceled"
	writeObject(w, pi)
}

func (s *TerminalSimulator) reader(w http.ResponseWriter, id string) *simReader {
	rd := s.readers[id]
	if rd == nil {
		writeStripeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "No such terminal.reader: '"+id+"'")
	}
	return rd
}

func (s *TerminalSimulator) getReader(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rd := s.reader(w, r.PathValue("id")); rd != nil {
		writeObject(w, rd)
	}
}

func (s *TerminalSimulator) process(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rd := s.reader(w, r.PathValue("id"))
	if rd == nil {
		return
	}
	switch {
	case rd.Status != "online":
		writeStripeError(w, http.StatusBadRequest, "invalid_request_error", "terminal_reader_offline", "Reader is currently offline, please ensure the reader is powered on and connected to the internet before retrying your request.")
		return
	case rd.Action != nil && rd.Action.Status == "in_progress":
		writeStripeError(w, http.StatusBadRequest, "invalid_request_error", "terminal_reader_busy", "Reader is currently busy processing another request.")
		return
	}
	pi := s.intent(w, r.PostForm.Get("payment_intent"))
	if pi == nil {
		return
	}
	if pi.Status != "requires_payment_method" {
		writeStripeError(w, http.StatusBadRequest, "invalid_request_error", "payment_intent_unexpected_state",
			"This PaymentIntent's status is "+pi.Status+"; it cannot be processed.")
		return
	}
	rd.Action = &simAction{Type: "process_payment_intent", Status: "in_progress"}
	rd.Action.ProcessPaymentIntent = &struct {
		PaymentIntent string `json:"payment_intent"`
	}{pi.ID}
	writeObject(w, rd)
}

func (s *TerminalSimulator) cancelAction(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rd := s.reader(w, r.PathValue("id"))
	if rd == nil {
		return
	}
	if rd.Action == nil || rd.Action.Status != "in_progress" {
		writeStripeError(w, http.StatusBadRequest, "invalid_request_error", "terminal_reader_action_unexpected_state", "This reader has no action in progress to cancel.")
		return
	}
	rd.Action = nil
	writeObject(w, rd)
}

func (s *TerminalSimulator) present(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rd := s.reader(w, r.PathValue("id"))
	if rd == nil {
		return
	}
	if rd.Action == nil || rd.Action.Status != "in_progress" || rd.Action.ProcessPaymentIntent == nil {
		writeStripeError(w, http.StatusBadRequest, "invalid_request_error", "terminal_reader_action_unexpected_state", "This reader is not waiting for a payment method.")
		return
	}
	pi := s.intents[rd.Action.ProcessPaymentIntent.PaymentIntent]
	if r.PostForm.Get("card_present[number]") == DeclinedCard {
		rd.Action.Status, rd.Action.FailureCode, rd.Action.FailureMessage = "failed", "card_declined", "Your card was declined."
		pi.LastError = &simError{Type: "card_error", Code: "card_declined", Message: "Your card was declined."}
		s.sendEvent("payment_intent.payment_failed", *pi)
	} else {
		rd.Action.Status = "succeeded"
		pi.Status, pi.LastError = "succeeded", nil
		s.sendEvent("payment_intent.succeeded", *pi)
	}
	writeObject(w, rd)
}

// sendEvent delivers a signed event to the webhook URL, retrying like Stripe
// (here: a few times, quickly). The caller holds s.mu.
func (s *TerminalSimulator) sendEvent(typ string, obj simIntent) {
	url, secret := s.webhookURL, s.webhookSecret
	if url == "" {
		return
	}
	raw, _ := json.Marshal(obj)
	ev, _ := json.Marshal(map[string]any{"id": s.newID("evt"), "object": "event", "type": typ, "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "data": map[string]any{"object": json.RawMessage(raw)}})
	s.wg.Go(func() {
		for attempt := range 5 {
			signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: ev, Secret: secret})
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(ev))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Stripe-Signature", signed.Header)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode < 300 {
					return
				}
			}
			time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
		}
	})
}
