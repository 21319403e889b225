package hardware

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"go.bug.st/serial"
)

// ScanLines reads barcodes from r, one per line (CR, LF or CRLF) — what a
// keyboard-wedge scanner types and what serial scanners send — and calls
// onScan with each, until r ends or ctx is done.
func ScanLines(ctx context.Context, r io.Reader, onScan func(code string)) error {
	sc := bufio.NewScanner(r)
	sc.Split(scanCRLF)
	for sc.Scan() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if code := strings.TrimSpace(sc.Text()); code != "" {
			onScan(code)
		}
	}
	return sc.Err()
}

// scanCRLF splits on CR or LF (scanners differ).
func scanCRLF(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		if c == '\r' || c == '\n' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// OpenSerialScanner opens a scanner on a serial port (e.g. /dev/ttyACM0).
func OpenSerialScanner(path string, baud int) (io.ReadCloser, error) {
	if baud == 0 {
		baud = 9600
	}
	p, err := serial.Open(path, &serial.Mode{BaudRate: baud})
	if err != nil {
		return nil, fmt.Errorf("hardware: open scanner %s: %w", path, err)
	}
	return p, nil
}
