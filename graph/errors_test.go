package graph

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/notify"
	"github.com/merchd/merchd/checkout/qrcodes"
	"github.com/merchd/merchd/checkout/returns"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/privacy"
	"github.com/merchd/merchd/ent/viewer"
)

type logBuffer struct{ strings.Builder }

func TestErrorPresenter(t *testing.T) {
	var logs logBuffer
	present := errorPresenter(slog.New(slog.NewJSONHandler(&logs, nil)))
	customer := viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Customer, CustomerID: 1})
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		err     error
		code    string
		message string
	}{
		{"out of stock", customer, resolverError{fmt.Errorf("checkout: hold 1: %w", checkout.ErrOutOfStock)}, "OUT_OF_STOCK", ""},
		{"input error keeps its message", customer, resolverError{&checkout.InputError{Field: "price", Msg: "amount -1 is negative"}}, "BAD_USER_INPUT", "price: amount -1 is negative"},
		{"bad id", customer, gqlerror.WrapPath(nil, fmt.Errorf("%w: x", gid.ErrInvalidID)), "BAD_USER_INPUT", ""},
		{"privacy denial for a customer", customer, resolverError{fmt.Errorf("ent: %w", privacy.Deny)}, "FORBIDDEN", "forbidden"},
		{"privacy denial for anonymous", context.Background(), resolverError{privacy.Deny}, "UNAUTHENTICATED", "sign in first"},
		{"not found hides detail", customer, resolverError{fmt.Errorf("variant 12345: %w", checkout.ErrNotFound)}, "NOT_FOUND", "not found"},
		{"argument coercion", customer, gqlerror.WrapPath(nil, errors.New("time should be RFC3339Nano formatted string")), "BAD_USER_INPUT", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := present(tc.ctx, tc.err)
			if got.Extensions["code"] != tc.code {
				t.Fatalf("code %v, want %s", got.Extensions["code"], tc.code)
			}
			if tc.message != "" && got.Message != tc.message {
				t.Fatalf("message %q, want %q", got.Message, tc.message)
			}
		})
	}

	t.Run("unexpected errors are INTERNAL with a logged id and no detail", func(t *testing.T) {
		got := present(customer, resolverError{errors.New("pq: connection to 10.0.0.7 refused, password=hunter2")})
		id, _ := got.Extensions["errorId"].(string)
		if got.Extensions["code"] != "INTERNAL" || id == "" || strings.Contains(got.Message, "hunter2") || !strings.Contains(got.Message, id) {
			t.Fatalf("presented %+v", got)
		}
		if !strings.Contains(logs.String(), id) || !strings.Contains(logs.String(), "hunter2") {
			t.Fatalf("the cause is not logged under %s: %s", id, logs.String())
		}
	})
	t.Run("panics are recovered as INTERNAL with the stack logged", func(t *testing.T) {
		err := recoverFunc(slog.New(slog.NewJSONHandler(&logs, nil)))(customer, "boom: nil map")
		got := present(customer, graphql.ErrorOnPath(customer, err))
		id, _ := got.Extensions["errorId"].(string)
		if got.Extensions["code"] != "INTERNAL" || id == "" || strings.Contains(got.Message, "boom") {
			t.Fatalf("presented %+v", got)
		}
		if !strings.Contains(logs.String(), `"error_id":"`+id+`"`) || !strings.Contains(logs.String(), "goroutine") {
			t.Fatalf("panic not logged with id and stack")
		}
	})
}

// TestErrorTable: every sentinel error checkout and its packages declare
// (read from their source, so a new one cannot be left out) has a code in
// checkout's error table, and the presenter sends exactly that code with
// the sentinel's own public text, bare and wrapped with fmt.Errorf's %w,
// whose words are for the log only.
func TestErrorTable(t *testing.T) {
	want := map[string]struct {
		err  error
		code string
	}{
		"checkout.ErrBadInput":              {checkout.ErrBadInput, "BAD_USER_INPUT"},
		"checkout.ErrUnauthenticated":       {checkout.ErrUnauthenticated, "UNAUTHENTICATED"},
		"checkout.ErrForbidden":             {checkout.ErrForbidden, "FORBIDDEN"},
		"checkout.ErrNotFound":              {checkout.ErrNotFound, "NOT_FOUND"},
		"checkout.ErrOutOfStock":            {checkout.ErrOutOfStock, "OUT_OF_STOCK"},
		"checkout.ErrIdempotencyKeyReused":  {checkout.ErrIdempotencyKeyReused, "IDEMPOTENCY_KEY_REUSED"},
		"checkout.ErrInvalidCredentials":    {checkout.ErrInvalidCredentials, "UNAUTHENTICATED"},
		"checkout.ErrEmailTaken":            {checkout.ErrEmailTaken, "BAD_USER_INPUT"},
		"checkout.ErrIdempotencyInProgress": {checkout.ErrIdempotencyInProgress, "IDEMPOTENCY_KEY_REUSED"},
		"checkout.ErrHubSaleMismatch":       {checkout.ErrHubSaleMismatch, "HUB_SALE_MISMATCH"},
		"checkout.ErrDropNotOpen":           {checkout.ErrDropNotOpen, "DROP_NOT_OPEN"},
		"checkout.ErrLimitExceeded":         {checkout.ErrLimitExceeded, "LIMIT_EXCEEDED"},
		"checkout.ErrHoldExpired":           {checkout.ErrHoldExpired, "HOLD_EXPIRED"},
		"checkout.ErrCartCheckedOut":        {checkout.ErrCartCheckedOut, "CART_CHECKED_OUT"},
		"checkout.ErrPaymentDeclined":       {checkout.ErrPaymentDeclined, "PAYMENT_DECLINED"},
		"checkout.ErrPaymentsNotConfigured": {checkout.ErrPaymentsNotConfigured, "BAD_USER_INPUT"},
		"checkout.ErrEmptyCart":             {checkout.ErrEmptyCart, "BAD_USER_INPUT"},
		"checkout.ErrStreamNotLive":         {checkout.ErrStreamNotLive, "STREAM_NOT_LIVE"},
		"checkout.ErrAlreadyMember":         {checkout.ErrAlreadyMember, "ALREADY_MEMBER"},
		"checkout.ErrInsufficientFunds":     {checkout.ErrInsufficientFunds, "INSUFFICIENT_FUNDS"},
		"checkout.ErrRateLimited":           {checkout.ErrRateLimited, "RATE_LIMITED"},
		"checkout.ErrWindowFull":            {checkout.ErrWindowFull, "WINDOW_FULL"},
		"checkout.ErrInvalidToken":          {checkout.ErrInvalidToken, "INVALID_TOKEN"},
		"fulfillment.ErrAlreadyCollected":   {fulfillment.ErrAlreadyCollected, "ALREADY_COLLECTED"},
		"hubs.ErrBadSignedCode":             {hubs.ErrBadSignedCode, "BAD_USER_INPUT"},
		"hubs.ErrReaderBusy":                {hubs.ErrReaderBusy, "BAD_USER_INPUT"},
		"qrcodes.ErrBadQRCode":              {qrcodes.ErrBadQRCode, "BAD_USER_INPUT"},
		"returns.ErrAlreadyReceived":        {returns.ErrAlreadyReceived, "ALREADY_RECEIVED"},
		"notify.ErrEmailOff":                {notify.ErrEmailOff, "EMAIL_OFF"},
	}
	// Not refusals: never the client's doing, INTERNAL should one escape.
	internal := map[string]error{"checkout.ErrDuplicateEvent": checkout.ErrDuplicateEvent}

	declared := declaredSentinels(t, "../checkout")
	for name := range declared {
		if _, ok := want[name]; !ok && internal[name] == nil {
			t.Errorf("%s is declared but not in this test: give it a code in checkout's table and add it here", name)
		}
	}
	for name := range want {
		if !declared[name] {
			t.Errorf("%s is in this test but not declared in checkout: the source scan is broken", name)
		}
	}

	var logs logBuffer
	present := errorPresenter(slog.New(slog.NewJSONHandler(&logs, nil)))
	customer := viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Customer, CustomerID: 1})
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			code, msg, ok := checkout.Public(w.err)
			if !ok || code != w.code || msg != w.err.Error() {
				t.Fatalf("checkout's table: %s %q (ok %v), want %s %q", code, msg, ok, w.code, w.err.Error())
			}
			if checkout.Retryable(code) != (code == "RATE_LIMITED") || checkout.IsRefusalCode(code) == checkout.Retryable(code) {
				t.Fatalf("%s: retryable %v, refusal %v", code, checkout.Retryable(code), checkout.IsRefusalCode(code))
			}
			for _, err := range []error{w.err, fmt.Errorf("checkout: hold 7 of customer 4242: %w", w.err)} {
				got := present(customer, resolverError{err})
				if got.Extensions["code"] != w.code || got.Message != msg {
					t.Fatalf("presented %v as %v %q, want %s %q", err, got.Extensions["code"], got.Message, w.code, msg)
				}
			}
		})
	}
	for name, err := range internal {
		if _, ok := checkout.CodeOf(err); ok {
			t.Errorf("%s has a code: it is not a refusal", name)
		}
		if got := present(customer, resolverError{err}); got.Extensions["code"] != "INTERNAL" {
			t.Errorf("%s presented as %v", name, got.Extensions["code"])
		}
	}
}

// declaredSentinels reads the package-level Err… variables declared in
// the Go files under dir (tests aside), as "package.ErrName".
func declaredSentinels(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Err") {
						out[f.Name.Name+"."+n.Name] = true
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d sentinels under %s", len(out), dir)
	}
	return out
}

// TestOverloadIsUnavailable: a request that cannot finish for want of
// capacity — its deadline passed, PostgreSQL has no connection to give
// ("too many clients", 53300), is starting or stopping, or was cut — is
// UNAVAILABLE (retryable, with retryAfter), never INTERNAL; a database
// error that is a real failure stays INTERNAL.
func TestOverloadIsUnavailable(t *testing.T) {
	ctx := context.Background()
	for _, err := range []error{
		fmt.Errorf("query: %w", context.DeadlineExceeded),
		fmt.Errorf("ent: %w", &pgconn.PgError{Code: "53300", Message: "sorry, too many clients already"}),
		&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"},
		&pgconn.PgError{Code: "08006", Message: "connection failure"},
	} {
		if c := code(ctx, resolverError{err}); c != CodeUnavailable {
			t.Errorf("%v: %s, want UNAVAILABLE", err, c)
		}
	}
	for _, err := range []error{errors.New("boom"), &pgconn.PgError{Code: "42703", Message: "column does not exist"}} {
		if c := code(ctx, resolverError{err}); c != CodeInternal {
			t.Errorf("%v: %s, want INTERNAL", err, c)
		}
	}
	present := errorPresenter(slog.New(slog.DiscardHandler))
	out := present(ctx, resolverError{context.DeadlineExceeded})
	if out.Extensions["code"] != CodeUnavailable || out.Extensions["retryAfter"] != 1 || strings.Contains(out.Message, "deadline") {
		t.Fatalf("presented: %+v", out)
	}
	if !checkout.Retryable(CodeUnavailable) {
		t.Fatal("UNAVAILABLE is not retryable")
	}
}
