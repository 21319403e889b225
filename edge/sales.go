package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/catalog"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/inventory"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/hubpassspend"
	"github.com/merchd/merchd/ent/hubsale"
	"github.com/merchd/merchd/ent/hubwallet"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/outbox"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
)

// Sales is a pop-up hub's side of the protocol: each sale is written
// with its outbox entry in one transaction, against the hub's own stock,
// whether or not central is reachable.
type Sales struct {
	code    string
	db      *ent.Client
	dialect string
	now     func() time.Time
	txn.Announcer

	// Central's public key (wallet passes, phone receipts) and how much
	// of a customer's wallet may be spent unconfirmed.
	central     atomic.Pointer[hubs.Verifier]
	walletLimit int64
	// The key this hub's payment requests are signed with.
	requestKey []byte
	// kick wakes the sync loop for a record just queued (Nudge).
	kick chan struct{}
}

// NewSales returns the selling side of the hub whose location code is code.
func NewSales(db *ent.Client, dialectName, code string, now func() time.Time) *Sales {
	return &Sales{code: code, db: db, dialect: dialectName, now: now, kick: make(chan struct{}, 1)}
}

// TrustCentral sets the key a hub checks central's codes with, and the
// most a customer's wallet may be spent here before central confirms.
func (h *Sales) TrustCentral(v hubs.Verifier, offlineWalletLimit int64) {
	h.central.Store(&v)
	h.walletLimit = offlineWalletLimit
}

// Trusted reports whether the hub holds central's key yet.
func (h *Sales) Trusted() bool { return h.central.Load() != nil }

// Sell records a sale at this hub, taking the units from the hub's stock.
// The sale and its outbox entry commit together, so a sale is never lost
// nor sent twice, whether or not central is reachable. Cash is always
// taken; a wallet pays up to what it had at the last sync, less what the
// hub spent since, never more than the offline limit unconfirmed, and one
// pass never more than the offline limit in all (hubs.TakeFromPass); a
// phone payment needs central's receipt for exactly this sale's total.
func (h *Sales) Sell(ctx context.Context, in hubs.SaleInput) (hubs.RemoteSale, error) {
	if err := h.counter(ctx); err != nil {
		return hubs.RemoteSale{}, err
	}
	hubCode := h.code
	if hubCode == "" {
		return hubs.RemoteSale{}, checkout.BadInput("hub", "this server is not a hub; run `merchd edge`")
	}
	lines, pay, key := in.Lines, in.Pay, in.Key
	if in.FromTill != (len(lines) == 0) {
		return hubs.RemoteSale{}, checkout.BadInput("lines", "ring up lines, or sell the till's scanned items (fromTill), not both")
	}
	if !in.FromTill {
		if err := hubs.CheckSellLines(lines); err != nil {
			return hubs.RemoteSale{}, err
		}
	}
	sale := hubs.RemoteSale{Hub: hubCode, PaidWith: pay.Method}
	var (
		pass    hubs.WalletPass
		receipt hubs.HubReceipt
	)
	switch pay.Method {
	case "CASH":
	case "WALLET", "QR", "CARD":
		v := h.central.Load()
		if v == nil {
			return hubs.RemoteSale{}, checkout.BadInput("paidWith", "this hub has not reached central yet, so it cannot check %s payments; take cash", strings.ToLower(pay.Method))
		}
		var err error
		if pay.Method == "WALLET" {
			if pass, err = v.WalletPass(pay.WalletPass, h.now()); err != nil {
				return hubs.RemoteSale{}, err
			}
			sale.WalletPass = pay.WalletPass
		} else {
			if err := v.Verify(pay.Receipt, hubs.KindHubReceipt, &receipt); err != nil {
				return hubs.RemoteSale{}, &checkout.InputError{Field: "receipt", Msg: hubs.ErrBadSignedCode.Msg}
			}
			if receipt.Hub != hubCode {
				return hubs.RemoteSale{}, checkout.BadInput("receipt", "this receipt is for hub %s, not %s", receipt.Hub, hubCode)
			}
			sale.SaleID = receipt.SaleID
		}
	default:
		return hubs.RemoteSale{}, checkout.BadInput("paidWith", "a hub takes CASH, WALLET, QR or CARD")
	}
	req := struct {
		Lines    []hubs.SellLine
		FromTill bool
		Pay      hubs.HubPay
	}{lines, in.FromTill, pay}
	return txn.Idempotent(ctx, h.db, "hubSell", key, req, func(ctx context.Context, tx *ent.Tx) (hubs.RemoteSale, error) {
		sys := viewer.SystemContext(ctx)
		loc, err := tx.Location.Query().Where(location.Code(hubCode)).Only(sys)
		if err != nil {
			return hubs.RemoteSale{}, checkout.NotFoundAs(err, "hub")
		}
		sale := sale
		if sale.SaleID == "" {
			sale.SaleID = hubs.NewSaleID()
		}
		sale.SoldAt = h.now()
		var total int64
		for _, l := range lines {
			v, line, err := hubs.PriceLine(sys, tx.Variant, l, &sale.Currency)
			if err != nil {
				return hubs.RemoteSale{}, err
			}
			ok, err := inventory.Take(sys, tx, v.ID, loc.ID, l.Quantity)
			if err != nil {
				return hubs.RemoteSale{}, err
			}
			if !ok {
				return hubs.RemoteSale{}, fmt.Errorf("%s at the hub: %w", v.Sku, checkout.ErrOutOfStock)
			}
			h.AfterCommit(tx, checkout.StockTopic(v.ID))
			sale.Lines = append(sale.Lines, line)
		}
		if total, err = hubs.SumLines(sale.Lines); err != nil {
			return hubs.RemoteSale{}, checkout.BadInput("lines", "these lines add up to more than can be paid")
		}
		if in.FromTill {
			if sale.Lines, sale.Currency, total, err = h.ringUpTill(sys, tx, loc.ID); err != nil {
				return hubs.RemoteSale{}, err
			}
		}
		var customer *int
		switch pay.Method {
		case "WALLET":
			if pass.Currency != sale.Currency {
				return hubs.RemoteSale{}, checkout.BadInput("walletPass", "this pass is for a %s wallet; the sale is in %s", pass.Currency, sale.Currency)
			}
			if err := h.spendOffline(sys, tx, pass.CustomerID, sale.Currency, total); err != nil {
				return hubs.RemoteSale{}, err
			}
			took, paid, err := hubs.TakeFromPass(sys, tx, h.dialect, pass, hubCode, total, h.walletLimit, false)
			if err != nil {
				return hubs.RemoteSale{}, err
			}
			if took == 0 && total > 0 {
				return hubs.RemoteSale{}, fmt.Errorf("this wallet pass has paid %s of the %s one pass pays at hubs; open the wallet page for a fresh pass: %w", checkout.FormatMoney(paid, sale.Currency), checkout.FormatMoney(h.walletLimit, sale.Currency), checkout.ErrInsufficientFunds)
			}
			customer = &pass.CustomerID
		case "QR", "CARD":
			if receipt.Amount != total || receipt.Currency != sale.Currency {
				return hubs.RemoteSale{}, checkout.BadInput("receipt", "the receipt is for %s, this sale comes to %s: ring up the order the QR code was made for", checkout.FormatMoney(receipt.Amount, receipt.Currency), checkout.FormatMoney(total, sale.Currency))
			}
			if n, err := tx.HubSale.Query().Where(hubsale.SaleID(sale.SaleID)).Count(sys); err != nil || n > 0 {
				if err == nil {
					err = checkout.BadInput("receipt", "this receipt was already used for sale %s", sale.SaleID)
				}
				return hubs.RemoteSale{}, err
			}
		}
		if err := tx.HubSale.Create().SetSaleID(sale.SaleID).SetHub(hubCode).SetLines(sale.Lines).SetTotalAmount(total).
			SetCurrency(sale.Currency).SetPaidWith(hubsale.PaidWith(pay.Method)).SetNillableCustomerID(customer).
			SetSoldAt(sale.SoldAt).Exec(sys); err != nil {
			return hubs.RemoteSale{}, err
		}
		if err := h.enqueue(sys, tx, hubs.OutboxHubSale, "hubsale-"+sale.SaleID, sale); err != nil {
			return hubs.RemoteSale{}, err
		}
		return sale, nil
	})
}

// spendOffline books amount against what the hub knows of the customer's
// wallet: one conditional update keeps the unconfirmed spend within both
// the last synced balance and the offline limit.
func (h *Sales) spendOffline(ctx context.Context, tx *ent.Tx, customerID int, currency string, amount int64) error {
	n, err := txn.Exec(ctx, tx, h.dialect,
		`UPDATE hub_wallets SET unconfirmed = unconfirmed + ?
		 WHERE customer_id = ? AND currency = ? AND unconfirmed + ? <= balance AND unconfirmed + ? <= ?`,
		amount, customerID, currency, amount, amount, h.walletLimit)
	if err != nil || n == 1 {
		return err
	}
	w, err := tx.HubWallet.Query().Where(hubwallet.CustomerID(customerID), hubwallet.Currency(currency)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return fmt.Errorf("this hub has no synced %s balance for the customer: %w", currency, checkout.ErrInsufficientFunds)
	case err != nil:
		return err
	case w.Unconfirmed+amount > w.Balance:
		return fmt.Errorf("%s left of the balance synced at %s: %w", checkout.FormatMoney(w.Balance-w.Unconfirmed, currency), w.SyncedAt.Format("15:04"), checkout.ErrInsufficientFunds)
	default:
		return fmt.Errorf("%s left of the hub's %s limit per customer until central confirms: %w", checkout.FormatMoney(max(h.walletLimit-w.Unconfirmed, 0), currency), checkout.FormatMoney(h.walletLimit, currency), checkout.ErrInsufficientFunds)
	}
}

// enqueue writes an outbox record in the caller's transaction, due now.
func (h *Sales) enqueue(ctx context.Context, tx *ent.Tx, kind, key string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	now := h.now()
	return tx.Outbox.Create().SetKey(key).SetKind(kind).SetPayload(b).SetCreatedAt(now).SetNextAttemptAt(now).Exec(ctx)
}

// Adopt sets this hub's local stock to what central allocated, less what
// the hub sold and has not yet delivered (its outbox) and what is held or
// sold in carts at the hub, so a hub that restarts or reconnects never sells
// more than remains of its lease.
func (h *Sales) Adopt(ctx context.Context, hubCode string, lines []hubs.AllocationLine) error {
	sys := viewer.SystemContext(ctx)
	_, err := txn.Do(sys, h.db, "adopt allocation", func(tx *ent.Tx) (struct{}, error) {
		loc, err := tx.Location.Query().Where(location.Code(hubCode)).Only(sys)
		if err != nil {
			return struct{}{}, checkout.NotFoundAs(err, "hub")
		}
		pending := map[string]int{}
		queued, err := tx.Outbox.Query().Where(outbox.StatusEQ(outbox.StatusPENDING), outbox.KindIn(hubs.OutboxHubSale, hubs.OutboxHubReturn)).All(sys)
		if err != nil {
			return struct{}{}, err
		}
		for _, o := range queued {
			var s hubs.RemoteSale // a return's lines read the same way
			if err := json.Unmarshal(o.Payload, &s); err != nil {
				return struct{}{}, fmt.Errorf("outbox %s: %w", o.Key, err)
			}
			for _, l := range s.Lines {
				pending[l.SKU] += l.Quantity
			}
		}
		// Units held in carts here, or sold through the hub's own checkout
		// (not yet delivered to central), are not central's to count again.
		taken := map[int]int{}
		carted, err := tx.CartLine.Query().Where(cartline.LocationID(loc.ID),
			cartline.StatusIn(cartline.StatusHELD, cartline.StatusSOLD)).All(sys)
		if err != nil {
			return struct{}{}, err
		}
		for _, c := range carted {
			taken[c.VariantID] += c.Quantity
		}
		leased := make([]int, 0, len(lines))
		for _, l := range lines {
			if l.Item != nil {
				if err := h.upsertItem(sys, tx, l.SKU, l.Item); err != nil {
					return struct{}{}, fmt.Errorf("catalog entry %s: %w", l.SKU, err)
				}
			}
			v, err := tx.Variant.Query().Where(variant.Sku(l.SKU)).Only(sys)
			if ent.IsNotFound(err) {
				continue // not in this hub's catalog
			} else if err != nil {
				return struct{}{}, err
			}
			leased = append(leased, v.ID)
			n := max(l.Available-pending[l.SKU]-taken[v.ID], 0)
			if err := tx.Stock.Create().SetVariantID(v.ID).SetLocationID(loc.ID).SetAvailable(n).
				OnConflictColumns(stock.FieldVariantID, stock.FieldLocationID).UpdateAvailable().Exec(sys); err != nil {
				return struct{}{}, err
			}
			h.AfterCommit(tx, checkout.StockTopic(v.ID))
		}
		// What central did not lease to this hub is not the hub's to sell.
		if err := tx.Stock.Update().Where(stock.LocationID(loc.ID), stock.VariantIDNotIn(leased...), stock.AvailableGT(0)).
			SetAvailable(0).Exec(sys); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, nil
	})
	return err
}

// HubCode is the location code of this server's hub, or "" on central.
func (h *Sales) HubCode() string { return h.code }

// Queue reports the hub's undelivered sales.
func (h *Sales) Queue(ctx context.Context) (hubs.HubQueue, error) {
	sys := viewer.SystemContext(ctx)
	q := h.db.Outbox.Query().Where(outbox.StatusEQ(outbox.StatusPENDING))
	n, err := q.Clone().Count(sys)
	if err != nil || n == 0 {
		return hubs.HubQueue{}, err
	}
	first, err := q.Order(outbox.ByID()).First(sys)
	if ent.IsNotFound(err) {
		return hubs.HubQueue{}, nil // delivered since the count
	} else if err != nil {
		return hubs.HubQueue{}, err
	}
	return hubs.HubQueue{Depth: n, Oldest: &first.CreatedAt}, nil
}

// Close ends selling at this hub: every unsold unit leaves the hub's stock
// and a return of them is queued, in one transaction, behind the sales
// already queued. Central moves them back to its own stock on delivery.
func (h *Sales) Close(ctx context.Context, key string) (hubs.RemoteReturn, error) {
	if err := h.counter(ctx); err != nil {
		return hubs.RemoteReturn{}, err
	}
	if h.code == "" {
		return hubs.RemoteReturn{}, checkout.BadInput("hub", "this server is not a hub; run `merchd edge`")
	}
	return txn.Idempotent(ctx, h.db, "closeHub", key, h.code, func(ctx context.Context, tx *ent.Tx) (hubs.RemoteReturn, error) {
		sys := viewer.SystemContext(ctx)
		rows, err := tx.Stock.Query().Where(stock.HasLocationWith(location.Code(h.code)), stock.AvailableGT(0)).WithVariant().All(sys)
		if err != nil {
			return hubs.RemoteReturn{}, err
		}
		ret := hubs.RemoteReturn{ReturnID: hubs.NewSaleID(), Hub: h.code, Lines: []hubs.ReturnLine{}}
		for _, r := range rows {
			// Guarded by the amount read, so a sale or another close racing
			// this one keeps its units: on zero rows the row is read again
			// and what is left (maybe nothing) is returned.
			units := r.Available
			for attempt := 0; units > 0; attempt++ {
				n, err := tx.Stock.Update().Where(stock.ID(r.ID), stock.Available(units)).SetAvailable(0).Save(sys)
				if err != nil {
					return hubs.RemoteReturn{}, err
				}
				if n == 1 {
					break
				}
				if attempt == 3 {
					return hubs.RemoteReturn{}, checkout.BadInput("hub", "the stock of %s keeps changing (sales running?); close again", r.Edges.Variant.Sku)
				}
				if units, err = tx.Stock.Query().Where(stock.ID(r.ID)).Select(stock.FieldAvailable).Int(sys); err != nil {
					return hubs.RemoteReturn{}, err
				}
			}
			if units == 0 {
				continue
			}
			h.AfterCommit(tx, checkout.StockTopic(r.VariantID))
			ret.Lines = append(ret.Lines, hubs.ReturnLine{SKU: r.Edges.Variant.Sku, Quantity: units})
		}
		if len(ret.Lines) == 0 {
			return ret, nil
		}
		if err := h.enqueue(sys, tx, hubs.OutboxHubReturn, "hubreturn-"+ret.ReturnID, ret); err != nil {
			return hubs.RemoteReturn{}, err
		}
		return ret, nil
	})
}

// upsertItem makes the hub's catalog entry for sku match central's: the
// product by slug, the variant by SKU, price and images as central has them.
func (h *Sales) upsertItem(ctx context.Context, tx *ent.Tx, sku string, it *hubs.CatalogItem) error {
	if it.ProductSlug == "" || it.Currency == "" {
		return checkout.BadInput("item", "needs a product slug and a currency")
	}
	status := product.Status(it.ProductStatus)
	if err := product.StatusValidator(status); err != nil {
		return checkout.BadInput("item.status", "unknown product status %q", it.ProductStatus)
	}
	if it.Options == nil {
		it.Options = map[string]string{}
	}
	err := tx.Product.Create().SetSlug(it.ProductSlug).SetTitle(it.ProductTitle).SetDescription(it.Description).SetVendor(it.Vendor).
		SetStatus(status).OnConflictColumns(product.FieldSlug).UpdateTitle().UpdateDescription().UpdateVendor().UpdateStatus().Exec(ctx)
	if err != nil {
		return err
	}
	pid, err := tx.Product.Query().Where(product.Slug(it.ProductSlug)).OnlyID(ctx)
	if err != nil {
		return err
	}
	if _, err := catalog.SetImages(ctx, tx, pid, it.Images); err != nil {
		return err
	}
	c := tx.Variant.Create().SetProductID(pid).SetSku(sku).SetTitle(it.VariantTitle).SetOptions(it.Options).
		SetPriceAmount(it.PriceAmount).SetCurrency(it.Currency).SetPosition(it.Position).SetNillableCompareAtAmount(it.CompareAtAmount)
	up := c.OnConflictColumns(variant.FieldSku).UpdateTitle().UpdateOptions().UpdatePriceAmount().UpdateCurrency().UpdatePosition()
	if it.CompareAtAmount == nil {
		up = up.ClearCompareAtAmount()
	} else {
		up = up.UpdateCompareAtAmount()
	}
	return up.Exec(ctx)
}

// AdoptWallets makes what the hub knows of wallets in currency central's
// snapshot: a wallet missing from it has nothing to spend. What the hub
// spent and central has not confirmed stays booked against it.
func (h *Sales) AdoptWallets(ctx context.Context, currency string, balances []hubs.WalletBalance) error {
	sys := viewer.SystemContext(ctx)
	_, err := txn.Do(sys, h.db, "adopt wallets", func(tx *ent.Tx) (struct{}, error) {
		now := h.now()
		if err := tx.HubWallet.Update().Where(hubwallet.Currency(currency)).SetBalance(0).SetSyncedAt(now).Exec(sys); err != nil {
			return struct{}{}, err
		}
		for _, b := range balances {
			if err := tx.HubWallet.Create().SetCustomerID(b.CustomerID).SetCurrency(currency).SetBalance(b.Balance).SetSyncedAt(now).
				OnConflictColumns(hubwallet.FieldCustomerID, hubwallet.FieldCurrency).UpdateBalance().UpdateSyncedAt().Exec(sys); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
	return err
}

// Confirmed settles, in the hub's tx, sales central has confirmed: a
// wallet sale's amount is no longer unconfirmed, and the wallet's balance
// becomes central's (balances[saleID], when central said). One read for
// the batch; wallet sales are settled in the order they were made, so the
// latest balance central reported stands.
func (h *Sales) Confirmed(ctx context.Context, tx *ent.Tx, saleIDs []string, balances map[string]*int64) error {
	sales, err := tx.HubSale.Query().Where(hubsale.SaleIDIn(saleIDs...), hubsale.CustomerIDNotNil()).
		Order(hubsale.ByID()).All(ctx)
	if err != nil {
		return err
	}
	for _, s := range sales {
		u := tx.HubWallet.Update().Where(hubwallet.CustomerID(*s.CustomerID), hubwallet.Currency(s.Currency)).
			AddUnconfirmed(-s.TotalAmount)
		if b := balances[s.SaleID]; b != nil {
			u = u.SetBalance(*b).SetSyncedAt(h.now())
		}
		if err := u.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// OfflineWallet reports, at a hub, what the customer holding pass can spend.
func (h *Sales) OfflineWallet(ctx context.Context, pass string) (hubs.OfflineWallet, error) {
	if err := h.counter(ctx); err != nil {
		return hubs.OfflineWallet{}, err
	}
	v := h.central.Load()
	if v == nil {
		return hubs.OfflineWallet{}, checkout.BadInput("walletPass", "this hub has not reached central yet")
	}
	p, err := v.WalletPass(pass, h.now())
	if err != nil {
		return hubs.OfflineWallet{}, err
	}
	w, err := h.db.HubWallet.Query().Where(hubwallet.CustomerID(p.CustomerID), hubwallet.Currency(p.Currency)).Only(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return hubs.OfflineWallet{Currency: p.Currency}, nil
	} else if err != nil {
		return hubs.OfflineWallet{}, err
	}
	spendable := min(w.Balance, h.walletLimit) - w.Unconfirmed
	ps, err := h.db.HubPassSpend.Query().Where(hubpassspend.PassHash(hubs.PassKey(p))).Only(viewer.SystemContext(ctx))
	if err == nil {
		spendable = min(spendable, h.walletLimit-ps.Spent)
	} else if !ent.IsNotFound(err) {
		return hubs.OfflineWallet{}, err
	}
	return hubs.OfflineWallet{Currency: p.Currency, Balance: w.Balance, Unconfirmed: w.Unconfirmed, SyncedAt: w.SyncedAt,
		Spendable: max(spendable, 0)}, nil
}

// SignRequestsWith makes this hub sign its payment requests with the key
// of its API token (the one it reaches central with).
func (h *Sales) SignRequestsWith(key []byte) { h.requestKey = key }

// PaymentRequest prices lines at this hub for a buyer to pay by phone;
// nothing is taken until the hub sells with the receipt.
func (h *Sales) PaymentRequest(ctx context.Context, lines []hubs.SellLine) (hubs.PaymentRequest, error) {
	if err := h.counter(ctx); err != nil {
		return hubs.PaymentRequest{}, err
	}
	if h.code == "" {
		return hubs.PaymentRequest{}, checkout.BadInput("hub", "this server is not a hub; run `merchd edge`")
	}
	if err := hubs.CheckSellLines(lines); err != nil {
		return hubs.PaymentRequest{}, err
	}
	sys := viewer.SystemContext(ctx)
	r := hubs.PaymentRequest{SaleID: hubs.NewSaleID(), Hub: h.code}
	for _, l := range lines {
		v, line, err := hubs.PriceLine(sys, h.db.Variant, l, &r.Currency)
		if err != nil {
			return hubs.PaymentRequest{}, err
		}
		have, err := h.db.Stock.Query().Where(stock.VariantID(v.ID), stock.HasLocationWith(location.Code(h.code))).
			Select(stock.FieldAvailable).Int(sys)
		if ent.IsNotFound(err) || (err == nil && have < l.Quantity) {
			return hubs.PaymentRequest{}, fmt.Errorf("%s at the hub: %w", v.Sku, checkout.ErrOutOfStock)
		} else if err != nil {
			return hubs.PaymentRequest{}, err
		}
		r.Lines = append(r.Lines, line)
	}
	amount, err := hubs.SumLines(r.Lines)
	if err != nil {
		return hubs.PaymentRequest{}, checkout.BadInput("lines", "these lines add up to more than can be paid")
	}
	r.Amount = amount
	if h.requestKey == nil {
		return hubs.PaymentRequest{}, checkout.BadInput("hub", "this hub has no token to sign payment requests with")
	}
	return r.SignWith(h.requestKey), nil
}
