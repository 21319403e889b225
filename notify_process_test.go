package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/notificationdelivery"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// TestNotifyExactlyOnceAcrossKill: a password reset one merchd process
// committed, and whose email it was sending when it was killed (the SMTP
// server holding the message, not yet accepted), is sent exactly once by
// the next process on the same database, once the dead one's lease runs
// out; nothing is lost and nothing sent twice.
func TestNotifyExactlyOnceAcrossKill(t *testing.T) {
	bin := graphtest.BuildMerchd(t)
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ms := graphtest.NewMailServer(t, "", "")
			db := graphtest.DatabaseURL(t, d)
			env := []string{"MERCHD_SMTP_HOST=127.0.0.1", "MERCHD_SMTP_PORT=" + strconv.Itoa(ms.Port),
				"MERCHD_SMTP_FROM=Shop <shop@shop.test>", "MERCHD_SMTP_TLS=none", "MERCHD_PUBLIC_URL=https://shop.test"}
			args := []string{"serve", "--addr", "127.0.0.1:0", "--database", db,
				"--smtp-timeout", "3s", "--webhook-timeout", "2s", "--notify-lease", "4s"}

			began, release := ms.Hold()
			defer release()
			a := graphtest.StartCommand(t, bin, env, args...)
			graphtest.Post(t, a.URL+"/query", "", map[string]any{"query": `mutation { signUp(input: {email: "kill@mail.example", password: "correct horse battery"}) { token } }`}).Decode(t, &struct{}{})
			graphtest.Post(t, a.URL+"/query", "", map[string]any{"query": `mutation { requestPasswordReset(input: {email: "kill@mail.example", idempotencyKey: "k"}) { accepted } }`}).Decode(t, &struct{}{})
			select {
			case <-began: // a is inside DATA, the message not accepted
			case <-time.After(30 * time.Second):
				t.Fatal("the first process never sent the email")
			}
			a.Kill(t)
			release()

			graphtest.StartCommand(t, bin, env, args...)
			msgs := ms.WaitFor(t, 1, 60*time.Second)
			if msgs[0].To[0] != "kill@mail.example" {
				t.Fatalf("email to %v", msgs[0].To)
			}

			// The second process records it SENT; then nothing is left to send.
			store, err := entdb.Open(context.Background(), entdb.Config{URL: db})
			graphtest.Must(t, err)
			defer store.Close()
			sys := viewer.SystemContext(context.Background())
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(30 * time.Second)
			for {
				dl := store.Client.NotificationDelivery.Query().OnlyX(sys)
				if dl.Status == notificationdelivery.StatusSENT {
					if dl.Attempts != 2 {
						t.Fatalf("%d attempts, want 2 (the killed one, the sent one)", dl.Attempts)
					}
					break
				}
				select {
				case <-tick.C:
				case <-deadline:
					t.Fatalf("delivery still %s after the email arrived", dl.Status)
				}
			}
			if n := len(ms.Messages()); n != 1 {
				t.Fatalf("%d emails, want exactly 1", n)
			}
			ev := store.Client.OutboxEvent.Query().OnlyX(sys)
			if ev.Type != checkout.EventPasswordReset {
				t.Fatalf("event %s", ev.Type)
			}
		})
	}
}
