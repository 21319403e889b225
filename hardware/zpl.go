package hardware

import (
	"fmt"
	"strings"
)

// SmartLabel is what goes on a pickup label.
type SmartLabel struct {
	OrderNumber string // e.g. K7Q-2MXD
	PickupSlot  string // e.g. "Table 4 · 18:30"
	OrderURL    string // encoded in the QR code
	SKU         string // encoded as Code 128
}

// ZPL renders the label for a 4×3 inch (812×609 dots at 203 dpi) printer.
func (l SmartLabel) ZPL() string {
	var b strings.Builder
	b.WriteString("^XA^CI28^PW812^LL609\n")
	fmt.Fprintf(&b, "^FO40,30^A0N,60,60^FD%s^FS\n", zplText(l.OrderNumber))
	fmt.Fprintf(&b, "^FO40,105^A0N,34,34^FDPickup: %s^FS\n", zplText(l.PickupSlot))
	fmt.Fprintf(&b, "^FO40,170^BQN,2,6^FDMA,%s^FS\n", zplText(l.OrderURL))
	// 2-dot modules keep a 20-character SKU (and its quiet zone) on the label.
	fmt.Fprintf(&b, "^FO360,200^BY2^BCN,120,Y,N,N^FD%s^FS\n", zplText(l.SKU))
	b.WriteString("^XZ\n")
	return b.String()
}

// zplText keeps field data from ending the field or starting a command.
func zplText(s string) string {
	return strings.NewReplacer("^", " ", "~", " ", "\n", " ").Replace(s)
}
