package hardware

import (
	"bytes"
	"fmt"
	"image/png"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	"github.com/go-pdf/fpdf"
)

// ParcelLabel is what goes on a parcel or pickup bag: the order, where it
// ships from or waits, its SLA deadline and packaging, and a QR code that
// carries the fulfilment's signed label code (scanned at every step).
type ParcelLabel struct {
	OrderNumber string // e.g. K7Q-2MXD
	Method      string // PICKUP, LOCAL_DELIVERY, SHIPPING
	Node        string // the location code
	Due         time.Time
	Packaging   string
	PickupCode  string // the fallback code, for pickups
	QR          string // the signed label code, or a URL ending in it
}

func (l ParcelLabel) lines() []string {
	out := []string{l.Method + " · " + l.Node}
	if !l.Due.IsZero() {
		out = append(out, "Due "+l.Due.UTC().Format("Mon 02 Jan 15:04 MST"))
	}
	if l.Packaging != "" {
		out = append(out, "Pack: "+l.Packaging)
	}
	if l.PickupCode != "" {
		out = append(out, "Code: "+l.PickupCode)
	}
	return out
}

// ZPL renders the label for a 4×6 inch (812×1218 dots at 203 dpi) printer.
// The QR code uses 5-dot modules: a 300-character signed code (version
// 10–13) stays under 400 dots wide.
func (l ParcelLabel) ZPL() string {
	var b bytes.Buffer
	b.WriteString("^XA^CI28^PW812^LL1218\n")
	fmt.Fprintf(&b, "^FO40,40^A0N,80,80^FD%s^FS\n", zplText(l.OrderNumber))
	for i, s := range l.lines() {
		fmt.Fprintf(&b, "^FO40,%d^A0N,40,40^FD%s^FS\n", 150+i*55, zplText(s))
	}
	fmt.Fprintf(&b, "^FO40,420^BQN,2,5^FDLA,%s^FS\n", zplText(l.QR))
	b.WriteString("^XZ\n")
	return b.String()
}

// PDF renders the label as a one-page 100×150 mm PDF, for offices without
// a label printer: print it on paper and tape it on.
func (l ParcelLabel) PDF() ([]byte, error) {
	code, err := qr.Encode(l.QR, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("label qr: %w", err)
	}
	// Whole pixels per module keep the code crisp when printed.
	side := code.Bounds().Dx() * 8
	if code, err = barcode.Scale(code, side, side); err != nil {
		return nil, err
	}
	var img bytes.Buffer
	if err := png.Encode(&img, code); err != nil {
		return nil, err
	}
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "mm", Size: fpdf.SizeType{Wd: 100, Ht: 150}})
	pdf.SetCreationDate(time.Unix(0, 0).UTC()) // the same label renders to the same bytes
	pdf.SetMargins(6, 6, 6)
	pdf.SetAutoPageBreak(false, 0)
	pdf.AddPage()
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	pdf.SetFont("Helvetica", "B", 26)
	pdf.CellFormat(88, 12, tr(l.OrderNumber), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 12)
	for _, s := range l.lines() {
		pdf.CellFormat(88, 7, tr(s), "", 1, "L", false, 0, "")
	}
	pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, &img)
	pdf.ImageOptions("qr", 10, 60, 80, 80, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, fmt.Errorf("label pdf: %w", err)
	}
	return out.Bytes(), nil
}
