package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/notify"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestConsoleSettingsInChromium: at desktop and tablet size the owner
// changes the shop's name and brand colour and the storefront shows them
// after a reload; adds a staff member and an API token whose secret is
// shown once, and revokes it (it stops working); sends a test email that
// arrives at a real SMTP server; the audit log shows these writes. A
// clerk and a staff member cannot open settings: the page says so and
// the API refuses them (FORBIDDEN).
func TestConsoleSettingsInChromium(t *testing.T) {
	ms := graphtest.NewMailServer(t, "mailer", "s3cret-pass")
	cfg := graphtest.TestNotify()
	cfg.SMTP = notify.SMTPConfig{Host: ms.Host, Port: ms.Port, User: ms.User, Password: checkout.Secret(ms.Password),
		From: "Night Owl <orders@shop.test>", TLS: notify.TLSStartTLS, Timeout: 10 * time.Second, RootCAs: ms.RootCAs}
	c := newConsole(t, graphtest.Options{Notify: &cfg})
	c.run(t, "console-settings.mjs", 20)

	msgs := ms.WaitFor(t, 2, 10*time.Second) // one per screen size
	for _, m := range msgs {
		if len(m.To) != 1 || !strings.HasPrefix(m.To[0], "ops-") || !strings.Contains(m.Subject, "Test email from Harbour Lights") { // the name just set
			t.Fatalf("test email: to %v subject %q", m.To, m.Subject)
		}
	}
}
