package hardwaretest

import (
	"image"
	_ "image/png" // the renderers write PNG
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// DecodeQRFile reads the QR code in a PNG file back, as a phone or a
// scanner would.
func DecodeQRFile(t testing.TB, png string) string {
	t.Helper()
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
	q, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("no QR code in %s: %v", png, err)
	}
	return q.GetText()
}

// DecodeQRsFile reads every QR code in a PNG file back (a label with a
// return QR carries two), sorted by their text.
func DecodeQRsFile(t testing.TB, png string) []string {
	t.Helper()
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
	rs, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("no QR code in %s: %v", png, err)
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.GetText()
	}
	slices.Sort(out)
	return out
}

// DecodePDFQRs is DecodePDFQR for every QR code on the page, sorted by
// their text.
func DecodePDFQRs(t testing.TB, pdf []byte) []string {
	t.Helper()
	return DecodeQRsFile(t, renderPDF(t, pdf))
}

// DecodePDFQR renders a one-page PDF with poppler's pdftoppm (an
// independent renderer) and reads its QR code back. It skips the test
// when pdftoppm is missing (Debian's poppler-utils; CI installs it).
func DecodePDFQR(t testing.TB, pdf []byte) string {
	t.Helper()
	return DecodeQRFile(t, renderPDF(t, pdf))
}

// renderPDF renders a one-page PDF to a PNG file with pdftoppm, or skips.
func renderPDF(t testing.TB, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftoppm")
	if err != nil {
		t.Skip("needs pdftoppm (apt-get install poppler-utils) to render the PDF label")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "label.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-png", "-r", "200", "-singlefile", in, filepath.Join(dir, "label")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	return filepath.Join(dir, "label.png")
}
