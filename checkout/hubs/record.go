package hubs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/inventory"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/hubsale"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/wallet"
	"github.com/merchd/merchd/ent/walletentry"
)

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
// sales made with it at every hub together: TakeFromPass) and at most
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
