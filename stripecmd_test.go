package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

// TestStripeSetup runs `merchd stripe setup` against stripe-mock: it
// creates the endpoint and prints the signing secret to configure.
func TestStripeSetup(t *testing.T) {
	mock := graphtest.StripeMock(t)
	t.Setenv("MERCHD_STRIPE_SECRET_KEY", "sk_test_123")
	db := "file:" + filepath.Join(t.TempDir(), "m.db")
	var out bytes.Buffer
	err := run(context.Background(), []string{"stripe", "setup", "--url", "https://shop.example/webhooks/stripe",
		"--database", db, "--stripe-api-url", mock}, &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "MERCHD_STRIPE_WEBHOOK_SECRET=") || !strings.Contains(out.String(), "webhook endpoint we_") {
		t.Fatalf("stripe setup: %v\n%s", err, out.String())
	}
	// A plain-http public URL is refused before anything is created.
	if err := run(context.Background(), []string{"stripe", "setup", "--url", "http://shop.example/webhooks/stripe",
		"--database", db, "--stripe-api-url", mock}, io.Discard, io.Discard); err == nil {
		t.Fatal("http URL accepted")
	}
}
