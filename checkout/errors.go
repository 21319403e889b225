package checkout

import (
	"errors"
	"fmt"
	"time"

	"github.com/merchd/merchd/ent"
)

// Sentinel errors. graph's error presenter maps each to an extensions.code.
var (
	ErrBadInput              = errors.New("bad input")
	ErrUnauthenticated       = errors.New("unauthenticated")
	ErrForbidden             = errors.New("forbidden")
	ErrNotFound              = errors.New("not found")
	ErrOutOfStock            = errors.New("out of stock")
	ErrIdempotencyKeyReused  = errors.New("idempotency key reused with a different request")
	ErrInvalidCredentials    = errors.New("wrong email or password")
	ErrEmailTaken            = errors.New("an account with this email already exists")
	ErrIdempotencyInProgress = errors.New("a request with this idempotency key is still in progress")
	// ErrHubSaleMismatch: a hub sale id delivered again with other content.
	ErrHubSaleMismatch = errors.New("hub sale recorded before with other content")
)

// InputError is a refusal of one input field, with a message safe to show to
// the client. It matches ErrBadInput with errors.Is.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Is makes errors.Is(err, ErrBadInput) true.
func (e *InputError) Is(target error) bool { return target == ErrBadInput }

func BadInput(field, format string, args ...any) error {
	return &InputError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Refusals of the drop, cart and checkout flow.
var (
	ErrDropNotOpen           = errors.New("drop is not open")
	ErrLimitExceeded         = errors.New("per-customer limit reached")
	ErrHoldExpired           = errors.New("a hold in the cart expired")
	ErrCartCheckedOut        = errors.New("this cart was already checked out")
	ErrPaymentDeclined       = errors.New("payment declined")
	ErrPaymentsNotConfigured = errors.New("card payments are not configured on this server")
	ErrEmptyCart             = &InputError{Msg: "cart has no held items"}
	// ErrStreamNotLive refuses a purchase attributed to a stream that is
	// idle or ended: LIVE units and the creator's attribution need a live one.
	ErrStreamNotLive = errors.New("the stream is not live")
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

// ErrAlreadyMember refuses a second membership while one is active or past due.
var ErrAlreadyMember = errors.New("you already have an active membership")

// ErrInsufficientFunds refuses a wallet debit the balance cannot cover.
var ErrInsufficientFunds = errors.New("insufficient wallet funds")

func IsRefusal(err, refusal error) bool { return errors.Is(err, refusal) }

// ErrRateLimited refuses a request that came too fast (or while the server
// is busy hashing passwords). errors.As gives the *RateLimitError with the
// time after which a retry may succeed.
var ErrRateLimited = errors.New("too many requests")

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
