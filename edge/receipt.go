package edge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/hardware"
)

// Receipts prints a hub sale's receipt and opens the cash drawer for cash.
type Receipts struct {
	Printer *hardware.ReceiptPrinter
	// Shop heads the receipt; Cols is characters per line (42 for 80 mm).
	Shop string
	Cols int
	// OrderURL, if set, is printed as a QR code with the sale id appended.
	OrderURL string
}

// PrintSale prints the receipt. A printer that is off or out of paper
// returns a *hubs.PrinterProblem wrapping hardware.ErrPrinterOffline or
// ErrPaperOut; the sale is recorded either way.
func (t *Receipts) PrintSale(ctx context.Context, s hubs.RemoteSale) error {
	return printerProblem("receipt", t.Printer.Print(ctx, SaleReceipt(t.Shop, t.Cols, t.OrderURL, s)))
}

// printerProblem turns the printer states a clerk can fix into a
// hubs.PrinterProblem with a fixed text; the driver's own words (the
// printer's address, the network's error) stay in its Cause.
func printerProblem(which string, err error) error {
	var msg string
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hardware.ErrPaperOut):
		msg = "the " + which + " printer is out of paper"
	case errors.Is(err, hardware.ErrCoverOpen):
		msg = "the " + which + " printer's cover is open"
	case errors.Is(err, hardware.ErrPrinterOffline):
		msg = "the " + which + " printer is off or unreachable: check its power and cable"
	default:
		return err
	}
	return &hubs.PrinterProblem{Msg: msg, Cause: err}
}

// SaleReceipt lays out a hub sale as ESC/POS.
func SaleReceipt(shop string, cols int, orderURL string, s hubs.RemoteSale) *hardware.Receipt {
	r := hardware.NewReceipt(cols)
	r.Align(hardware.Center).Bold(true).Size(2, 2).Line(shop).Size(1, 1).Bold(false)
	r.Line(s.SoldAt.Format("2006-01-02 15:04")).Line("Sale " + SaleNumber(s.SaleID)).Align(hardware.Left).Line(strings.Repeat("-", cols))
	var total int64
	for _, l := range s.Lines {
		amt := int64(l.Quantity) * l.UnitAmount
		total += amt
		r.Line(twoColumns(cols, fmt.Sprintf("%d x %s", l.Quantity, l.SKU), checkout.FormatMoney(amt, s.Currency)))
	}
	r.Line(strings.Repeat("-", cols)).Bold(true).Line(twoColumns(cols, "TOTAL", checkout.FormatMoney(total, s.Currency))).Bold(false)
	r.Line("Paid: " + strings.ToLower(s.PaidWith))
	if orderURL != "" {
		r.Align(hardware.Center).QR(orderURL+s.SaleID, 6)
	}
	r.Feed(3).Cut()
	if s.PaidWith == "CASH" {
		r.OpenDrawer()
	}
	return r
}

func twoColumns(cols int, left, right string) string {
	room := cols - len(right) - 1
	if len(left) > room {
		left = left[:max(room, 0)]
	}
	return left + strings.Repeat(" ", cols-len(left)-len(right)) + right
}

// Labeler prints a smart label for each line of a hub sale (for the bag):
// the sale number, the hub and time, a QR code of the sale's receipt page
// on central, and the SKU as Code 128. All of a sale's labels are one job.
type Labeler struct {
	Printer *hardware.RawPrinter
	// ReceiptURL is where the sale's receipt lives; the sale id is appended.
	ReceiptURL string
}

// PrintLabels prints the sale's labels and returns how many; a printer
// that is off returns a *hubs.PrinterProblem wrapping
// hardware.ErrPrinterOffline.
func (l *Labeler) PrintLabels(ctx context.Context, s hubs.RemoteSale) (int, error) {
	var job strings.Builder
	n := 0
	for _, line := range s.Lines {
		label := hardware.SmartLabel{OrderNumber: SaleNumber(s.SaleID), PickupSlot: s.Hub + " " + s.SoldAt.Format("15:04"),
			OrderURL: l.ReceiptURL + s.SaleID, SKU: line.SKU}
		zpl := label.ZPL()
		for range line.Quantity {
			job.WriteString(zpl)
		}
		n += line.Quantity
	}
	if err := l.Printer.Send(ctx, []byte(job.String())); err != nil {
		return 0, printerProblem("label", err)
	}
	return n, nil
}

// SaleNumber is the short form of a sale id people read: ABCD-1234.
func SaleNumber(saleID string) string {
	n := strings.ToUpper(saleID[:min(len(saleID), 8)])
	if len(n) > 4 {
		n = n[:4] + "-" + n[4:]
	}
	return n
}
