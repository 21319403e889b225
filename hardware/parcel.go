package hardware

import (
	"bytes"
	"fmt"
	"time"

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
	// ReturnQR, when the shop takes returns, is the parcel's signed return
	// code: printed smaller under "RETURN", for the returns desk to scan
	// at drop-off. "" prints none.
	ReturnQR string
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
	if l.ReturnQR != "" {
		// 3-dot modules: a 150-character return code (version 7-8) is
		// about 150 dots wide, bottom right, clear of the label's QR.
		b.WriteString("^FO560,880^A0N,36,36^FDRETURN^FS\n")
		fmt.Fprintf(&b, "^FO540,920^BQN,2,3^FDLA,%s^FS\n", zplText(l.ReturnQR))
	}
	b.WriteString("^XZ\n")
	return b.String()
}

// PDF renders the label as a one-page 100×150 mm PDF, for offices without
// a label printer: print it on paper and tape it on.
func (l ParcelLabel) PDF() ([]byte, error) {
	img, err := QRPNG(l.QR, 800)
	if err != nil {
		return nil, fmt.Errorf("label qr: %w", err)
	}
	var ret []byte
	if l.ReturnQR != "" {
		if ret, err = QRPNG(l.ReturnQR, 400); err != nil {
			return nil, fmt.Errorf("label return qr: %w", err)
		}
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
	x, y, size := 10.0, 60.0, 80.0
	if ret != nil {
		x, y, size = 6, 52, 62 // room for the return QR below
	}
	pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(img))
	pdf.ImageOptions("qr", x, y, size, size, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	if ret != nil {
		pdf.SetFont("Helvetica", "B", 12)
		pdf.SetXY(70, 112)
		pdf.CellFormat(24, 6, "RETURN", "", 0, "C", false, 0, "")
		pdf.RegisterImageOptionsReader("ret", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(ret))
		pdf.ImageOptions("ret", 66, 118, 30, 30, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	}
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, fmt.Errorf("label pdf: %w", err)
	}
	return out.Bytes(), nil
}
