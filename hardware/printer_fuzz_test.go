package hardware_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/merchd/merchd/hardware"
)

var printerURLCases = []struct {
	in, addr string // addr "" : refused
}{
	{"tcp://192.168.1.50", "192.168.1.50:9100"},
	{"tcp://192.168.1.50:9101", "192.168.1.50:9101"},
	{"tcp://printer.local/", "printer.local:9100"},
	{"tcp://[::1]:9100", "[::1]:9100"},
	{"http://printer", ""},
	{"tcp://", ""},
	{"tcp://host:0", ""},
	{"tcp://host:70000", ""},
	{"tcp://host:abc", ""},
	{"tcp://user@host", ""},
	{"tcp://host/path", ""},
	{"tcp://host?x=1", ""},
	{"tcp:host", ""},
	{"", ""},
}

func TestParsePrinterURL(t *testing.T) {
	for _, c := range printerURLCases {
		p, err := hardware.ParsePrinterURL(c.in)
		switch {
		case c.addr == "" && err == nil:
			t.Errorf("%q accepted as %s", c.in, p.Addr)
		case c.addr != "" && (err != nil || p.Addr != c.addr):
			t.Errorf("%q: %v %v, want %s", c.in, p, err, c.addr)
		}
	}
}

// FuzzParsePrinterURL: a printer URL either is refused or names a host
// and a port from 1 to 65535 that read back the same.
func FuzzParsePrinterURL(f *testing.F) {
	for _, c := range printerURLCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := hardware.ParsePrinterURL(s)
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(p.Addr)
		if err != nil || host == "" {
			t.Fatalf("%q gave address %q: %v", s, p.Addr, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("%q gave port %q", s, port)
		}
	})
}
