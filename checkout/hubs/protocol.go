// The pop-up protocol's wire types: what a hub and central exchange.

package hubs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/catalog"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/schema/types"
)

// SaleLine is one line of a hub sale, by SKU.
type SaleLine = types.SaleLine

// RemoteSale is a hub sale as the outbox delivers it to central.
type RemoteSale struct {
	SaleID   string     `json:"saleId"`
	Hub      string     `json:"hub"`
	Lines    []SaleLine `json:"lines"`
	Currency string     `json:"currency"`
	PaidWith string     `json:"paidWith"`
	SoldAt   time.Time  `json:"soldAt"`
	// WalletPass is the customer's pass, for WALLET sales.
	WalletPass string `json:"walletPass,omitempty"`
}

// SellLine is what the hub operator rings up.
type SellLine struct {
	VariantID int
	Quantity  int
}

// SaleInput is a sale at a hub: the lines rung up, or (FromTill) what was
// scanned into the till's cart; how it is paid; its idempotency key.
type SaleInput struct {
	Lines    []SellLine
	FromTill bool
	Pay      HubPay
	Key      string
}

// HubPay is how a hub sale is paid.
type HubPay struct {
	// Method is CASH, WALLET, QR (the buyer's phone) or CARD (the hub's
	// reader, online only).
	Method string
	// WalletPass (WALLET) is the customer's pass, signed by central.
	WalletPass string
	// Receipt (QR, CARD) is central's signed receipt for the payment.
	Receipt string
}

// OutboxHubSale is the outbox kind of a hub sale.
const OutboxHubSale = "hubSale"

// CheckSellLines refuses what no sale can be: no lines, more than 50, a
// quantity outside 1 to 100.
func CheckSellLines(lines []SellLine) error {
	if len(lines) == 0 || len(lines) > 50 {
		return checkout.BadInput("lines", "a sale has 1 to 50 lines")
	}
	for _, l := range lines {
		if l.Quantity < 1 || l.Quantity > 100 {
			return checkout.BadInput("lines.quantity", "must be between 1 and 100")
		}
	}
	return nil
}

// PriceLine prices a rung-up line at its variant's price, keeping the sale
// to one currency (*currency is set by the first line).
func PriceLine(ctx context.Context, variants *ent.VariantClient, l SellLine, currency *string) (*ent.Variant, SaleLine, error) {
	v, err := variants.Get(ctx, l.VariantID)
	if err != nil {
		return nil, SaleLine{}, checkout.NotFoundAs(err, "variant")
	}
	if *currency == "" {
		*currency = v.Currency
	} else if *currency != v.Currency {
		return nil, SaleLine{}, checkout.BadInput("lines", "one sale, one currency")
	}
	return v, SaleLine{SKU: v.Sku, Quantity: l.Quantity, UnitAmount: v.PriceAmount}, nil
}

func NewSaleID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AllocationLine is what a hub holds of one SKU; Item, when set, is the
// catalog entry the hub needs to sell it.
type AllocationLine struct {
	SKU       string
	Available int
	VariantID int
	Item      *CatalogItem
}

// CatalogItem is a variant and its product as central lists them, for a
// hub to sell without a link.
type CatalogItem struct {
	ProductSlug, ProductTitle, Description, Vendor string
	ProductStatus                                  string
	Images                                         []catalog.Image
	VariantTitle                                   string
	Options                                        map[string]string
	PriceAmount                                    int64
	CompareAtAmount                                *int64
	Currency                                       string
	Position                                       int
}

// LinkState is a hub's view of its link to central.
type LinkState string

// Link states.
const (
	LinkOnline  LinkState = "ONLINE"
	LinkOffline LinkState = "OFFLINE"
	LinkSyncing LinkState = "SYNCING"
)

// HubQueue is what waits in a hub's outbox.
type HubQueue struct {
	Depth  int
	Oldest *time.Time
}

// LinkReporter is the hub's sync loop as the API shows it.
type LinkReporter interface {
	LinkStatus() (state LinkState, lastSync *time.Time, lastErr string)
}

// SalePrinter prints a hub sale's receipt. A printer state the clerk can
// fix is a *PrinterProblem; any other error is a failure of ours.
type SalePrinter interface {
	PrintSale(ctx context.Context, s RemoteSale) error
}

// LabelPrinter prints a hub sale's smart labels and says how many; its
// errors are as SalePrinter's.
type LabelPrinter interface {
	PrintLabels(ctx context.Context, s RemoteSale) (int, error)
}

// PrinterProblem is a printer's state the clerk can fix (out of paper,
// cover open, switched off or unplugged): Msg is written for the clerk,
// Cause is the driver's error (the printer's address, the network's
// words), for the log only.
type PrinterProblem struct {
	Msg   string
	Cause error
}

func (p *PrinterProblem) Error() string { return p.Msg }
func (p *PrinterProblem) Unwrap() error { return p.Cause }

// OutboxHubReturn is the outbox kind of a hub handing back its stock.
const OutboxHubReturn = "hubReturn"

// ReturnLine is units of one SKU a hub hands back.
type ReturnLine struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// RemoteReturn is a hub's unsold allocation as the outbox delivers it.
type RemoteReturn struct {
	ReturnID string       `json:"returnId"`
	Hub      string       `json:"hub"`
	Lines    []ReturnLine `json:"lines"`
}

// WalletBalance is one customer's wallet as central reports it to hubs.
type WalletBalance struct {
	CustomerID int
	Balance    int64
}

// OfflineWallet is what a hub lets a customer spend from their wallet now.
type OfflineWallet struct {
	Currency                        string
	Balance, Unconfirmed, Spendable int64
	SyncedAt                        time.Time
}

// SumLines totals sale lines with checked arithmetic.
func SumLines(lines []SaleLine) (int64, error) {
	var total int64
	for _, l := range lines {
		amt, err := checkout.LineAmount(l.Quantity, l.UnitAmount)
		if err != nil {
			return 0, err
		}
		if total, err = checkout.AddMoney(total, amt); err != nil {
			return 0, err
		}
	}
	return total, nil
}
