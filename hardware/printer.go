package hardware

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
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
	if err != nil || u.Scheme != "tcp" || u.Hostname() == "" {
		return nil, fmt.Errorf("hardware: printer %q is not tcp://host[:port]", s)
	}
	port := u.Port()
	if port == "" {
		port = "9100"
	}
	return &RawPrinter{Addr: net.JoinHostPort(u.Hostname(), port), Timeout: 5 * time.Second}, nil
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
