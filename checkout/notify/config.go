package notify

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
)

// Config is what notifications are built from. The zero value of each
// optional field is its documented default (DefaultConfig).
type Config struct {
	SMTP SMTPConfig
	// ShopName signs the emails ("merchd" when empty).
	ShopName string
	// PublicURL is the shop's public base URL (https://shop.example):
	// every link in an email starts with it.
	PublicURL string
	// AllowPrivateWebhooks lets endpoints on loopback and private
	// addresses register and receive (tests; an all-internal setup).
	AllowPrivateWebhooks bool
	// MaxAttempts a delivery gets before it is DEAD.
	MaxAttempts int
	// Backoff is the wait after the first failure, doubling after each
	// next one up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Lease is how long a worker owns a delivery it is sending; after it,
	// another worker may send it (the first one died). It must outlast
	// the SMTP and webhook timeouts.
	Lease time.Duration
	// WebhookTimeout bounds one webhook POST.
	WebhookTimeout time.Duration
	// Interval is how often the worker looks for due deliveries (it is
	// also woken by every commit on this replica).
	Interval time.Duration
	// Workers is how many deliveries are sent at once.
	Workers int
	// Retention is how long events are kept once none of their
	// deliveries is pending (staff see their webhooks' last responses).
	Retention time.Duration
}

// SMTPConfig is the mail server. Host "" turns email off: email
// deliveries are marked SKIPPED, webhooks still go.
type SMTPConfig struct {
	Host string
	// Port 0 is 587, or 465 with TLS "tls".
	Port int
	User string
	// Password comes only from MERCHD_SMTP_PASSWORD or the file named by
	// MERCHD_SMTP_PASSWORD_FILE.
	Password checkout.Secret
	// From is the sender, "Shop <orders@shop.example>" or a bare address.
	From string
	// TLS is "starttls" (required STARTTLS, port 587), "tls" (implicit
	// TLS, port 465), "opportunistic" (STARTTLS when offered) or "none".
	TLS     string
	Timeout time.Duration
	// RootCAs verify the server's certificate (nil: the system's roots).
	RootCAs *x509.CertPool
}

// Enabled reports whether email is configured.
func (c SMTPConfig) Enabled() bool { return c.Host != "" }

// TLS modes.
const (
	TLSStartTLS      = "starttls"
	TLSImplicit      = "tls"
	TLSOpportunistic = "opportunistic"
	TLSNone          = "none"
)

// DefaultConfig is notifications with email off.
func DefaultConfig() Config {
	return Config{
		ShopName:       "merchd",
		MaxAttempts:    12,
		Backoff:        30 * time.Second,
		MaxBackoff:     6 * time.Hour,
		Lease:          2 * time.Minute,
		WebhookTimeout: 10 * time.Second,
		Interval:       5 * time.Second,
		Workers:        4,
		Retention:      30 * 24 * time.Hour,
		SMTP:           SMTPConfig{TLS: TLSStartTLS, Timeout: 30 * time.Second},
	}
}

// withDefaults fills the zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ShopName == "" {
		c.ShopName = d.ShopName
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.Backoff == 0 {
		c.Backoff = d.Backoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = d.MaxBackoff
	}
	if c.Lease == 0 {
		c.Lease = d.Lease
	}
	if c.WebhookTimeout == 0 {
		c.WebhookTimeout = d.WebhookTimeout
	}
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.Retention == 0 {
		c.Retention = d.Retention
	}
	if c.SMTP.TLS == "" {
		c.SMTP.TLS = d.SMTP.TLS
	}
	if c.SMTP.Port == 0 {
		c.SMTP.Port = 587 // submission, STARTTLS
		if c.SMTP.TLS == TLSImplicit {
			c.SMTP.Port = 465
		}
	}
	if c.SMTP.Timeout == 0 {
		c.SMTP.Timeout = d.SMTP.Timeout
	}
	return c
}

// Validate reports unusable settings, all of them at once, naming the
// flags that set them.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--public-url %q is not an http(s) URL like https://shop.example", c.PublicURL))
		}
	}
	if len(c.ShopName) > 100 {
		errs = append(errs, fmt.Errorf("--shop-name is longer than 100 characters"))
	}
	if s := c.SMTP; s.Enabled() {
		if s.Port < 1 || s.Port > 65535 {
			errs = append(errs, fmt.Errorf("--smtp-port %d is not a port", s.Port))
		}
		switch s.TLS {
		case TLSStartTLS, TLSImplicit, TLSOpportunistic, TLSNone:
		default:
			errs = append(errs, fmt.Errorf("--smtp-tls %q: starttls, tls, opportunistic or none", s.TLS))
		}
		if s.From == "" {
			errs = append(errs, errors.New("--smtp-from is required with --smtp-host (the sender, e.g. \"Shop <orders@shop.example>\")"))
		} else if _, err := mail.ParseAddress(s.From); err != nil {
			errs = append(errs, fmt.Errorf("--smtp-from %q is not an email address", s.From))
		}
		if (s.User == "") != (s.Password == "") {
			errs = append(errs, errors.New("--smtp-user and MERCHD_SMTP_PASSWORD (or MERCHD_SMTP_PASSWORD_FILE) go together"))
		}
		if s.User != "" && s.TLS == TLSNone {
			errs = append(errs, errors.New("--smtp-user with --smtp-tls none would send the password in clear: use starttls or tls"))
		}
		if s.Timeout < time.Second {
			errs = append(errs, fmt.Errorf("--smtp-timeout %s is shorter than a second", s.Timeout))
		}
		if c.PublicURL == "" {
			errs = append(errs, errors.New("--public-url is required with --smtp-host: the links in emails start with it"))
		}
		if c.Lease <= s.Timeout {
			errs = append(errs, fmt.Errorf("--notify-lease %s must outlast --smtp-timeout %s", c.Lease, s.Timeout))
		}
		if strings.ContainsAny(s.Host, "/: ") {
			errs = append(errs, fmt.Errorf("--smtp-host %q: a host name, the port goes in --smtp-port", s.Host))
		}
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		errs = append(errs, fmt.Errorf("--notify-max-attempts %d is outside 1..100", c.MaxAttempts))
	}
	if c.Backoff < time.Second || c.MaxBackoff < c.Backoff {
		errs = append(errs, fmt.Errorf("notification backoff %s..%s: at least a second, and the first not above the last", c.Backoff, c.MaxBackoff))
	}
	if c.WebhookTimeout < time.Second || c.Lease <= c.WebhookTimeout {
		errs = append(errs, fmt.Errorf("--notify-lease %s must outlast the webhook timeout %s", c.Lease, c.WebhookTimeout))
	}
	if c.Interval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("notification interval %s is below 10ms", c.Interval))
	}
	if c.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("notification retention %s is shorter than a day", c.Retention))
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, fmt.Errorf("notification workers %d is outside 1..64", c.Workers))
	}
	return errors.Join(errs...)
}
