package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"image"
	"image/draw"
	"image/png"
	"io/fs"
	"net/url"
	"path"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	gomail "github.com/wneessen/go-mail"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/viewer"
)

// Mail is one email, rendered.
type Mail struct {
	To      string
	Subject string
	Text    string // the plain-text part
	HTML    string // the HTML alternative
	// MessageID (without angle brackets) is the same on every retry of
	// one delivery, so a receiving server can drop a duplicate.
	MessageID string
	// Inline images, referenced from HTML as cid:<Name>.
	Inline []Inline
}

// Inline is an image shown in the HTML part.
type Inline struct {
	Name string // also its Content-ID
	Type string // "image/png"
	Data []byte
}

// Mailer sends an email; an error means it was not accepted.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// SMTP sends email through an SMTP server (github.com/wneessen/go-mail).
type SMTP struct{ cfg SMTPConfig }

// NewSMTP returns a Mailer for cfg (already validated).
func NewSMTP(cfg SMTPConfig) *SMTP { return &SMTP{cfg: Config{SMTP: cfg}.withDefaults().SMTP} }

// Send connects, sends m, and disconnects.
func (s *SMTP) Send(ctx context.Context, m Mail) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return fmt.Errorf("smtp: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("smtp: to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	for _, in := range m.Inline {
		if err := msg.EmbedReader(in.Name, bytes.NewReader(in.Data), gomail.WithFileContentType(gomail.ContentType(in.Type))); err != nil {
			return fmt.Errorf("smtp: embed %s: %w", in.Name, err)
		}
	}
	opts := []gomail.Option{gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.TLS != TLSNone {
		opts = append(opts, gomail.WithTLSConfig(&tls.Config{ServerName: s.cfg.Host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}))
	}
	opts = append(opts, gomail.WithPort(s.cfg.Port))
	if s.cfg.User != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.User), gomail.WithPassword(string(s.cfg.Password)))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp: send to %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
	}
	return nil
}

//go:embed templates/*.tmpl
var templateFS embed.FS

// templates are the emails, one file per event type
// (templates/<type>.tmpl) defining "subject", "text" and "html", inside
// templates/layout.tmpl's "page" (HTML) and "plain" (text).
type templates struct {
	byType map[string]mailTemplate
}

type mailTemplate struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

const layoutFile = "templates/layout.tmpl"

func loadTemplates() (*templates, error) {
	files, err := fs.Glob(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, err
	}
	t := &templates{byType: map[string]mailTemplate{}}
	for _, f := range files {
		if f == layoutFile {
			continue
		}
		typ := strings.TrimSuffix(path.Base(f), ".tmpl")
		tt, err := texttemplate.New(typ).Funcs(texttemplate.FuncMap(funcs)).ParseFS(templateFS, layoutFile, f)
		if err != nil {
			return nil, fmt.Errorf("notify: template %s: %w", f, err)
		}
		ht, err := htmltemplate.New(typ).Funcs(htmltemplate.FuncMap(funcs)).ParseFS(templateFS, layoutFile, f)
		if err != nil {
			return nil, fmt.Errorf("notify: template %s: %w", f, err)
		}
		t.byType[typ] = mailTemplate{text: tt, html: ht}
	}
	return t, nil
}

func (t *templates) has(typ string) bool { _, ok := t.byType[typ]; return ok }

// MailTypes lists the event types that send an email.
func (s *Service) MailTypes() []string {
	var out []string
	for typ := range s.tmpl.byType {
		out = append(out, typ)
	}
	return out
}

var funcs = map[string]any{
	// money formats minor units (a JSON number or an int64) of a currency.
	"money": func(amount, currency any) string {
		code, _ := currency.(string)
		var n int64
		switch a := amount.(type) {
		case json.Number:
			n, _ = a.Int64()
		case int64:
			n = a
		case int:
			n = int64(a)
		case float64:
			n = int64(a)
		}
		if code == "" {
			return strconv.FormatInt(n, 10)
		}
		return checkout.DisplayMoney(n, code)
	},
}

// mailView is what the templates see.
type mailView struct {
	Shop      string
	PublicURL string
	Name      string // the buyer's name, or ""
	Email     string
	Order     *orderView
	Data      map[string]any // the event's data, email-only keys too
	// Link is the email's call to action: the order's page, or an
	// account link with its token.
	Link string
	// Pass is the pickup pass (shown as the image cid:pass.png) and
	// PickupCode its short code.
	Pass, PickupCode string
}

type orderView struct {
	Number string
	Total  string
	URL    string
	Lines  []lineView
}

type lineView struct {
	Title    string
	Quantity int
	Amount   string
}

// sendMail renders and sends the delivery's email to its event's customer.
func (s *Service) sendMail(ctx context.Context, d *ent.NotificationDelivery) outcome {
	if s.mailer == nil {
		return outcome{skip: "email is off: no SMTP server configured (--smtp-host)"}
	}
	m, skip, err := s.render(ctx, d)
	if err != nil {
		return outcome{err: err}
	}
	if skip != "" {
		return outcome{skip: skip}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SMTP.Timeout+5*time.Second)
	defer cancel()
	if err := s.mailer.Send(ctx, m); err != nil {
		return outcome{err: err}
	}
	return outcome{}
}

// render builds the delivery's email.
func (s *Service) render(ctx context.Context, d *ent.NotificationDelivery) (Mail, string, error) {
	sys := viewer.SystemContext(ctx)
	ev := d.Edges.Event
	t, ok := s.tmpl.byType[ev.Type]
	if !ok {
		return Mail{}, "no email template for " + ev.Type, nil
	}
	c, err := s.db.Customer.Get(sys, ev.CustomerID)
	if ent.IsNotFound(err) {
		return Mail{}, "the customer no longer exists", nil
	} else if err != nil {
		return Mail{}, "", err
	}
	dec := json.NewDecoder(bytes.NewReader(ev.Data))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		return Mail{}, "", fmt.Errorf("decode event data: %w", err)
	}
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	v := mailView{Shop: s.ShopName(ctx), PublicURL: base, Name: c.Name, Email: c.Email, Data: data}
	if ev.OrderID != 0 {
		o, err := s.db.Order.Query().Where(order.ID(ev.OrderID)).WithLines().Only(sys)
		if ent.IsNotFound(err) {
			o = nil // gone since (retention): the email goes without it
		} else if err != nil {
			return Mail{}, "", fmt.Errorf("order %d: %w", ev.OrderID, err)
		}
		if o != nil {
			ov := &orderView{Number: o.Number, Total: checkout.DisplayMoney(o.TotalAmount, o.Currency),
				URL: base + "/orders/" + gid.Encode(o.ID)}
			for _, l := range o.Edges.Lines {
				ov.Lines = append(ov.Lines, lineView{Title: l.Title, Quantity: l.Quantity,
					Amount: checkout.DisplayMoney(int64(l.Quantity)*l.UnitAmount, l.Currency)})
			}
			v.Order, v.Link = ov, ov.URL
		}
	}
	token, _ := data["_token"].(string)
	switch ev.Type {
	case checkout.EventPasswordReset:
		v.Link = base + "/reset-password?token=" + url.QueryEscape(token)
	case checkout.EventEmailVerification:
		v.Link = base + "/verify-email?token=" + url.QueryEscape(token)
	}
	v.Pass, _ = data["_pass"].(string)
	v.PickupCode, _ = data["pickup_code"].(string)
	if v.PickupCode == "" {
		v.PickupCode, _ = data["_pickup_code"].(string)
	}

	var subject, text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&subject, "subject", v); err != nil {
		return Mail{}, "", fmt.Errorf("template %s: %w", ev.Type, err)
	}
	if err := t.text.ExecuteTemplate(&text, "plain", v); err != nil {
		return Mail{}, "", fmt.Errorf("template %s: %w", ev.Type, err)
	}
	if err := t.html.ExecuteTemplate(&html, "page", v); err != nil {
		return Mail{}, "", fmt.Errorf("template %s: %w", ev.Type, err)
	}
	m := Mail{To: c.Email, Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text: text.String(), HTML: html.String(), MessageID: messageID(d.ID, base)}
	if v.Pass != "" {
		img, err := qrPNG(v.Pass)
		if err != nil {
			return Mail{}, "", fmt.Errorf("pickup pass QR: %w", err)
		}
		m.Inline = append(m.Inline, Inline{Name: "pass.png", Type: "image/png", Data: img})
	}
	return m, "", nil
}

// messageID is a delivery's Message-ID: stable across its retries.
func messageID(deliveryID int, base string) string {
	host := "merchd.invalid"
	if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return "notification-" + strconv.Itoa(deliveryID) + "@" + host
}

// qrPNG renders content as a QR code PNG about 5 cm wide: whole pixels
// per module (a fractional scale blurs module edges and phones misread
// them) and the four-module quiet zone scanners need around it.
func qrPNG(content string) ([]byte, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return nil, err
	}
	modules := code.Bounds().Dx()
	px := max(1, 320/(modules+8))
	if code, err = barcode.Scale(code, modules*px, modules*px); err != nil {
		return nil, err
	}
	side := (modules + 8) * px
	img := image.NewGray(image.Rect(0, 0, side, side))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(4*px, 4*px, side-4*px, side-4*px), code, code.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
