package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/merchd/merchd/checkout"
)

// Test emails are bounded: a burst of TestMailBurst, then one per
// TestMailEvery, per process (an owner's button must not make the shop a
// relay).
const (
	TestMailBurst = 3
	TestMailEvery = 10 * time.Second
)

// SetShopName makes emails name the shop as f says (the owner's setting)
// rather than --shop-name.
func (s *Service) SetShopName(f func(ctx context.Context) string) { s.shopName = f }

// ShopName is the shop's name as emails give it.
func (s *Service) ShopName(ctx context.Context) string {
	if s.shopName != nil {
		if n := s.shopName(ctx); n != "" {
			return n
		}
	}
	return s.cfg.ShopName
}

// EmailInfo is how email leaves the shop, without the password.
type EmailInfo struct {
	Enabled         bool
	Host, From, TLS string
	Port            int
	Auth            bool
}

// Email describes the SMTP server in use.
func (s *Service) Email() EmailInfo {
	c := s.cfg.SMTP
	return EmailInfo{Enabled: s.mailer != nil, Host: c.Host, Port: c.Port, From: c.From, TLS: c.TLS, Auth: c.User != ""}
}

// ErrEmailOff refuses sending while no SMTP server is configured.
var ErrEmailOff = &checkout.Refusal{Code: checkout.CodeEmailOff, Msg: "email is off: no SMTP server is configured (--smtp-host, --smtp-from)"}

// SendTest sends one email to to through the configured SMTP server now,
// not through the outbox, so an owner sees at once whether email works.
// A server that refuses or cannot be reached is EMAIL_FAILED with its
// reply in words. shop names the shop in the message; sender the member
// who asked.
func (s *Service) SendTest(ctx context.Context, to, shop, sender string) error {
	addr, err := mail.ParseAddress(strings.TrimSpace(to))
	if err != nil || len(to) > 254 {
		return checkout.BadInput("to", "%q is not an email address", to)
	}
	if s.mailer == nil {
		return ErrEmailOff
	}
	s.testOnce.Do(func() { s.testLimit = rate.NewLimiter(rate.Every(TestMailEvery), TestMailBurst) })
	if r := s.testLimit.Reserve(); r.Delay() > 0 {
		wait := r.Delay()
		r.Cancel()
		return &checkout.RateLimitError{What: "test email", RetryAfter: max(wait, time.Second)}
	}
	now := s.now().UTC()
	m := Mail{
		To:      addr.Address,
		Subject: "Test email from " + shop,
		Text: fmt.Sprintf("This is a test email from %s, sent by %s at %s.\n\nIf you can read it, the shop's email works: buyers get their order confirmations, pickup passes and password resets.\n",
			shop, sender, now.Format(time.RFC1123)),
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SMTP.Timeout+5*time.Second)
	defer cancel()
	if err := s.mailer.Send(ctx, m); err != nil {
		return &checkout.Refusal{Code: checkout.CodeEmailFailed, Msg: "the email was not sent: " + smtpReason(err)}
	}
	return nil
}

// smtpReason is err in words for the shop's owner: the server's reply, or
// why it could not be reached.
func smtpReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the SMTP server did not answer in time"
	}
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return msg
}
