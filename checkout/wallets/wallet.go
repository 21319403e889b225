package wallets

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"entgo.io/ent/dialect"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/giftdraw"
	"github.com/merchd/merchd/ent/giftlot"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/orderline"
	"github.com/merchd/merchd/ent/topup"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/wallet"
	"github.com/merchd/merchd/ent/walletentry"
)

// Config bounds top-ups and names the presets clients offer.
type Config struct {
	TopUpMin     int64
	TopUpMax     int64
	TopUpPresets []int64
}

// DefaultConfig: top-ups from 5.00 to 500.00, presets 10, 25, 50.
func DefaultConfig() Config {
	return Config{TopUpMin: 500, TopUpMax: 50_000, TopUpPresets: []int64{1000, 2500, 5000}}
}

// Validate reports unusable settings.
func (c Config) Validate() error {
	if c.TopUpMin < 1 || c.TopUpMax < c.TopUpMin {
		return fmt.Errorf("wallets: top-up bounds %d..%d are not a range of positive amounts", c.TopUpMin, c.TopUpMax)
	}
	for _, p := range c.TopUpPresets {
		if p < c.TopUpMin || p > c.TopUpMax {
			return fmt.Errorf("wallets: top-up preset %d is outside %d..%d", p, c.TopUpMin, c.TopUpMax)
		}
	}
	return nil
}

// maxCredit bounds one grant or adjustment (10,000.00).
const maxCredit = 1_000_000

// Service keeps the stored-value ledger. Every balance change is one
// conditional update of the wallet (never below zero) plus one appended
// entry carrying the balance after it, in the same transaction.
type Service struct {
	db      *ent.Client
	dialect string
	cfg     Config
	pay     checkout.PaymentProvider
	now     func() time.Time
	txn.Announcer
}

// New returns the wallet service; pay may be nil (no top-ups).
func New(db *ent.Client, dialectName string, cfg Config, pay checkout.PaymentProvider, now func() time.Time) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{db: db, dialect: dialectName, cfg: cfg, pay: pay, now: now}, nil
}

// Config returns the top-up settings.
func (w *Service) Config() Config { return w.cfg }

// Posting is one ledger movement.
type Posting struct {
	CustomerID int
	Currency   string
	Amount     int64 // positive credits, negative debits
	Kind       walletentry.Kind
	Note       string
	OrderID    *int
	Reverses   *int       // the entry a REVERSAL undoes (once: unique)
	ExpiresAt  *time.Time // gift credit that expires
	// KeepLots leaves gift lots alone on a debit (the expiry of a lot
	// has already zeroed that lot).
	KeepLots bool
	// RestoreFrom names debit entries this credit gives back (a refund of
	// the order they paid). The gift lots they drew are restored first,
	// with their own expiry; only the rest is permanent credit. A credit
	// that Reverses an entry restores that entry's lots too.
	RestoreFrom []int
}

// Post applies p inside tx and returns the appended entry. A debit the
// balance cannot cover fails with ErrInsufficientFunds and changes nothing.
func (w *Service) Post(ctx context.Context, tx *ent.Tx, p Posting) (*ent.WalletEntry, error) {
	if p.Amount == 0 {
		return nil, checkout.BadInput("amount", "must not be zero")
	}
	walletID, bal, err := w.move(ctx, tx, p)
	if err != nil {
		return nil, err
	}
	e, err := tx.WalletEntry.Create().SetWalletID(walletID).SetCustomerID(p.CustomerID).SetKind(p.Kind).
		SetAmount(p.Amount).SetBalanceAfter(bal).SetNote(p.Note).SetNillableOrderID(p.OrderID).
		SetNillableReversesID(p.Reverses).SetNillableExpiresAt(p.ExpiresAt).SetCreatedAt(w.now()).Save(ctx)
	if err != nil {
		if ent.IsConstraintError(err) && p.Reverses != nil {
			return nil, checkout.ErrIdempotencyKeyReused.Detail("entry %d is already reversed", *p.Reverses)
		}
		return nil, err
	}
	if p.Amount < 0 && !p.KeepLots {
		if err := w.drawLots(ctx, tx, walletID, e.ID, -p.Amount); err != nil {
			return nil, err
		}
	}
	if p.Amount > 0 {
		from := p.RestoreFrom
		if p.Reverses != nil {
			from = append(slices.Clone(from), *p.Reverses)
		}
		if err := w.restoreLots(ctx, tx, from, p.Amount); err != nil {
			return nil, err
		}
	}
	if p.ExpiresAt != nil && p.Amount > 0 {
		if err := tx.GiftLot.Create().SetWalletID(walletID).SetEntryID(e.ID).SetRemaining(p.Amount).SetExpiresAt(*p.ExpiresAt).Exec(ctx); err != nil {
			return nil, err
		}
	}
	w.AfterCommit(tx, checkout.WalletTopic(p.CustomerID))
	return e, nil
}

// move changes the balance with one conditional UPDATE … RETURNING and
// returns the wallet and its new balance. A credit creates the wallet on
// first use; a debit from a wallet that does not exist is refused.
func (w *Service) move(ctx context.Context, tx *ent.Tx, p Posting) (int, int64, error) {
	q := `UPDATE wallets SET balance = balance + ?, updated_at = ? WHERE customer_id = ? AND currency = ?`
	args := []any{p.Amount, w.now(), p.CustomerID, p.Currency}
	if p.Amount < 0 {
		q += ` AND balance + ? >= 0`
		args = append(args, p.Amount)
	}
	q += ` RETURNING id, balance`
	for attempt := 0; ; attempt++ {
		id, bal, found, err := queryIDBalance(ctx, tx, w.dialect, q, args...)
		if err != nil || found {
			return id, bal, err
		}
		if p.Amount < 0 || attempt > 0 {
			return 0, 0, fmt.Errorf("debit %d %s: %w", -p.Amount, p.Currency, checkout.ErrInsufficientFunds)
		}
		if _, err := w.ensureWallet(ctx, tx, p.CustomerID, p.Currency); err != nil {
			return 0, 0, err
		}
	}
}

func queryIDBalance(ctx context.Context, tx *ent.Tx, dialectName, query string, args ...any) (id int, bal int64, found bool, err error) {
	if dialectName == dialect.Postgres {
		query = txn.ToDollar(query)
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, 0, false, err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&id, &bal); err != nil {
			return 0, 0, false, err
		}
		found = true
	}
	return id, bal, found, rows.Err()
}

// drawLots spends expiring gift credit first, soonest expiry first, so
// expiry only ever takes back what was not spent. Each draw is recorded
// against the debit entry, so giving the debit back restores the lots.
func (w *Service) drawLots(ctx context.Context, tx *ent.Tx, walletID, entryID int, amount int64) error {
	lots, err := tx.GiftLot.Query().Where(giftlot.WalletID(walletID), giftlot.RemainingGT(0)).
		Order(ent.Asc(giftlot.FieldExpiresAt), ent.Asc(giftlot.FieldID)).All(ctx)
	if err != nil {
		return err
	}
	for _, l := range lots {
		if amount == 0 {
			break
		}
		take := min(l.Remaining, amount)
		n, err := tx.GiftLot.Update().Where(giftlot.ID(l.ID), giftlot.RemainingGTE(take)).AddRemaining(-take).Save(ctx)
		if err != nil {
			return err
		}
		if n == 1 {
			amount -= take
			if err := tx.GiftDraw.Create().SetEntryID(entryID).SetLotID(l.ID).SetAmount(take).Exec(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// restoreLots gives up to amount back to the gift lots the debit entries
// in from drew, the latest draw first, each with its lot's own expiry (a lot
// already past it is taken back by the next ExpireGifts). Each draw moves
// with one conditional update, so nothing is restored twice.
func (w *Service) restoreLots(ctx context.Context, tx *ent.Tx, from []int, amount int64) error {
	if len(from) == 0 {
		return nil
	}
	draws, err := tx.GiftDraw.Query().Where(giftdraw.EntryIDIn(from...)).Order(ent.Desc(giftdraw.FieldID)).All(ctx)
	if err != nil {
		return err
	}
	for _, d := range draws {
		if amount == 0 {
			break
		}
		give := min(d.Amount-d.Restored, amount)
		if give <= 0 {
			continue
		}
		n, err := tx.GiftDraw.Update().Where(giftdraw.ID(d.ID), giftdraw.RestoredLTE(d.Amount-give)).AddRestored(give).Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			continue // restored meanwhile
		}
		if err := tx.GiftLot.UpdateOneID(d.LotID).AddRemaining(give).Exec(ctx); err != nil {
			return err
		}
		amount -= give
	}
	return nil
}

func (w *Service) ensureWallet(ctx context.Context, tx *ent.Tx, customerID int, currency string) (int, error) {
	id, err := tx.Wallet.Query().Where(wallet.CustomerID(customerID), wallet.Currency(currency)).OnlyID(ctx)
	if ent.IsNotFound(err) {
		_, err = txn.Exec(ctx, tx, w.dialect,
			`INSERT INTO wallets (customer_id, currency, balance, created_at, updated_at) VALUES (?, ?, 0, ?, ?)
			 ON CONFLICT (customer_id, currency) DO NOTHING`, customerID, currency, w.now(), w.now())
		if err != nil {
			return 0, err
		}
		id, err = tx.Wallet.Query().Where(wallet.CustomerID(customerID), wallet.Currency(currency)).OnlyID(ctx)
	}
	return id, err
}

// Wallet returns the viewer's wallet in currency, nil if they have none yet.
func (w *Service) Wallet(ctx context.Context, currency string) (*ent.Wallet, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return nil, err
	}
	ww, err := w.db.Wallet.Query().Where(wallet.CustomerID(customerID), wallet.Currency(currency)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return ww, err
}

// TopUpResult is a started top-up: confirm clientSecret with Stripe.
type TopUpResult struct {
	TopUpID         int
	ClientSecret    string
	PaymentIntentID string
}

// TopUp starts a card payment into the viewer's wallet; the balance moves
// only when Stripe confirms it (webhook), exactly once.
func (w *Service) TopUp(ctx context.Context, amount checkout.Money, key string) (TopUpResult, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return TopUpResult{}, err
	}
	if w.pay == nil {
		return TopUpResult{}, &checkout.InputError{Field: "amount", Msg: checkout.ErrPaymentsNotConfigured.Error()}
	}
	if !checkout.IsCurrencyCode(amount.Currency) {
		return TopUpResult{}, checkout.BadInput("amount.currency", "%q is not an ISO 4217 code", amount.Currency)
	}
	if amount.Amount < w.cfg.TopUpMin || amount.Amount > w.cfg.TopUpMax {
		return TopUpResult{}, checkout.BadInput("amount", "top-ups are between %d and %d", w.cfg.TopUpMin, w.cfg.TopUpMax)
	}
	id, err := txn.Idempotent(ctx, w.db, "topUpWallet", key, amount, func(ctx context.Context, tx *ent.Tx) (int, error) {
		t, err := tx.TopUp.Create().SetCustomerID(customerID).SetAmount(amount.Amount).SetCurrency(amount.Currency).
			Save(viewer.SystemContext(ctx))
		if err != nil {
			return 0, err
		}
		return t.ID, nil
	})
	if err != nil {
		return TopUpResult{}, err
	}
	sys := viewer.SystemContext(ctx)
	t, err := w.db.TopUp.Get(sys, id)
	if err != nil {
		return TopUpResult{}, err
	}
	res := TopUpResult{TopUpID: id}
	if t.StripePaymentIntentID != nil {
		res.PaymentIntentID, res.ClientSecret = *t.StripePaymentIntentID, t.ClientSecret
		return res, nil
	}
	pi, err := w.pay.CreatePaymentIntent(sys, checkout.PaymentIntentParams{
		Amount: t.Amount, Currency: t.Currency, OrderID: 0, OrderNumber: "top-up " + strconv.Itoa(id),
		Purpose: "topup", TopUpID: id, IdempotencyKey: "merchd-topup-" + strconv.Itoa(id),
	})
	if err != nil {
		return res, fmt.Errorf("wallets: top-up %d: %w", id, err)
	}
	n, err := w.db.TopUp.Update().Where(topup.ID(id), topup.StripePaymentIntentIDIsNil()).
		SetStripePaymentIntentID(pi.ID).SetClientSecret(pi.ClientSecret).Save(sys)
	if err != nil {
		return res, err
	}
	if n == 0 { // a concurrent call stored its PaymentIntent first: that one is the answer
		t, err := w.db.TopUp.Get(sys, id)
		if err != nil || t.StripePaymentIntentID == nil {
			return res, fmt.Errorf("wallets: top-up %d: re-read payment intent: %v", id, err)
		}
		pi.ID, pi.ClientSecret = *t.StripePaymentIntentID, t.ClientSecret
	}
	res.PaymentIntentID, res.ClientSecret = pi.ID, pi.ClientSecret
	return res, nil
}

// ApplyTopUpEvent credits (or fails) a top-up inside the webhook's
// transaction; the PENDING → SUCCEEDED transition makes it happen once.
// A success with another amount or currency is never credited: the top-up
// becomes MISMATCH and refund reports that what Stripe captured must go
// back to the card once the transaction commits.
func (w *Service) ApplyTopUpEvent(ctx context.Context, tx *ent.Tx, t *ent.TopUp, ev checkout.PaymentEvent) (refund bool, err error) {
	switch ev.Type {
	case "payment_intent.succeeded":
		if ev.Amount != t.Amount || !checkout.EqualFoldCurrency(ev.Currency, t.Currency) {
			n, err := tx.TopUp.Update().Where(topup.ID(t.ID), topup.StatusIn(topup.StatusPENDING, topup.StatusFAILED)).
				SetStatus(topup.StatusMISMATCH).Save(ctx)
			return n == 1 && ev.Amount > 0, err
		}
		n, err := tx.TopUp.Update().Where(topup.ID(t.ID), topup.StatusIn(topup.StatusPENDING, topup.StatusFAILED)).
			SetStatus(topup.StatusSUCCEEDED).Save(ctx)
		if err != nil || n == 0 {
			return false, err
		}
		_, err = w.Post(ctx, tx, Posting{CustomerID: t.CustomerID, Currency: t.Currency, Amount: t.Amount,
			Kind: walletentry.KindTOP_UP, Note: "card top-up"})
		return false, err
	case "payment_intent.payment_failed", "payment_intent.canceled":
		return false, tx.TopUp.Update().Where(topup.ID(t.ID), topup.StatusEQ(topup.StatusPENDING)).
			SetStatus(topup.StatusFAILED).Exec(ctx)
	}
	return false, nil
}

// GrantInput gives credit to customers: those listed, or everyone with a
// paid order from a drop.
type GrantInput struct {
	CustomerIDs []int
	DropID      *int
	Amount      checkout.Money
	Note        string
	ExpiresAt   *time.Time
}

// GrantCredit gives each customer a gift (once per customer per key) and
// returns how many received it.
func (w *Service) GrantCredit(ctx context.Context, in GrantInput, key string) (int, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return 0, err
	}
	switch {
	case in.Amount.Amount <= 0 || in.Amount.Amount > maxCredit:
		return 0, checkout.BadInput("amount", "must be between 1 and %d", maxCredit)
	case !checkout.IsCurrencyCode(in.Amount.Currency):
		return 0, checkout.BadInput("amount.currency", "%q is not an ISO 4217 code", in.Amount.Currency)
	case (len(in.CustomerIDs) == 0) == (in.DropID == nil):
		return 0, checkout.BadInput("customerIds", "give either customerIds or dropId")
	case len(in.CustomerIDs) > 10_000:
		return 0, checkout.BadInput("customerIds", "at most 10,000 at once")
	case in.ExpiresAt != nil && !in.ExpiresAt.After(w.now()):
		return 0, checkout.BadInput("expiresAt", "must be in the future")
	case len(in.Note) > 500:
		return 0, checkout.BadInput("note", "at most 500 characters")
	}
	return txn.Idempotent(ctx, w.db, "grantCredit", key, in, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		ids := in.CustomerIDs
		if in.DropID != nil {
			var err error
			ids, err = tx.Order.Query().Where(order.StatusIn(order.StatusPAID, order.StatusPARTIALLY_REFUNDED),
				order.HasLinesWith(orderline.DropID(*in.DropID))).Unique(true).Select(order.FieldCustomerID).Ints(sys)
			if err != nil {
				return 0, err
			}
		}
		ids = slices.Compact(slices.Sorted(slices.Values(ids)))
		for _, id := range ids {
			if _, err := tx.Customer.Get(sys, id); err != nil {
				return 0, checkout.NotFoundAs(err, "customer")
			}
			if _, err := w.Post(sys, tx, Posting{CustomerID: id, Currency: in.Amount.Currency, Amount: in.Amount.Amount,
				Kind: walletentry.KindGIFT, Note: in.Note, ExpiresAt: in.ExpiresAt}); err != nil {
				return 0, err
			}
		}
		return len(ids), nil
	})
}

// Adjust lets staff correct a balance with a reason.
func (w *Service) Adjust(ctx context.Context, customerID int, amount checkout.Money, reason, key string) (int, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return 0, err
	}
	if amount.Amount == 0 || amount.Amount > maxCredit || amount.Amount < -maxCredit {
		return 0, checkout.BadInput("amount", "must be non-zero and within ±%d", maxCredit)
	}
	if len(reason) < 3 || len(reason) > 500 {
		return 0, checkout.BadInput("reason", "say why, in 3 to 500 characters")
	}
	if !checkout.IsCurrencyCode(amount.Currency) {
		return 0, checkout.BadInput("amount.currency", "%q is not an ISO 4217 currency in use", amount.Currency)
	}
	return txn.Idempotent(ctx, w.db, "adjustWallet", key, struct {
		C      int
		A      checkout.Money
		Reason string
	}{customerID, amount, reason}, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		if _, err := tx.Customer.Get(sys, customerID); err != nil {
			return 0, checkout.NotFoundAs(err, "customer")
		}
		e, err := w.Post(sys, tx, Posting{CustomerID: customerID, Currency: amount.Currency, Amount: amount.Amount,
			Kind: walletentry.KindADJUSTMENT, Note: reason})
		if err != nil {
			return 0, err
		}
		return e.ID, nil
	})
}

// ExpireGifts takes back the unspent part of gifts past their expiry, each
// with a GIFT_EXPIRY entry; history is never edited. The conditional
// update of the lot makes each expiry happen once; a lot can expire again
// only with credit restored to it later (a reversed or refunded spend). It returns how many
// lots it expired.
func (w *Service) ExpireGifts(ctx context.Context) (int, error) {
	sys := viewer.SystemContext(ctx)
	lots, err := w.db.GiftLot.Query().Where(giftlot.ExpiresAtLTE(w.now()), giftlot.RemainingGT(0)).Limit(200).All(sys)
	if err != nil || len(lots) == 0 {
		return 0, err
	}
	return txn.Do(sys, w.db, "expire gifts", func(tx *ent.Tx) (int, error) {
		n := 0
		for _, l := range lots {
			k, err := tx.GiftLot.Update().Where(giftlot.ID(l.ID), giftlot.RemainingEQ(l.Remaining)).SetRemaining(0).Save(sys)
			if err != nil {
				return 0, err
			}
			if k == 0 {
				continue // spent meanwhile; the next sweep sees the new remainder
			}
			ww, err := tx.Wallet.Get(sys, l.WalletID)
			if err != nil {
				return 0, err
			}
			if _, err := w.Post(sys, tx, Posting{CustomerID: ww.CustomerID, Currency: ww.Currency, Amount: -l.Remaining,
				Kind: walletentry.KindGIFT_EXPIRY, Note: "gift credit expired", KeepLots: true}); err != nil {
				return 0, err
			}
			n++
		}
		return n, nil
	})
}
