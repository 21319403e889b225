package hardware

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// Printer errors a sale's flow reports clearly (the sale itself stays
// recorded; the receipt can be printed again).
var (
	ErrPrinterOffline = errors.New("hardware: printer is off or unreachable")
	ErrPaperOut       = errors.New("hardware: printer is out of paper")
	ErrCoverOpen      = errors.New("hardware: printer cover is open")
)

// RawPrinter sends bytes to a printer on TCP port 9100 (raw/JetDirect).
type RawPrinter struct {
	Addr    string // host:port
	Timeout time.Duration
}

// ParsePrinterURL reads "tcp://host:9100" (the port defaults to 9100).
func ParsePrinterURL(s string) (*RawPrinter, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "tcp" || u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("hardware: printer %q is not tcp://host[:port]", s)
	}
	if !validHost(u.Hostname()) {
		return nil, fmt.Errorf("hardware: printer %q: %q is not a host name or IP address", s, u.Hostname())
	}
	port := u.Port()
	if port == "" {
		port = "9100"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("hardware: printer %q: port %q is not 1 to 65535", s, port)
	}
	return &RawPrinter{Addr: net.JoinHostPort(u.Hostname(), port), Timeout: 5 * time.Second}, nil
}

// validHost reports whether h is an IP address or a DNS name.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func (p *RawPrinter) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: p.Timeout}
	c, err := d.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPrinterOffline, err)
	}
	_ = c.SetDeadline(time.Now().Add(p.Timeout))
	return c, nil
}

// Send writes raw bytes (ZPL or ESC/POS).
func (p *RawPrinter) Send(ctx context.Context, b []byte) error {
	c, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("%w: %v", ErrPrinterOffline, err)
	}
	return nil
}

// ReceiptPrinter is an ESC/POS printer: it checks paper before printing.
type ReceiptPrinter struct{ RawPrinter }

// Status asks the printer (DLE EOT 2 and 4) whether it can print.
func (p *ReceiptPrinter) Status(ctx context.Context) error {
	c, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	ask := func(n byte) (byte, error) {
		if _, err := c.Write([]byte{dle, eot, n}); err != nil {
			return 0, err
		}
		b := make([]byte, 1)
		if _, err := c.Read(b); err != nil {
			return 0, err
		}
		return b[0], nil
	}
	off, err := ask(2) // offline cause
	if err != nil {
		return fmt.Errorf("%w: no status answer: %v", ErrPrinterOffline, err)
	}
	paper, err := ask(4) // roll paper sensor
	if err != nil {
		return fmt.Errorf("%w: no status answer: %v", ErrPrinterOffline, err)
	}
	switch {
	case paper&0x60 == 0x60 || off&0x20 != 0:
		return ErrPaperOut
	case off&0x04 != 0:
		return ErrCoverOpen
	}
	return nil
}

// Print checks the printer, then sends the receipt.
func (p *ReceiptPrinter) Print(ctx context.Context, r *Receipt) error {
	if err := p.Status(ctx); err != nil {
		return err
	}
	return p.Send(ctx, r.Bytes())
}
