package hubs

import (
	"context"
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
)

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
