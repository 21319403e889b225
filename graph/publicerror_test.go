package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/merchd/merchd/checkout"
)

// TestPublicErrorInPayloads: an error carried inside a payload (a hub
// sale's result) reads like a GraphQL error: a refusal keeps its public
// text and code, our own failure becomes INTERNAL with an id that is
// logged with the cause, which never reaches the client.
func TestPublicErrorInPayloads(t *testing.T) {
	var logs bytes.Buffer
	r := &Resolver{present: errorPresenter(slog.New(slog.NewJSONHandler(&logs, nil)))}
	ctx := context.Background()

	msg, code := r.publicError(ctx, fmt.Errorf("checkout: record sale s1: %w", errors.New(`pq: relation "hub_sales" password=hunter2`)))
	if code != CodeInternal || strings.Contains(msg, "hunter2") || !strings.Contains(msg, "internal error (id ") {
		t.Fatalf("our failure: %q %s", msg, code)
	}
	if !strings.Contains(logs.String(), "hunter2") {
		t.Fatalf("the cause was not logged: %s", logs.String())
	}
	msg, code = r.publicError(ctx, fmt.Errorf("sale s2: %w", checkout.ErrOutOfStock))
	if code != CodeOutOfStock || msg != checkout.ErrOutOfStock.Error() {
		t.Fatalf("a refusal: %q %s", msg, code)
	}
}
