package checkout

import (
	"errors"
	"fmt"
	"time"

	"github.com/merchd/merchd/ent"
)

// The error table. Every refusal the shop makes carries its own
// extensions.code and its public text, declared once here next to its
// sentinel; graph's presenter, the hub's sync loop and every "is this the
// client's doing or ours?" check read this table (Public, CodeOf,
// Retryable) and nothing else. The model is Tailscale's util/vizerror:
// what a client reads is apart from the cause we log.

// Codes, as extensions.code carries them. Clients switch on these.
const (
	CodeBadUserInput         = "BAD_USER_INPUT"
	CodeUnauthenticated      = "UNAUTHENTICATED"
	CodeForbidden            = "FORBIDDEN"
	CodeNotFound             = "NOT_FOUND"
	CodeOutOfStock           = "OUT_OF_STOCK"
	CodeIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
	CodeDropNotOpen          = "DROP_NOT_OPEN"
	CodeLimitExceeded        = "LIMIT_EXCEEDED"
	CodeHoldExpired          = "HOLD_EXPIRED"
	CodeCartCheckedOut       = "CART_CHECKED_OUT"
	CodeRateLimited          = "RATE_LIMITED"
	CodePaymentDeclined      = "PAYMENT_DECLINED"
	CodeInsufficientFunds    = "INSUFFICIENT_FUNDS"
	CodeAlreadyMember        = "ALREADY_MEMBER"
	CodeStreamNotLive        = "STREAM_NOT_LIVE"
	// CodeHubSaleMismatch: a hub delivered a recorded saleId with other content.
	CodeHubSaleMismatch = "HUB_SALE_MISMATCH"
	// CodeAlreadyCollected: a pickup handed over before.
	CodeAlreadyCollected = "ALREADY_COLLECTED"
	// CodeWindowFull: every place in a pickup window is held or sold.
	CodeWindowFull = "WINDOW_FULL"
	// CodeAlreadyReceived: a return dropped off before.
	CodeAlreadyReceived = "ALREADY_RECEIVED"
	// CodeInvalidToken: an emailed link (password reset, email
	// verification) that is unknown, used or expired.
	CodeInvalidToken = "INVALID_TOKEN"
	// CodeEmailFailed: the SMTP server did not take an email sent now
	// (the message carries its reply, or why it could not be reached).
	CodeEmailFailed = "EMAIL_FAILED"
	// CodeEmailOff: no SMTP server is configured (--smtp-host).
	CodeEmailOff = "EMAIL_OFF"
	// CodeUnavailable: the server could not finish the request for want
	// of capacity — its deadline passed, or the database refused a
	// connection (too many clients, starting or stopping). Not a refusal
	// and not a bug: the same request may succeed in a moment.
	CodeUnavailable = "UNAVAILABLE"
	// CodeInternal is every error that is not a refusal: ours, not the
	// client's. Its text never reaches the client.
	CodeInternal = "INTERNAL"
)

// retryable is every code above: true if the same request, sent again
// unchanged, may succeed later (our own failure, throttling); false if it
// is a refusal on the request's merits, which will be refused again.
var retryable = map[string]bool{
	CodeBadUserInput:         false,
	CodeUnauthenticated:      false,
	CodeForbidden:            false,
	CodeNotFound:             false,
	CodeOutOfStock:           false,
	CodeIdempotencyKeyReused: false,
	CodeDropNotOpen:          false,
	CodeLimitExceeded:        false,
	CodeHoldExpired:          false,
	CodeCartCheckedOut:       false,
	CodePaymentDeclined:      false,
	CodeInsufficientFunds:    false,
	CodeAlreadyMember:        false,
	CodeStreamNotLive:        false,
	CodeHubSaleMismatch:      false,
	CodeAlreadyCollected:     false,
	CodeWindowFull:           false,
	CodeAlreadyReceived:      false,
	CodeInvalidToken:         false,
	CodeEmailOff:             false,
	CodeEmailFailed:          true,
	CodeRateLimited:          true,
	CodeUnavailable:          true,
	CodeInternal:             true,
}

// Retryable reports whether a request that failed with code may succeed
// if sent again unchanged later: INTERNAL and RATE_LIMITED.
func Retryable(code string) bool { return retryable[code] }

// IsRefusalCode reports whether code is one of the table's refusals: the
// client's doing (or the shop's rules), so the same request will be
// refused again. Codes the table does not know (the API's own, a newer
// server's) are neither refusal nor retryable.
func IsRefusalCode(code string) bool {
	r, known := retryable[code]
	return known && !r
}

// Refusal is a request turned down on its merits, not a failure of ours:
// Code goes to the client as extensions.code and Msg is written for the
// client. Every sentinel below is one. Wrapping a refusal with
// fmt.Errorf("…: %w") adds detail for the log only: the client still
// reads Msg; Detail adds detail the client may read.
type Refusal struct {
	Code string
	Msg  string
}

func (r *Refusal) Error() string { return r.Msg }

func (r *Refusal) public() (string, string) { return r.Code, r.Msg }

// Detail returns r with detail written for the client in front of its
// text ("opens at 18:00: drop is not open"); errors.Is(err, r) holds.
func (r *Refusal) Detail(format string, args ...any) error {
	return &detailed{r: r, detail: fmt.Sprintf(format, args...)}
}

type detailed struct {
	r      *Refusal
	detail string
}

func (d *detailed) Error() string            { return d.detail + ": " + d.r.Msg }
func (d *detailed) Unwrap() error            { return d.r }
func (d *detailed) public() (string, string) { return d.r.Code, d.Error() }

// public is an error whose text is written for the client, with its code:
// a Refusal, an InputError, a LimitError, a RateLimitError.
type public interface {
	error
	public() (code, msg string)
}

// Public returns what a client may read of err: the code and text of the
// outermost refusal in its chain. ok is false for an error that is no
// refusal: it is ours (INTERNAL), and its text must not reach a client.
func Public(err error) (code, msg string, ok bool) {
	var p public
	if !errors.As(err, &p) {
		return "", "", false
	}
	code, msg = p.public()
	return code, msg, true
}

// CodeOf returns err's code if it is a refusal (ok false: INTERNAL).
func CodeOf(err error) (code string, ok bool) {
	code, _, ok = Public(err)
	return code, ok
}

// Sentinel refusals.
var (
	ErrBadInput        = &Refusal{CodeBadUserInput, "bad input"}
	ErrUnauthenticated = &Refusal{CodeUnauthenticated, "sign in first"}
	ErrForbidden       = &Refusal{CodeForbidden, "forbidden"}
	// ErrNotFound's text says no more: what was missing (wrapped around
	// it) is ours to log.
	ErrNotFound              = &Refusal{CodeNotFound, "not found"}
	ErrOutOfStock            = &Refusal{CodeOutOfStock, "out of stock"}
	ErrIdempotencyKeyReused  = &Refusal{CodeIdempotencyKeyReused, "idempotency key reused with a different request"}
	ErrInvalidCredentials    = &Refusal{CodeUnauthenticated, "wrong email or password"}
	ErrEmailTaken            = &Refusal{CodeBadUserInput, "an account with this email already exists"}
	ErrIdempotencyInProgress = &Refusal{CodeIdempotencyKeyReused, "a request with this idempotency key is still in progress"}
	// ErrHubSaleMismatch: a hub sale id delivered again with other content.
	ErrHubSaleMismatch = &Refusal{CodeHubSaleMismatch, "hub sale recorded before with other content"}
)

// InputError is a refusal of one input field, with a message safe to show
// to the client. It matches ErrBadInput with errors.Is.
type InputError struct {
	Field string
	Msg   string
	// Cause, if set, is the failure of ours behind the refusal (a card
	// reader's network error): logged with the request, never shown.
	Cause error
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Is makes errors.Is(err, ErrBadInput) true.
func (e *InputError) Is(target error) bool { return target == ErrBadInput }

// Unwrap is the internal cause, for the log.
func (e *InputError) Unwrap() error { return e.Cause }

func (e *InputError) public() (string, string) { return CodeBadUserInput, e.Error() }

func BadInput(field, format string, args ...any) error {
	return &InputError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Refusals of the drop, cart and checkout flow.
var (
	ErrDropNotOpen           = &Refusal{CodeDropNotOpen, "drop is not open"}
	ErrLimitExceeded         = &Refusal{CodeLimitExceeded, "per-customer limit reached"}
	ErrHoldExpired           = &Refusal{CodeHoldExpired, "a hold in the cart expired; remove it and add the item again"}
	ErrCartCheckedOut        = &Refusal{CodeCartCheckedOut, "this cart was already checked out; see your orders"}
	ErrPaymentDeclined       = &Refusal{CodePaymentDeclined, "payment declined"}
	ErrPaymentsNotConfigured = &Refusal{CodeBadUserInput, "card payments are not configured on this server"}
	ErrEmptyCart             = &InputError{Msg: "cart has no held items"}
	// ErrStreamNotLive refuses a purchase attributed to a stream that is
	// idle or ended: LIVE units and the creator's attribution need a live one.
	ErrStreamNotLive = &Refusal{CodeStreamNotLive, "the stream is not live; buy without streamId"}
)

// LimitError is a refusal by one of a customer's caps; it is
// ErrLimitExceeded and its message names the cap.
type LimitError struct {
	What  string // what is capped, e.g. "units held at once"
	Limit int
	Have  int // what the customer has already
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("at most %d %s per customer (you have %d)", e.Limit, e.What, e.Have)
}

// Is makes errors.Is(err, ErrLimitExceeded) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimitExceeded }

func (e *LimitError) public() (string, string) { return CodeLimitExceeded, e.Error() }

// ErrWindowFull refuses a place in a pickup window whose places are all
// held or sold (the conditional take of checkout/delivery found none).
var ErrWindowFull = &Refusal{CodeWindowFull, "this pickup window is full; choose another window"}

// ErrAlreadyMember refuses a second membership while one is active or past due.
var ErrAlreadyMember = &Refusal{CodeAlreadyMember, "you already have an active membership"}

// ErrInvalidToken refuses an emailed link that is unknown, used or
// expired (one answer for all three).
var ErrInvalidToken = &Refusal{CodeInvalidToken, "this link is invalid, used or expired; ask for a new one"}

// ErrInsufficientFunds refuses a wallet debit the balance cannot cover.
var ErrInsufficientFunds = &Refusal{CodeInsufficientFunds, "insufficient wallet funds"}

// ErrRateLimited refuses a request that came too fast (or while the server
// is busy hashing passwords). errors.As gives the *RateLimitError with the
// time after which a retry may succeed.
var ErrRateLimited = &Refusal{CodeRateLimited, "too many requests"}

// RateLimitError is a throttling refusal with its retry-after.
type RateLimitError struct {
	What       string // "sign-in", "sign-up", "password hashing"
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many %s attempts; retry in %s", e.What, e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

func (e *RateLimitError) public() (string, string) { return CodeRateLimited, e.Error() }

// NotFoundAs turns ent's not-found into ErrNotFound naming what was missing.
func NotFoundAs(err error, what string) error {
	if ent.IsNotFound(err) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	var ve *ent.ValidationError
	if errors.As(err, &ve) {
		return BadInput(ve.Name, "%s", ve.Unwrap().Error())
	}
	return err
}

// WrapWrite maps ent's errors to the package's sentinels.
func WrapWrite(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case ent.IsConstraintError(err):
		return &InputError{Msg: op + ": conflicts with an existing record (slug or SKU already taken?)"}
	case ent.IsNotSingular(err):
		return fmt.Errorf("checkout: %s: %w", op, err)
	}
	return fmt.Errorf("checkout: %s: %w", op, NotFoundAs(err, "record"))
}
