package hardwaretest

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/png" // the renderers write PNG
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// DecodeQRFile reads the QR code in a PNG file back, as a phone or a
// scanner would.
func DecodeQRFile(t testing.TB, png string) string {
	t.Helper()
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	return DecodeQRPNG(t, b)
}

// DecodeQRPNG reads the QR code in PNG data back. Decoders differ:
// gozxing's finder-pattern detector misses about 2 % of valid codes (ones
// zbar and phones read), so a code it misses is read again as a pure
// barcode (a rendered image is one), then by zbar's zbarimg when installed
// (Debian's zbar-tools; CI installs it). A code no decoder reads fails.
func DecodeQRPNG(t testing.TB, data []byte) string {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, hints := range []map[gozxing.DecodeHintType]any{
		{gozxing.DecodeHintType_TRY_HARDER: true},
		{gozxing.DecodeHintType_PURE_BARCODE: true},
	} {
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		q, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
		if err == nil {
			return q.GetText()
		}
		errs = append(errs, err)
	}
	if hasZbar() {
		f := filepath.Join(t.TempDir(), "qr.png")
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
		codes, err := zbar(f)
		if err == nil {
			return codes[0]
		}
		errs = append(errs, err)
	}
	t.Fatalf("no QR code read: %v", errors.Join(errs...))
	return ""
}

// DecodeQRsFile reads every QR code in a PNG file back (a label with a
// return QR carries two), sorted by their text: by zbar's zbarimg when
// installed (gozxing's detector can miss one of several codes and say
// nothing), else by gozxing.
func DecodeQRsFile(t testing.TB, png string) []string {
	t.Helper()
	if hasZbar() {
		codes, err := zbar(png)
		if err != nil {
			t.Fatalf("%s: %v", png, err)
		}
		slices.Sort(codes)
		return codes
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

func hasZbar() bool {
	_, err := exec.LookPath("zbarimg")
	return err == nil
}

// zbar reads every QR code in a PNG file with zbar's zbarimg, one per
// line of its output, in the order it found them.
func zbar(png string) ([]string, error) {
	out, err := exec.Command("zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", png).Output()
	if err != nil {
		return nil, fmt.Errorf("zbarimg: %w", err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), nil
}
