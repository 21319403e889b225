package hardware_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"image"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/merchd/merchd/hardware"
	"github.com/merchd/merchd/hardware/hardwaretest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func root() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(f), "..")
}

// referenceReceipt is the receipt testdata/node/escpos-ref.mjs encodes too.
func referenceReceipt() *hardware.Receipt {
	return hardware.NewReceipt(42).
		Align(hardware.Center).Bold(true).Line("MERCHD POP-UP").Bold(false).
		Align(hardware.Left).Line("Order K7Q-2MXD").
		Underline(true).Line("Tour Tee 2026 M x1").Underline(false).
		Size(2, 2).Line("EUR 35.00").Size(1, 1).
		Align(hardware.Center).QR("https://shop.example/orders/K7Q-2MXD", 6).
		Feed(1).Cut()
}

func TestReceiptGolden(t *testing.T) {
	got := referenceReceipt().Bytes()
	golden := filepath.Join(root(), "testdata", "hardware", "receipt.escpos")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("receipt bytes changed:\n got %x\nwant %x", got, want)
	}
}

// TestReceiptMatchesIndependentEncoder: the same receipt encoded by
// @point-of-sale/receipt-printer-encoder prints the same thing — lines,
// their styles, the QR code and the cut — when both streams are decoded.
func TestReceiptMatchesIndependentEncoder(t *testing.T) {
	dir := filepath.Join(root(), "testdata", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@point-of-sale", "receipt-printer-encoder")); err != nil {
		t.Skip("needs the npm peers: run `npm ci` in testdata/node")
	}
	out, err := exec.Command("node", filepath.Join(dir, "escpos-ref.mjs")).Output()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := hex.DecodeString(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := hardware.Parse(referenceReceipt().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	b, err := hardware.Parse(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("prints differ:\n ours   %+v\n theirs %+v", a, b)
	}
	if len(a.Lines) != 4 || !a.Lines[0].Bold || !a.Lines[2].Underline || !a.Lines[3].Double || len(a.QRCodes) != 1 || a.Cuts != 1 {
		t.Fatalf("decoded receipt: %+v", a)
	}
}

func TestReceiptPrinterAndSimulator(t *testing.T) {
	sim, err := hardware.NewPrinterSimulator()
	if err != nil {
		t.Fatal(err)
	}
	p, err := hardware.ParsePrinterURL("tcp://" + sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	printer := &hardware.ReceiptPrinter{RawPrinter: *p}
	ctx := context.Background()
	r := referenceReceipt().OpenDrawer()
	if err := printer.Print(ctx, r); err != nil {
		t.Fatal(err)
	}
	sim.SetPaperOut(true)
	if err := printer.Print(ctx, r); !errors.Is(err, hardware.ErrPaperOut) {
		t.Fatalf("out of paper: %v", err)
	}
	sim.Close()
	for deadline := time.Now().Add(5 * time.Second); len(sim.Jobs()) < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the printer simulator filed no job within 5s of closing") // it files one when a connection closes
		}
	}
	jobs := sim.Jobs()
	if len(jobs) != 1 || !bytes.Equal(jobs[0], r.Bytes()) {
		t.Fatalf("printed %d jobs; the paper-out attempt must print nothing", len(jobs))
	}
	printed, _ := hardware.Parse(jobs[0])
	if printed.Drawers != 1 || printed.QRCodes[0] != "https://shop.example/orders/K7Q-2MXD" {
		t.Fatalf("printed %+v", printed)
	}
	if err := printer.Print(ctx, r); !errors.Is(err, hardware.ErrPrinterOffline) {
		t.Fatalf("printer off: %v", err)
	}
	if _, err := hardware.ParsePrinterURL("http://x"); err == nil {
		t.Fatal("accepted a non-tcp printer URL")
	}
}

// TestSmartLabelDecodes renders the label with an independent ZPL renderer
// (zebrash via zpl-renderer-js) and reads its QR code and Code 128 back.
func TestSmartLabelDecodes(t *testing.T) {
	dir := filepath.Join(root(), "testdata", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "zpl-renderer-js")); err != nil {
		t.Skip("needs the npm peers: run `npm ci` in testdata/node")
	}
	label := hardware.SmartLabel{OrderNumber: "K7Q-2MXD", PickupSlot: "Table 4, 18:30", OrderURL: "https://shop.example/orders/K7Q-2MXD", SKU: "TOUR-TEE-M"}
	png := filepath.Join(t.TempDir(), "label.png")
	if dir := os.Getenv("MERCHD_ARTIFACTS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		png = filepath.Join(dir, "label.png")
	}
	cmd := exec.Command("node", filepath.Join(dir, "zpl-render.mjs"), png)
	cmd.Stdin = strings.NewReader(label.ZPL())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("render: %v\n%s", err, out)
	}
	f, err := os.Open(png)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	q, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil || q.GetText() != label.OrderURL {
		t.Fatalf("QR code: %v %v", q, err)
	}
	c, err := oned.NewCode128Reader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil || c.GetText() != label.SKU {
		t.Fatalf("Code 128: %v %v", c, err)
	}
}

// TestSerialScanner reads a barcode through a real pty pair (socat).
func TestSerialScanner(t *testing.T) {
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("needs socat: apt-get install socat")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "scanA"), filepath.Join(dir, "scanB")
	socat := exec.Command("socat", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	if err := socat.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { socat.Process.Kill(); socat.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(b); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("socat made no pty at %s within 5s: %v", b, err)
		}
	}
	port, err := hardware.OpenSerialScanner(b, 9600)
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	codes := make(chan string, 4)
	go hardware.ScanLines(context.Background(), port, func(c string) { codes <- c })
	w, err := os.OpenFile(a, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write([]byte("TOUR-TEE-M\r4006381333931\r\n"))
	for _, want := range []string{"TOUR-TEE-M", "4006381333931"} {
		select {
		case got := <-codes:
			if got != want {
				t.Fatalf("scanned %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no scan of %s", want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(referenceReceipt().Bytes())
	f.Add([]byte{0x1d, '(', 'k', 0xff, 0xff})
	f.Add([]byte{0x1b})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = hardware.Parse(b) // must not panic, whatever arrives
	})
}

// TestParcelLabelDecodes renders a parcel label (with a signed code as
// long as central's) as ZPL through the independent ZPL renderer and as a
// PDF through poppler, and reads the QR code back from both.
func TestParcelLabelDecodes(t *testing.T) {
	l := hardware.ParcelLabel{OrderNumber: "K7Q-2MXD", Method: "PICKUP", Node: "venue-1", Due: time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC),
		Packaging: "bag-compostable", PickupCode: "H7K2QP",
		QR: "https://shop.example/l/M1." + strings.Repeat("eyJrIjoibGFiZWwiLCJmIjo0Mn0", 6) + ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJl"}
	pdf, err := l.PDF()
	if err != nil {
		t.Fatal(err)
	}
	if got := hardwaretest.DecodePDFQR(t, pdf); got != l.QR {
		t.Fatalf("PDF label QR reads %q", got)
	}
	dir := filepath.Join(root(), "testdata", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "zpl-renderer-js")); err != nil {
		t.Skip("needs the npm peers: run `npm ci` in testdata/node")
	}
	png := filepath.Join(t.TempDir(), "parcel.png")
	cmd := exec.Command("node", filepath.Join(dir, "zpl-render.mjs"), png, "101.6", "152.4")
	cmd.Stdin = strings.NewReader(l.ZPL())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("render: %v\n%s", err, out)
	}
	if got := hardwaretest.DecodeQRFile(t, png); got != l.QR {
		t.Fatalf("ZPL label QR reads %q", got)
	}
}

// TestParcelLabelReturnQR: a label with the parcel's return QR carries
// both codes, each read back from the ZPL (rendered by zebrash) and from
// the PDF (rendered by poppler).
func TestParcelLabelReturnQR(t *testing.T) {
	l := hardware.ParcelLabel{OrderNumber: "K7Q-2MXD", Method: "SHIPPING", Node: "central", Packaging: "mailer-M",
		QR:       "M1." + strings.Repeat("eyJrIjoibGFiZWwiLCJmIjo0Mn0", 6) + ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJl",
		ReturnQR: "M1.eyJrIjoicmV0dXJubGFiZWwiLCJmIjo0MiwibyI6NDF9." + strings.Repeat("c2lnbmF0dXJl", 7)}
	want := []string{l.QR, l.ReturnQR}
	slices.Sort(want)
	pdf, err := l.PDF()
	if err != nil {
		t.Fatal(err)
	}
	if got := hardwaretest.DecodePDFQRs(t, pdf); !slices.Equal(got, want) {
		t.Fatalf("PDF label QRs read %q, want %q", got, want)
	}
	if z := l.ZPL(); strings.Count(z, "^BQN") != 2 || !strings.Contains(z, "^FDRETURN^FS") {
		t.Fatalf("ZPL label:\n%s", z)
	}
	dir := filepath.Join(root(), "testdata", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "zpl-renderer-js")); err != nil {
		t.Skip("needs the npm peers: run `npm ci` in testdata/node")
	}
	png := filepath.Join(t.TempDir(), "parcel.png")
	cmd := exec.Command("node", filepath.Join(dir, "zpl-render.mjs"), png, "101.6", "152.4")
	cmd.Stdin = strings.NewReader(l.ZPL())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("render: %v\n%s", err, out)
	}
	if got := hardwaretest.DecodeQRsFile(t, png); !slices.Equal(got, want) {
		t.Fatalf("ZPL label QRs read %q, want %q", got, want)
	}
}
