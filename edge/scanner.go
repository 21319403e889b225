package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/merchd/merchd/checkout/carts"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/hardware"
)

// Scanner wires a serial barcode scanner to the hub's till: each code read
// adds one unit to the till's cart (hubSell fromTill sells it).
type Scanner struct {
	Path  string // serial device, e.g. /dev/ttyACM0
	Baud  int
	Sales *Sales
	Carts *carts.Service
	Log   *slog.Logger
}

// Run reads until ctx ends; a scanner unplugged or not yet there is
// retried every two seconds.
func (s *Scanner) Run(ctx context.Context) {
	ctx = viewer.SystemContext(ctx)
	for ctx.Err() == nil {
		port, err := hardware.OpenSerialScanner(s.Path, s.Baud)
		if err == nil {
			s.Log.Info("barcode scanner connected", "path", s.Path)
			stop := context.AfterFunc(ctx, func() { port.Close() })
			err = hardware.ScanLines(ctx, port, func(code string) { s.scan(ctx, code) })
			stop()
			port.Close()
		}
		if ctx.Err() != nil {
			return
		}
		s.Log.Warn("barcode scanner unavailable; retrying", "path", s.Path, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

func (s *Scanner) scan(ctx context.Context, code string) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	if _, err := s.Sales.ScanToTill(ctx, s.Carts, code, "scan-"+hex.EncodeToString(b)); err != nil {
		s.Log.Warn("scanned code not added to the till", "code", code, "error", err)
		return
	}
	s.Log.Info("scanned into the till", "code", code)
}
