// Package hardware drives the devices on a pop-up's table: ESC/POS receipt
// printers and ZPL label printers over TCP 9100, and barcode scanners on a
// serial port or as keyboard-wedge lines. It is a leaf: it knows nothing of
// the shop. Each device has a simulator that speaks the real wire format.
package hardware

import (
	"bytes"
	"errors"
	"strings"
)

// ESC/POS control bytes.
const (
	esc = 0x1b
	gs  = 0x1d
	fs  = 0x1c
	dle = 0x10
	eot = 0x04
)

// Align is a receipt line's alignment.
type Align int

// Alignments.
const (
	Left Align = iota
	Center
	Right
)

// Receipt builds ESC/POS bytes. Text lines are laid out in software for the
// paper's column count (so alignment needs no printer state); block
// elements (QR codes) use the printer's justification. Non-ASCII characters
// print as '?' (code page 437).
type Receipt struct {
	buf     bytes.Buffer
	cols    int
	align   Align
	width   int // character width factor from Size
	started bool
}

// NewReceipt starts a receipt for paper with cols characters per line
// (42 for 80 mm paper with font A is typical; 32 for 58 mm).
func NewReceipt(cols int) *Receipt {
	r := &Receipt{cols: cols, width: 1}
	r.buf.Write([]byte{esc, '@', fs, '.', esc, 'M', 0}) // initialize, no Kanji, font A
	return r
}

// Align sets the alignment of the following lines.
func (r *Receipt) Align(a Align) *Receipt { r.align = a; return r }

// Bold turns emphasis on or off.
func (r *Receipt) Bold(on bool) *Receipt { r.buf.Write([]byte{esc, 'E', b2i(on)}); return r }

// Underline turns underlining on or off.
func (r *Receipt) Underline(on bool) *Receipt { r.buf.Write([]byte{esc, '-', b2i(on)}); return r }

// Size sets character width and height factors (1–8).
func (r *Receipt) Size(w, h int) *Receipt {
	w, h = clamp(w, 1, 8), clamp(h, 1, 8)
	r.width = w
	r.buf.Write([]byte{gs, '!', byte((w-1)<<4 | (h - 1))})
	return r
}

// Line prints one line of text, truncated to the paper's width.
func (r *Receipt) Line(text string) *Receipt {
	t := ascii(text)
	room := r.cols / r.width
	if len(t) > room {
		t = t[:room]
	}
	pad := 0
	switch r.align {
	case Center:
		pad = (room - len(t)) / 2
	case Right:
		pad = room - len(t)
	}
	r.buf.WriteString(strings.Repeat(" ", pad*r.width))
	if !r.started {
		r.buf.Write([]byte{esc, 't', 0}) // code page 437
		r.started = true
	}
	r.buf.WriteString(t)
	r.buf.WriteByte('\n')
	return r
}

// QR prints a QR code (model 2, error correction M) of module size 1–16.
func (r *Receipt) QR(data string, size int) *Receipt {
	size = clamp(size, 1, 16)
	r.buf.Write([]byte{esc, 'a', byte(r.align)})
	r.buf.Write([]byte{gs, '(', 'k', 4, 0, '1', 'A', '2', 0})     // model 2
	r.buf.Write([]byte{gs, '(', 'k', 3, 0, '1', 'C', byte(size)}) // module size
	r.buf.Write([]byte{gs, '(', 'k', 3, 0, '1', 'E', '1'})        // error correction M
	n := len(data) + 3
	r.buf.Write([]byte{gs, '(', 'k', byte(n), byte(n >> 8), '1', 'P', '0'}) // store
	r.buf.WriteString(data)
	r.buf.Write([]byte{gs, '(', 'k', 3, 0, '1', 'Q', '0'}) // print
	r.buf.WriteByte('\n')
	r.buf.Write([]byte{esc, 'a', 0})
	return r
}

// Feed advances the paper n lines.
func (r *Receipt) Feed(n int) *Receipt {
	r.buf.Write(bytes.Repeat([]byte{'\n'}, clamp(n, 0, 255)))
	return r
}

// Cut feeds and cuts the paper (partially: the receipt hangs until torn).
func (r *Receipt) Cut() *Receipt { r.buf.Write([]byte{gs, 'V', 1, '\n'}); return r }

// OpenDrawer kicks the cash drawer on connector pin 2.
func (r *Receipt) OpenDrawer() *Receipt { r.buf.Write([]byte{esc, 'p', 0, 25, 250}); return r }

// Bytes returns the encoded receipt.
func (r *Receipt) Bytes() []byte { return bytes.Clone(r.buf.Bytes()) }

func b2i(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func clamp(n, lo, hi int) int { return max(lo, min(hi, n)) }

func ascii(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r >= 0x20 && r < 0x7f {
			b = append(b, byte(r))
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}

// Printed is what an ESC/POS stream puts on paper, for checks and the
// simulator: text lines with their styles, QR codes, cuts, drawer kicks.
type Printed struct {
	Lines   []PrintedLine
	QRCodes []string
	Cuts    int
	Drawers int
}

// PrintedLine is one printed line.
type PrintedLine struct {
	Text      string // without alignment padding
	Bold      bool
	Underline bool
	Double    bool
}

// ErrMalformed is an ESC/POS stream that ends inside a command.
var ErrMalformed = errors.New("hardware: malformed ESC/POS stream")

// Parse decodes an ESC/POS stream into what it prints. It understands the
// commands receipts use and skips other fixed-length ones.
func Parse(b []byte) (Printed, error) {
	var p Printed
	var cur strings.Builder
	var bold, under, double bool
	var lineBold, lineUnder, lineDouble bool
	flush := func() {
		if t := strings.TrimSpace(cur.String()); t != "" {
			p.Lines = append(p.Lines, PrintedLine{Text: t, Bold: lineBold, Underline: lineUnder, Double: lineDouble})
		}
		cur.Reset()
		lineBold, lineUnder, lineDouble = false, false, false
	}
	need := func(i, n int) error {
		if i+n > len(b) {
			return ErrMalformed
		}
		return nil
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '\n':
			flush()
			i++
		case c == esc:
			if err := need(i, 2); err != nil {
				return p, err
			}
			switch b[i+1] {
			case '@':
				i += 2
			case 'E':
				if err := need(i, 3); err != nil {
					return p, err
				}
				bold = b[i+2]&1 == 1
				i += 3
			case '-':
				if err := need(i, 3); err != nil {
					return p, err
				}
				under = b[i+2] != 0 && b[i+2] != '0'
				i += 3
			case 'p':
				if err := need(i, 5); err != nil {
					return p, err
				}
				p.Drawers++
				i += 5
			default: // ESC a/t/M/d/J … n: one parameter byte
				if err := need(i, 3); err != nil {
					return p, err
				}
				i += 3
			}
		case c == gs:
			if err := need(i, 2); err != nil {
				return p, err
			}
			switch b[i+1] {
			case '!':
				if err := need(i, 3); err != nil {
					return p, err
				}
				double = b[i+2] != 0
				i += 3
			case 'V':
				if err := need(i, 3); err != nil {
					return p, err
				}
				p.Cuts++
				if b[i+2] >= 65 { // function B carries a feed amount
					i++
				}
				i += 3
			case '(':
				if err := need(i, 5); err != nil {
					return p, err
				}
				n := int(b[i+3]) | int(b[i+4])<<8
				if err := need(i, 5+n); err != nil {
					return p, err
				}
				args := b[i+5 : i+5+n]
				if b[i+2] == 'k' && len(args) >= 3 && args[0] == '1' && args[1] == 'P' {
					p.QRCodes = append(p.QRCodes, string(args[3:]))
				}
				i += 5 + n
			default:
				i += 3
			}
		case c == fs:
			i += 2
		case c == dle:
			i += 3
		case c >= 0x20:
			// A line has the style its first printed character had.
			if c != ' ' && strings.TrimSpace(cur.String()) == "" {
				lineBold, lineUnder, lineDouble = bold, under, double
			}
			cur.WriteByte(c)
			i++
		default:
			i++
		}
	}
	flush()
	return p, nil
}
