package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/merchd/merchd/checkout"
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
