package hubs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/catalog"
	"github.com/merchd/merchd/checkout/inventory"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/hubpassspend"
	"github.com/merchd/merchd/ent/hubsale"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/schema/types"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/wallet"
	"github.com/merchd/merchd/ent/walletentry"
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

// Service is central's side of the pop-up protocol: it leases stock to
// hubs, records each delivered hub sale exactly once (pricing it itself,
// and charging a wallet pass at most its limit over every hub), takes
// phone and card payments for hub sales, and takes back what a hub
// returns when it closes. The hub's side is edge.Sales.
type Service struct {
	db      *ent.Client
	dialect string
	now     func() time.Time
	txn.Announcer

	// The most one wallet pass pays at hubs, in total.
	hubWalletLimit int64
	// The key codes are signed with, and the ledger.
	signer   *Signer
	wallets  *wallets.Service
	pay      checkout.PaymentProvider
	terminal Terminal
}

// New returns central's hub service.
func New(db *ent.Client, dialectName string, now func() time.Time) *Service {
	return &Service{db: db, dialect: dialectName, now: now, hubWalletLimit: DefaultHubWalletLimit}
}

// DefaultHubWalletLimit is the most a hub spends from one customer's
// wallet before central confirms (minor units), unless configured.
const DefaultHubWalletLimit = 2000

// LimitHubWalletSales sets, on central, the most one wallet pass pays at
// hubs, over every sale made with it at every hub: a hub's offline limit,
// which central does not take on the hub's word. What a hub sold beyond it
// is a SHORTFALL for staff.
func (h *Service) LimitHubWalletSales(limit int64) { h.hubWalletLimit = limit }

// Central makes these the services central records hub sales with; pay
// (nil: no card payments) takes phone payments for hub sales.
func (h *Service) Central(signer *Signer, wallets *wallets.Service, pay checkout.PaymentProvider) {
	h.signer, h.wallets, h.pay = signer, wallets, pay
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

// checkSellLines refuses what no sale can be: no lines, more than 50, a
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

// priceLine prices a rung-up line at its variant's price, keeping the sale
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

// RecordResult is central's answer to one delivered hub sale.
type RecordResult struct {
	// Applied: this delivery recorded the sale (false for a redelivery).
	Applied bool
	// Conflict: the sale was recorded for staff to reconcile (why): without
	// touching stock when it cannot be applied, or, for a wallet sale the
	// wallet could not cover in full, with the shortfall to settle.
	Conflict string
	// WalletBalance, for a wallet sale, is the wallet's balance on central
	// now: what the hub spends against next.
	WalletBalance *int64
}

// Record applies a hub's sale on central, once per sale id however often it
// is delivered: the hub's stock there (its allocation) goes down by what
// was sold. A sale that cannot apply (beyond the allocation, an unknown
// SKU) is kept as a CONFLICT record for staff instead: never lost, never
// counted twice.
func (h *Service) Record(ctx context.Context, s RemoteSale) (RecordResult, error) {
	if err := checkout.RequireHub(ctx, s.Hub); err != nil {
		return RecordResult{}, err
	}
	if s.SaleID == "" || len(s.SaleID) > 64 || !checkout.ValidHubCode(s.Hub) || len(s.Lines) == 0 || len(s.Lines) > 50 || !checkout.IsCurrencyCode(s.Currency) {
		return RecordResult{}, checkout.BadInput("sale", "needs saleId, hub, currency and 1 to 50 lines")
	}
	if hubsale.PaidWithValidator(hubsale.PaidWith(s.PaidWith)) != nil {
		return RecordResult{}, checkout.BadInput("sale.paidWith", "unknown payment method %q", s.PaidWith)
	}
	for _, l := range s.Lines {
		if l.Quantity < 1 || l.Quantity > 100 || l.UnitAmount < 0 || l.UnitAmount > checkout.MaxPrice || l.SKU == "" {
			return RecordResult{}, checkout.BadInput("sale.lines", "quantity 1 to 100, amount 0 to %d, a SKU", checkout.MaxPrice)
		}
	}
	if s.SoldAt.IsZero() {
		return RecordResult{}, checkout.BadInput("sale.soldAt", "needs the time of the sale")
	}
	hash := s.contentHash()
	sys := viewer.SystemContext(ctx)
	return txn.Do(sys, h.db, "record hub sale", func(tx *ent.Tx) (RecordResult, error) {
		loc, err := tx.Location.Query().Where(location.Code(s.Hub), location.KindEQ(location.KindHUB)).Only(sys)
		if err != nil {
			return RecordResult{}, checkout.NotFoundAs(err, "hub")
		}
		want := map[string]int{}
		var order []string
		for _, l := range s.Lines {
			if want[l.SKU] == 0 {
				order = append(order, l.SKU)
			}
			want[l.SKU] += l.Quantity
		}
		// Check every line before changing anything. Central prices each
		// line itself: the hub's claim or central's price, whichever is
		// lower, so a hub can never charge more than central asks.
		variants := map[string]*ent.Variant{}
		conflict := ""
		now := h.now()
		for _, sku := range order {
			v, err := tx.Variant.Query().Where(variant.Sku(sku)).Only(sys)
			if ent.IsNotFound(err) {
				conflict = fmt.Sprintf("unknown SKU %s", sku)
				break
			} else if err != nil {
				return RecordResult{}, err
			}
			if v.Currency != s.Currency {
				conflict = fmt.Sprintf("%s is priced in %s on central, the sale is in %s", sku, v.Currency, s.Currency)
				break
			}
			have := 0
			st, err := tx.Stock.Query().Where(stock.VariantID(v.ID), stock.LocationID(loc.ID)).Only(sys)
			if err == nil {
				have = st.Available
			} else if !ent.IsNotFound(err) {
				return RecordResult{}, err
			}
			if have < want[sku] {
				conflict = fmt.Sprintf("sold %d × %s beyond the hub's allocation (%d left)", want[sku], sku, have)
				break
			}
			if st.LeasedAt != nil && s.SoldAt.Before(*st.LeasedAt) {
				conflict = fmt.Sprintf("sold at %s, before central leased %s to the hub (%s)",
					s.SoldAt.UTC().Format(time.RFC3339), sku, st.LeasedAt.UTC().Format(time.RFC3339))
				break
			}
			variants[sku] = v
		}
		if conflict == "" && s.SoldAt.After(now.Add(maxClockSkew)) {
			conflict = fmt.Sprintf("sold at %s, later than central's clock allows (%s)", s.SoldAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		lines := s.Lines
		if conflict == "" {
			lines = make([]SaleLine, len(s.Lines))
			for i, l := range s.Lines {
				lines[i] = SaleLine{SKU: l.SKU, Quantity: l.Quantity, UnitAmount: min(l.UnitAmount, variants[l.SKU].PriceAmount)}
			}
		}
		total, err := SumLines(lines)
		if err != nil {
			return RecordResult{}, checkout.BadInput("sale.lines", "the lines add up to more than can be paid")
		}
		var (
			customer *int
			pass     WalletPass
		)
		if s.PaidWith == "WALLET" && conflict == "" {
			if h.signer == nil || h.wallets == nil {
				return RecordResult{}, checkout.BadInput("sale.paidWith", "this server does not keep wallets")
			}
			p := &pass
			if err := h.signer.Verify(s.WalletPass, kindWalletPass, p); err != nil {
				conflict = "the wallet pass is not signed by this shop"
			} else if _, err := h.signer.WalletPass(s.WalletPass, s.SoldAt); err != nil {
				conflict = fmt.Sprintf("the wallet pass had expired (%s) when the hub took it (%s)",
					time.Unix(p.Expires, 0).UTC().Format(time.RFC3339), s.SoldAt.UTC().Format(time.RFC3339))
			} else if p.Currency != s.Currency {
				conflict = fmt.Sprintf("the wallet pass is for %s, the sale is in %s", p.Currency, s.Currency)
			} else {
				customer = &p.CustomerID
			}
		}
		phone, refunded := s.PaidWith == "QR" || s.PaidWith == "CARD", false
		if phone && conflict == "" {
			if conflict, refunded, err = phonePaid(sys, tx, s, total); err != nil {
				return RecordResult{}, err
			}
		}
		status, note := "APPLIED", (*string)(nil)
		if conflict != "" {
			status, note = "CONFLICT", &conflict
		}
		n, err := txn.Exec(sys, tx, h.dialect,
			`INSERT INTO hub_sales (sale_id, hub, lines, total_amount, currency, paid_with, customer_id, sold_at, synced_at, status, conflict, shortfall_amount, content_hash)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (sale_id) DO NOTHING`,
			s.SaleID, s.Hub, mustJSON(lines), total, s.Currency, s.PaidWith, customer, s.SoldAt.UTC(), now, status, note, hash)
		if err != nil {
			return RecordResult{}, err
		}
		if n == 0 { // delivered before
			return h.redelivered(sys, tx, s, hash)
		}
		if conflict != "" {
			return RecordResult{Conflict: conflict}, nil
		}
		for i, sku := range order {
			// The hub sold from its allocation; central's copy of it follows,
			// by a conditional update: the check above was only a read, and
			// a concurrent sale or return may have taken the units since.
			ok, err := inventory.Take(sys, tx, variants[sku].ID, loc.ID, want[sku])
			if err != nil {
				return RecordResult{}, err
			}
			if !ok {
				for _, back := range order[:i] { // undo this sale's takes
					if err := inventory.Put(sys, tx, variants[back].ID, loc.ID, want[back]); err != nil {
						return RecordResult{}, err
					}
				}
				conflict = fmt.Sprintf("sold %d × %s beyond the hub's allocation", want[sku], sku)
				if err := tx.HubSale.Update().Where(hubsale.SaleID(s.SaleID), hubsale.StatusEQ(hubsale.StatusAPPLIED)).
					SetStatus(hubsale.StatusCONFLICT).SetConflict(conflict).Exec(sys); err != nil {
					return RecordResult{}, err
				}
				return RecordResult{Conflict: conflict}, nil
			}
		}
		switch {
		case customer != nil:
			return h.chargeWallet(sys, tx, s, pass, total)
		case phone:
			return h.claimPayment(sys, tx, s, total, refunded)
		}
		return RecordResult{Applied: true}, nil
	})
}

// maxClockSkew is how far ahead of central's clock a hub's sale may be
// stamped.
const maxClockSkew = 5 * time.Minute

// contentHash is the sale as the hub delivered it, hashed.
func (s RemoteSale) contentHash() string {
	c := s
	c.SoldAt = s.SoldAt.UTC()
	sum := sha256.Sum256([]byte(mustJSON(c)))
	return hex.EncodeToString(sum[:])
}

// redelivered answers a sale id recorded before: the same content changes
// nothing and reports the wallet's balance; other content is refused as
// ErrHubSaleMismatch (a hub reusing an id, or someone else's sale).
func (h *Service) redelivered(ctx context.Context, tx *ent.Tx, s RemoteSale, hash string) (RecordResult, error) {
	prev, err := tx.HubSale.Query().Where(hubsale.SaleID(s.SaleID)).Only(ctx)
	if err != nil {
		return RecordResult{}, err
	}
	if prev.ContentHash != "" && prev.ContentHash != hash {
		return RecordResult{}, fmt.Errorf("hub sale %s was recorded before with other content: %w", s.SaleID, checkout.ErrHubSaleMismatch)
	}
	b, err := h.balanceOf(ctx, tx, prev.CustomerID, prev.Currency)
	return RecordResult{WalletBalance: b}, err
}

// chargeWallet debits a hub's wallet sale on central. The hub handed the
// goods over against the balance it last synced; central takes at most
// what the pass may still pay at hubs (the offline limit, for all the
// sales made with it at every hub together: takeFromPass) and at most
// what the wallet holds now. What it cannot take makes the sale SHORTFALL
// for staff to settle: no silent loss, no negative balance, on every
// database. The debit is conditional (balance >= debit): if a concurrent
// spend took the money between the read and the debit, the balance is
// read again, a bounded number of times, then the sale is short of all
// of it; what the wallet did not cover goes back to the pass.
func (h *Service) chargeWallet(ctx context.Context, tx *ent.Tx, s RemoteSale, pass WalletPass, total int64) (RecordResult, error) {
	customerID := pass.CustomerID
	limit, paid, err := TakeFromPass(ctx, tx, h.dialect, pass, s.Hub, total, h.hubWalletLimit, true)
	if err != nil {
		return RecordResult{}, err
	}
	res := RecordResult{Applied: true}
	var debit int64
	for attempt := 0; ; attempt++ {
		have, err := h.balanceOf(ctx, tx, &customerID, s.Currency)
		if err != nil {
			return RecordResult{}, err
		}
		res.WalletBalance = have
		debit = max(min(*have, limit), 0)
		if debit == 0 {
			break
		}
		e, err := h.wallets.Post(ctx, tx, wallets.Posting{CustomerID: customerID, Currency: s.Currency, Amount: -debit,
			Kind: walletentry.KindSPEND, Note: fmt.Sprintf("hub %s sale %s", s.Hub, s.SaleID)})
		if err == nil {
			res.WalletBalance = &e.BalanceAfter
			break
		}
		if !errors.Is(err, checkout.ErrInsufficientFunds) {
			return RecordResult{}, err
		}
		if attempt == 2 {
			debit = 0
			break
		}
	}
	if back := limit - debit; back > 0 {
		if err := returnToPass(ctx, tx, h.dialect, pass, back); err != nil {
			return RecordResult{}, err
		}
	}
	if short := total - debit; short > 0 {
		var why string
		switch {
		case debit < limit:
			why = fmt.Sprintf("the wallet had %s", checkout.FormatMoney(debit, s.Currency))
		case paid > 0:
			why = fmt.Sprintf("this wallet pass had already paid %s at hubs, of the %s a pass pays in all", checkout.FormatMoney(paid, s.Currency), checkout.FormatMoney(h.hubWalletLimit, s.Currency))
		default:
			why = fmt.Sprintf("a wallet pass pays at most %s at hubs", checkout.FormatMoney(h.hubWalletLimit, s.Currency))
		}
		res.Conflict = fmt.Sprintf("%s of %s: %s short, goods already handed over at hub %s",
			why, checkout.FormatMoney(total, s.Currency), checkout.FormatMoney(short, s.Currency), s.Hub)
		if err := tx.HubSale.Update().Where(hubsale.SaleID(s.SaleID)).SetStatus(hubsale.StatusSHORTFALL).
			SetConflict(res.Conflict).SetShortfallAmount(short).Exec(ctx); err != nil {
			return RecordResult{}, err
		}
	}
	return res, nil
}

// passKey names a wallet pass by what it says (customer, currency,
// expiry), not by how it is encoded: a pass re-encoded is the same pass.
// Two passes issued to a customer in the same second share one key, and
// so one limit.
func PassKey(p WalletPass) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "wallet-pass\x00%d\x00%s\x00%d", p.CustomerID, p.Currency, p.Expires))
	return hex.EncodeToString(sum[:])
}

// takeFromPass books, in tx, up to want against what pass may still pay
// at hubs: limit in total, over every sale made with it at every hub
// (hub_pass_spends). A pass is not bound to a hub; the one cumulative
// limit bounds the wallet's offline risk per pass wherever it is used.
// With partial it books as much as fits (central, which records a sale
// the hub already made and calls the rest a shortfall); without, all of
// want or nothing (a hub, which refuses the sale). It returns what it
// booked and what the pass had paid before.
//
// The row is created if absent (a unique index on pass_hash), then
// locked by a no-op update, so the read of spent and the conditional
// update that moves it are one step for concurrent sales with the pass.
func TakeFromPass(ctx context.Context, tx *ent.Tx, dialectName string, pass WalletPass, hub string, want, limit int64, partial bool) (took, paid int64, err error) {
	key := PassKey(pass)
	if _, err := txn.Exec(ctx, tx, dialectName,
		`INSERT INTO hub_pass_spends (pass_hash, customer_id, currency, first_hub, expires_at, spent)
		 VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (pass_hash) DO NOTHING`,
		key, pass.CustomerID, pass.Currency, hub, time.Unix(pass.Expires, 0).UTC()); err != nil {
		return 0, 0, err
	}
	if _, err := txn.Exec(ctx, tx, dialectName, `UPDATE hub_pass_spends SET spent = spent WHERE pass_hash = ?`, key); err != nil {
		return 0, 0, err
	}
	row, err := tx.HubPassSpend.Query().Where(hubpassspend.PassHash(key)).Only(ctx)
	if err != nil {
		return 0, 0, err
	}
	paid = row.Spent
	took = max(min(want, limit-paid), 0)
	if took < want && !partial {
		took = 0
	}
	if took == 0 {
		return 0, paid, nil
	}
	n, err := txn.Exec(ctx, tx, dialectName,
		`UPDATE hub_pass_spends SET spent = spent + ? WHERE pass_hash = ? AND spent + ? <= ?`, took, key, took, limit)
	if err != nil {
		return 0, 0, err
	}
	if n != 1 { // the row is locked: cannot happen
		return 0, 0, fmt.Errorf("wallet pass %s changed while locked", key[:12])
	}
	return took, paid, nil
}

// returnToPass gives back, in tx, amount booked against pass that was not
// spent after all.
func returnToPass(ctx context.Context, tx *ent.Tx, dialectName string, pass WalletPass, amount int64) error {
	n, err := txn.Exec(ctx, tx, dialectName,
		`UPDATE hub_pass_spends SET spent = spent - ? WHERE pass_hash = ? AND spent >= ?`, amount, PassKey(pass), amount)
	if err == nil && n != 1 {
		err = fmt.Errorf("wallet pass %s: cannot return %d", PassKey(pass)[:12], amount)
	}
	return err
}

// balanceOf is a wallet's balance on central (nil without a customer, 0
// without a wallet).
func (h *Service) balanceOf(ctx context.Context, tx *ent.Tx, customerID *int, currency string) (*int64, error) {
	if customerID == nil {
		return nil, nil
	}
	b, err := tx.Wallet.Query().Where(wallet.CustomerID(*customerID), wallet.Currency(currency)).Only(ctx)
	if ent.IsNotFound(err) {
		return new(int64), nil
	} else if err != nil {
		return nil, err
	}
	return &b.Balance, nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Lease moves units of a variant from central's stock to a hub's allocation,
// atomically; the hub then sells them with or without a link.
func (h *Service) Lease(ctx context.Context, centralID int, hubCode string, variantID, units int, key string) (int, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return 0, err
	}
	if !checkout.ValidHubCode(hubCode) {
		return 0, checkout.BadInput("hub", "a hub code is 1 to 40 letters, digits, '-' or '_'")
	}
	if units < 1 || units > checkout.MaxStock {
		return 0, checkout.BadInput("units", "must be between 1 and %d", checkout.MaxStock)
	}
	return txn.Idempotent(ctx, h.db, "leaseAllocation", key, []any{hubCode, variantID, units}, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		if err := tx.Location.Create().SetCode(hubCode).SetName(hubCode).SetKind(location.KindHUB).
			OnConflictColumns(location.FieldCode).Ignore().Exec(sys); err != nil {
			return 0, err
		}
		hub, err := tx.Location.Query().Where(location.Code(hubCode), location.KindEQ(location.KindHUB)).Only(sys)
		if err != nil {
			return 0, checkout.NotFoundAs(err, "hub")
		}
		ok, err := inventory.Take(sys, tx, variantID, centralID, units)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("central stock of variant %d: %w", variantID, checkout.ErrOutOfStock)
		}
		if err := inventory.Put(sys, tx, variantID, hub.ID, units); err != nil {
			return 0, err
		}
		// The first lease dates the allocation: no hub sale of it is older.
		if err := tx.Stock.Update().Where(stock.VariantID(variantID), stock.LocationID(hub.ID), stock.LeasedAtIsNil()).
			SetLeasedAt(h.now()).Exec(sys); err != nil {
			return 0, err
		}
		h.AfterCommit(tx, checkout.StockTopic(variantID))
		got, err := tx.Stock.Query().Where(stock.VariantID(variantID), stock.LocationID(hub.ID)).Only(sys)
		if err != nil {
			return 0, err
		}
		return got.Available, nil
	})
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

// Allocation lists the units allocated to a hub and unsold there.
func (h *Service) Allocation(ctx context.Context, hubCode string) ([]AllocationLine, error) {
	if err := checkout.RequireHub(ctx, hubCode); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	rows, err := h.db.Stock.Query().Where(stock.HasLocationWith(location.Code(hubCode))).WithVariant().All(sys)
	if err != nil {
		return nil, err
	}
	out := make([]AllocationLine, 0, len(rows))
	for _, r := range rows {
		out = append(out, AllocationLine{SKU: r.Edges.Variant.Sku, Available: r.Available, VariantID: r.VariantID})
	}
	return out, nil
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

// SalePrinter prints a hub sale's receipt.
type SalePrinter interface {
	PrintSale(ctx context.Context, s RemoteSale) error
}

// LabelPrinter prints a hub sale's smart labels and says how many.
type LabelPrinter interface {
	PrintLabels(ctx context.Context, s RemoteSale) (int, error)
}

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

// Return applies a hub's return on central, once per return id: the units
// leave the hub's allocation and are back in central's stock.
func (h *Service) Return(ctx context.Context, centralID int, r RemoteReturn) (int, error) {
	if err := checkout.RequireHub(ctx, r.Hub); err != nil {
		return 0, err
	}
	if r.ReturnID == "" || len(r.ReturnID) > 64 || !checkout.ValidHubCode(r.Hub) || len(r.Lines) > 500 {
		return 0, checkout.BadInput("return", "needs returnId, hub and at most 500 lines")
	}
	for _, l := range r.Lines {
		if l.Quantity < 1 || l.Quantity > checkout.MaxStock {
			return 0, checkout.BadInput("return.lines.quantity", "must be between 1 and %d", checkout.MaxStock)
		}
	}
	return txn.Idempotent(ctx, h.db, "returnAllocation", r.ReturnID, r, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		hub, err := tx.Location.Query().Where(location.Code(r.Hub), location.KindEQ(location.KindHUB)).OnlyID(sys)
		if err != nil {
			return 0, checkout.NotFoundAs(err, "hub")
		}
		total := 0
		for _, l := range r.Lines {
			v, err := tx.Variant.Query().Where(variant.Sku(l.SKU)).OnlyID(sys)
			if err != nil {
				return 0, checkout.NotFoundAs(err, "variant "+l.SKU)
			}
			ok, err := inventory.Take(sys, tx, v, hub, l.Quantity)
			if err != nil {
				return 0, err
			}
			if !ok {
				return 0, checkout.BadInput("return.lines", "hub %s returns %d × %s, more than its allocation", r.Hub, l.Quantity, l.SKU)
			}
			if err := inventory.Put(sys, tx, v, centralID, l.Quantity); err != nil {
				return 0, err
			}
			h.AfterCommit(tx, checkout.StockTopic(v))
			total += l.Quantity
		}
		return total, nil
	})
}

// WalletBalance is one customer's wallet as central reports it to hubs.
type WalletBalance struct {
	CustomerID int
	Balance    int64
}

// WalletBalances lists, for hubs, the wallets in currency that hold money,
// by customer id, first of them after the customer id after (staff).
func (h *Service) WalletBalances(ctx context.Context, currency string, after, first int) ([]WalletBalance, error) {
	if err := checkout.RequireStaffOrHub(ctx); err != nil {
		return nil, err
	}
	if first < 1 || first > 1000 {
		return nil, checkout.BadInput("first", "must be between 1 and 1000")
	}
	rows, err := h.db.Wallet.Query().Where(wallet.Currency(currency), wallet.BalanceGT(0), wallet.CustomerIDGT(after)).
		Order(wallet.ByCustomerID()).Limit(first).All(viewer.SystemContext(ctx))
	if err != nil {
		return nil, err
	}
	out := make([]WalletBalance, len(rows))
	for i, w := range rows {
		out[i] = WalletBalance{CustomerID: w.CustomerID, Balance: w.Balance}
	}
	return out, nil
}

// OfflineWallet is what a hub lets a customer spend from their wallet now.
type OfflineWallet struct {
	Currency                        string
	Balance, Unconfirmed, Spendable int64
	SyncedAt                        time.Time
}

// IssueWalletPass signs a pass for the signed-in customer's wallet in
// currency (central only).
func (h *Service) IssueWalletPass(ctx context.Context, currency string) (string, time.Time, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	if h.signer == nil {
		return "", time.Time{}, checkout.BadInput("", "wallet passes are issued by central, not by a hub")
	}
	if !checkout.IsCurrencyCode(currency) {
		return "", time.Time{}, checkout.BadInput("currency", "not an ISO currency code: %q", currency)
	}
	code, exp := h.signer.IssueWalletPass(customerID, currency, h.now())
	return code, exp, nil
}

// SigningKey is central's public key, or "" on a hub.
func (h *Service) SigningKey() string {
	if h.signer == nil {
		return ""
	}
	return h.signer.PublicKey()
}

// SaleReceipt is a hub sale as its receipt shows it.
type SaleReceipt struct {
	RemoteSale
	Total int64
}

// Receipt returns a hub sale recorded here, by its id (nil if unknown):
// the id, printed on the receipt and label, is what entitles the asker.
func (h *Service) Receipt(ctx context.Context, saleID string) (*SaleReceipt, error) {
	s, err := h.db.HubSale.Query().Where(hubsale.SaleID(saleID)).Only(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &SaleReceipt{RemoteSale: RemoteSale{SaleID: s.SaleID, Hub: s.Hub, Lines: s.Lines, Currency: s.Currency,
		PaidWith: s.PaidWith.String(), SoldAt: s.SoldAt}, Total: s.TotalAmount}, nil
}

// sumLines totals sale lines with checked arithmetic.
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
