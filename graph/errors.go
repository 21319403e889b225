package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/privacy"
	"github.com/merchd/merchd/ent/viewer"
)

// Error codes sent in extensions.code. Clients switch on these. The
// domain's are checkout's (its error table gives each refusal its code
// and text); QUERY_TOO_COMPLEX is the API's own.
const (
	CodeBadUserInput         = checkout.CodeBadUserInput
	CodeUnauthenticated      = checkout.CodeUnauthenticated
	CodeForbidden            = checkout.CodeForbidden
	CodeNotFound             = checkout.CodeNotFound
	CodeOutOfStock           = checkout.CodeOutOfStock
	CodeIdempotencyKeyReused = checkout.CodeIdempotencyKeyReused
	CodeQueryTooComplex      = "QUERY_TOO_COMPLEX"
	CodeDropNotOpen          = checkout.CodeDropNotOpen
	CodeLimitExceeded        = checkout.CodeLimitExceeded
	CodeHoldExpired          = checkout.CodeHoldExpired
	CodeCartCheckedOut       = checkout.CodeCartCheckedOut
	CodeRateLimited          = checkout.CodeRateLimited
	CodePaymentDeclined      = checkout.CodePaymentDeclined
	CodeInsufficientFunds    = checkout.CodeInsufficientFunds
	CodeAlreadyMember        = checkout.CodeAlreadyMember
	CodeStreamNotLive        = checkout.CodeStreamNotLive
	CodeInternal             = checkout.CodeInternal
	// CodeUnavailable: overload (a deadline passed, the database refused a
	// connection), retryable; not our bug, so not INTERNAL.
	CodeUnavailable = checkout.CodeUnavailable
	// CodeHubSaleMismatch: a hub delivered a recorded saleId with other content.
	CodeHubSaleMismatch = checkout.CodeHubSaleMismatch
	// CodeAlreadyCollected: a pickup handed over before.
	CodeAlreadyCollected = checkout.CodeAlreadyCollected
	// CodeAlreadyReceived: a return dropped off before.
	CodeAlreadyReceived = checkout.CodeAlreadyReceived
)

// apiErrors are the API's own refusals of a request's shape (ids,
// cursors, page sizes, subscriptions per connection): BAD_USER_INPUT,
// their text written for the client.
var apiErrors = []error{gid.ErrInvalidID, gid.ErrInvalidCursor, errPageSize, errTooManySubscriptions}

// resolverError marks an error returned by a resolver (as opposed to one
// gqlgen raised while coercing arguments, which is always the client's input).
type resolverError struct{ err error }

func (e resolverError) Error() string { return e.err.Error() }
func (e resolverError) Unwrap() error { return e.err }

// markResolverErrors is field middleware that tags resolver errors.
func markResolverErrors(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil {
		var ge *gqlerror.Error
		if !errors.As(err, &ge) {
			err = resolverError{err}
		}
	}
	return res, err
}

// code classifies err. Unknown errors from resolvers are INTERNAL; unknown
// errors gqlgen raised before calling a resolver are input coercion failures.
func code(ctx context.Context, err error) string {
	if c, ok := checkout.CodeOf(err); ok {
		return c
	}
	for _, e := range apiErrors {
		if errors.Is(err, e) {
			return CodeBadUserInput
		}
	}
	switch {
	case ent.IsNotFound(err):
		return CodeNotFound
	case errors.Is(err, privacy.Deny):
		if viewer.FromContext(ctx).Role == viewer.Anonymous {
			return CodeUnauthenticated
		}
		return CodeForbidden
	case ent.IsValidationError(err):
		return CodeBadUserInput
	}
	if isEmptyWhere(err) {
		return CodeBadUserInput
	}
	if unavailable(err) {
		return CodeUnavailable
	}
	var re resolverError
	if errors.As(err, &re) {
		return CodeInternal
	}
	var ge *gqlerror.Error
	if errors.As(err, &ge) && ge.Message != "must not be null" {
		var ie internalError
		if errors.As(err, &ie) {
			return CodeInternal
		}
		// Raised before any resolver ran: the request's own shape (a body
		// that is not JSON, a variable of the wrong type).
		return CodeBadUserInput
	}
	return CodeInternal
}

// unavailable reports an error of capacity, not of code: the request's
// deadline passed, or PostgreSQL refused or lost the connection (class 08
// connection exceptions, class 53 insufficient resources such as "too
// many clients", 57P01–57P03 shutting down or starting up).
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return strings.HasPrefix(pg.Code, "08") || strings.HasPrefix(pg.Code, "53") || strings.HasPrefix(pg.Code, "57P0")
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// isEmptyWhere is ent's refusal of a where input with nothing in it
// (`not: {}`), one Err…WhereInput variable per type.
func isEmptyWhere(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), "ent: empty predicate ") {
			return true
		}
	}
	return false
}

// errorPresenter maps every error to an extensions.code. A refusal reads
// as checkout's table writes it (never the text wrapped around it);
// INTERNAL errors get an id that is logged with the real cause, which
// never reaches clients, nor does the internal cause behind a refusal.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		out := graphql.DefaultErrorPresenter(ctx, err)
		if out.Extensions != nil && out.Extensions["code"] != nil {
			// Parse, validation and limit errors already carry a code.
			switch {
			case out.Extensions["code"] == CodeNotFound:
				out.Message = checkout.ErrNotFound.Msg
			case out.Extensions["code"] == "GRAPHQL_VALIDATION_FAILED" && len(out.Path) > 0 && out.Path[0] == ast.PathName("variable"):
				// A variable's value is the client's input, not its document.
				out.Extensions["code"] = CodeBadUserInput
			}
			return out
		}
		c := code(ctx, err)
		if c == CodeBadUserInput && strings.HasPrefix(out.Message, "json request body could not be decoded") {
			// gqlgen's text quotes the body, which may hold a password.
			out.Message = "the body is not a GraphQL request: send a JSON object with a string \"query\", an optional object \"variables\" and an optional string \"operationName\""
		}
		if isEmptyWhere(err) {
			out.Message = "a where filter (or a not inside it) is empty"
		}
		if out.Extensions == nil {
			out.Extensions = map[string]any{}
		}
		out.Extensions["code"] = c
		if _, msg, ok := checkout.Public(err); ok {
			out.Message = msg
			var rl *checkout.RateLimitError
			if errors.As(err, &rl) {
				out.Extensions["retryAfter"] = int(math.Ceil(rl.RetryAfter.Seconds()))
			}
			var ie *checkout.InputError
			if errors.As(err, &ie) && ie.Field != "" {
				out.Extensions["field"] = ie.Field // the input field to fix
			}
			if errors.As(err, &ie) && ie.Cause != nil {
				id := errorID()
				log.WarnContext(ctx, "graphql refusal with an internal cause", "error_id", id, "path", out.Path.String(), "error", ie.Cause)
				out.Extensions["errorId"] = id
			}
			return out
		}
		switch c {
		case CodeUnavailable:
			id := errorID()
			log.WarnContext(ctx, "graphql request could not finish: overload", "error_id", id, "path", out.Path.String(), "error", err)
			out.Message = "the server is too busy to finish this now; send it again in a moment (id " + id + ")"
			out.Extensions["errorId"] = id
			out.Extensions["retryAfter"] = 1
		case CodeInternal:
			id := errorID()
			var ie internalError
			if errors.As(err, &ie) {
				id = ie.id // a recovered panic, logged with its stack already
			} else {
				log.ErrorContext(ctx, "graphql resolver failed", "error_id", id, "path", out.Path.String(), "error", err)
			}
			out.Message = "internal error (id " + id + ")"
			out.Extensions["errorId"] = id
		case CodeNotFound:
			out.Message = checkout.ErrNotFound.Msg
		case CodeUnauthenticated:
			out.Message = checkout.ErrUnauthenticated.Msg
		case CodeForbidden:
			out.Message = checkout.ErrForbidden.Msg
		}
		return out
	}
}

// publicError is what a client may read of an error carried in a payload
// (a hub sale's result): the presenter's message and code, so an INTERNAL
// cause is logged under an id and never copied out.
func (r *Resolver) publicError(ctx context.Context, err error) (msg, code string) {
	if r.present == nil {
		return "internal error", CodeInternal
	}
	out := r.present(ctx, resolverError{err})
	c, _ := out.Extensions["code"].(string)
	return out.Message, c
}

// internalError is a recovered panic, already logged under id.
type internalError struct{ id string }

func (e internalError) Error() string { return "internal error (id " + e.id + ")" }

// recoverFunc turns a resolver panic into an INTERNAL error and logs the stack.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		id := errorID()
		log.ErrorContext(ctx, "graphql resolver panicked", "error_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return internalError{id: id}
	}
}

func errorID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
