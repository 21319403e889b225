package graphtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// MailServer is a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 that keeps what it receives, for tests of merchd's email.
// It offers STARTTLS with a certificate for 127.0.0.1 that RootCAs
// trusts, and, when User is set, requires AUTH PLAIN with User and
// Password.
type MailServer struct {
	Addr           string // host:port
	Host           string
	Port           int
	User, Password string
	RootCAs        *x509.CertPool

	mu       sync.Mutex
	msgs     []Message
	changed  chan struct{} // closed and replaced on every message
	refuse   int           // the next refuse messages are refused (451)
	hold     chan struct{} // non-nil: DATA waits until it is closed
	dataSeen chan struct{} // closed when a DATA began, while held
}

// Message is an email as received: its envelope and decoded parts.
type Message struct {
	From    string
	To      []string
	Header  mail.Header
	Subject string
	Text    string            // the text/plain part
	HTML    string            // the text/html part
	Inline  map[string][]byte // inline parts by Content-ID (without <>)
	Raw     []byte
}

// NewMailServer starts an SMTP server and stops it when the test ends.
func NewMailServer(t testing.TB, user, password string) *MailServer {
	t.Helper()
	m := &MailServer{User: user, Password: password, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = user == "" // with a user: AUTH only after STARTTLS
	cert, pool := selfSigned(t)
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	m.RootCAs = pool
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	m.Addr = ln.Addr().String()
	m.Host = "127.0.0.1"
	m.Port = ln.Addr().(*net.TCPAddr).Port
	return m
}

// Messages returns what was received so far.
func (m *MailServer) Messages() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.msgs...)
}

// WaitFor waits until at least n messages arrived (failing the test
// after timeout) and returns them all.
func (m *MailServer) WaitFor(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		msgs, ch := append([]Message(nil), m.msgs...), m.changed
		m.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%d emails after %s, want %d", len(msgs), timeout, n)
		}
	}
}

// Refuse makes the server refuse the next n messages (451, try again later).
func (m *MailServer) Refuse(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refuse = n
}

// Hold makes every DATA wait, the message not accepted, until the
// returned release is called, and then refuses it (451): a test kills the
// sender while it waits. began is closed once a DATA is waiting.
func (m *MailServer) Hold() (began <-chan struct{}, release func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hold, m.dataSeen = make(chan struct{}), make(chan struct{})
	hold := m.hold
	var once sync.Once
	return m.dataSeen, func() {
		once.Do(func() {
			m.mu.Lock()
			m.hold = nil
			m.mu.Unlock()
			close(hold)
		})
	}
}

type mailSession struct {
	m      *MailServer
	authed bool
	from   string
	to     []string
}

func (s *mailSession) AuthMechanisms() []string {
	if s.m.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.m.User || pass != s.m.Password {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.m.User != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	hold, seen := s.m.hold, s.m.dataSeen
	s.m.mu.Unlock()
	if hold != nil {
		select {
		case <-seen:
		default:
			close(seen)
		}
		<-hold
		// A held message is never accepted: its sender is meant to die
		// (or time out) while it waits, before the message counts as sent.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "held and dropped"}
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if s.m.refuse > 0 {
		s.m.refuse--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	msg, err := parseMessage(raw)
	if err != nil {
		return fmt.Errorf("parse message: %w", err)
	}
	msg.From, msg.To = s.from, s.to
	s.m.msgs = append(s.m.msgs, msg)
	close(s.m.changed)
	s.m.changed = make(chan struct{})
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

// parseMessage decodes a MIME message's text, HTML and inline parts.
func parseMessage(raw []byte) (Message, error) {
	mm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(mm.Header.Get("Subject"))
	if err != nil {
		return Message{}, err
	}
	msg := Message{Header: mm.Header, Subject: subject, Raw: raw, Inline: map[string][]byte{}}
	err = walkPart(&msg, mm.Header.Get("Content-Type"), mm.Header.Get("Content-Transfer-Encoding"), "", mm.Body)
	return msg, err
}

func walkPart(msg *Message, contentType, encoding, cid string, body io.Reader) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walkPart(msg, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"),
				strings.Trim(p.Header.Get("Content-Id"), "<>"), p); err != nil {
				return err
			}
		}
	}
	b, err := io.ReadAll(decodeTransfer(encoding, body))
	if err != nil {
		return err
	}
	switch {
	case cid != "":
		msg.Inline[cid] = b
	case mt == "text/plain" && msg.Text == "":
		msg.Text = string(b)
	case mt == "text/html" && msg.HTML == "":
		msg.HTML = string(b)
	}
	return nil
}

// selfSigned is a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "merchd test SMTP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func decodeTransfer(encoding string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &lineJoiner{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// lineJoiner drops CR and LF, which base64 bodies wrap at 76 columns.
type lineJoiner struct{ r io.Reader }

func (l *lineJoiner) Read(p []byte) (int, error) {
	for {
		n, err := l.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
