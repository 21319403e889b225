package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/merchd/merchd/checkout/payments"
	"github.com/merchd/merchd/ent/entdb"
)

// stripeCommand runs `merchd stripe setup`: it creates the webhook
// endpoint merchd needs, pinned to the Stripe API version stripe-go v79
// decodes, and prints its signing secret once.
func stripeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "setup" {
		fmt.Fprintln(stderr, "Usage: merchd stripe setup --url https://shop.example/webhooks/stripe [--database DB]")
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			return nil
		}
		return errors.New("stripe: expected the setup subcommand")
	}
	fs := newFlagSet("stripe setup", "Create the Stripe webhook endpoint merchd needs (pinned to API version "+
		payments.StripeAPIVersion+", subscribed to the events merchd uses) and print its signing secret.\n"+
		"The secret key comes from MERCHD_STRIPE_SECRET_KEY (or MERCHD_STRIPE_SECRET_KEY_FILE).", stderr)
	endpoint := fs.String("url", "", "the public URL of this server's /webhooks/stripe (https)")
	database := fs.String("database", "merchd.db", "SQLite file path, or a postgres:// URL (for this installation's id)")
	apiURL := fs.String("stripe-api-url", "", "Stripe API base URL (for stripe-mock); default Stripe's")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	u, err := url.Parse(*endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return errors.New("stripe setup: --url must be an https URL (http only for localhost), e.g. https://shop.example/webhooks/stripe")
	}
	key, err := secretFromEnv("MERCHD_STRIPE_SECRET_KEY")
	if err != nil {
		return err
	}
	cfg := payments.Config{SecretKey: key, WebhookSecret: "whsec_unused", APIURL: *apiURL}
	if key == "" {
		return errors.New("stripe setup: set MERCHD_STRIPE_SECRET_KEY")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("stripe setup: %w", err)
	}
	db, err := entdb.Open(ctx, entdb.Config{URL: *database})
	if err != nil {
		return err
	}
	defer db.Close()
	install, err := payments.InstallID(ctx, db.Client)
	if err != nil {
		return err
	}
	sp := payments.NewProvider(cfg)
	sp.NamespaceKeys(install)
	we, err := sp.CreateWebhookEndpoint(ctx, u.String())
	if err != nil {
		return fmt.Errorf("stripe setup: %w", err)
	}
	fmt.Fprintf(stdout, "webhook endpoint %s\n  url:         %s\n  api version: %s\n  events:      %s\n",
		we.ID, we.URL, we.APIVersion, strings.Join(we.Events, ", "))
	fmt.Fprintf(stdout, "Set this on every replica (Stripe shows it only now):\nMERCHD_STRIPE_WEBHOOK_SECRET=%s\n", we.Secret)
	return nil
}
