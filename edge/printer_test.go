package edge_test

import (
	"net"
	"strings"
	"testing"
)

// TestEdgePrinterTroubleInFixedWords: a sale whose printers fail is
// recorded regardless, and the clerk reads what to fix in fixed words —
// never the driver's (the printer's address, the network's error).
func TestEdgePrinterTroubleInFixedWords(t *testing.T) {
	p := startPopup(t, 20)
	_, port, err := net.SplitHostPort(p.labels.Addr())
	if err != nil {
		t.Fatal(err)
	}
	p.labels.Close() // switched off
	p.printer.SetPaperOut(true)
	s := p.sellOne("printers-down")
	const off = "the label printer is off or unreachable: check its power and cable"
	if s.LabelsPrinted != 0 || s.LabelError == nil || *s.LabelError != off || strings.Contains(*s.LabelError, port) {
		t.Fatalf("labels: %d printed, error %q", s.LabelsPrinted, deref(s.LabelError))
	}
	if s.ReceiptPrinted || s.ReceiptError == nil || *s.ReceiptError != "the receipt printer is out of paper" {
		t.Fatalf("receipt: printed %v, error %v", s.ReceiptPrinted, deref(s.ReceiptError))
	}
	if p.edgeStock() != 19 {
		t.Fatalf("edge stock %d after the sale, want 19", p.edgeStock())
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
