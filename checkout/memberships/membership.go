package memberships

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/checkout/wallets"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/collection"
	"github.com/merchd/merchd/ent/customer"
	"github.com/merchd/merchd/ent/memberprice"
	"github.com/merchd/merchd/ent/membership"
	"github.com/merchd/merchd/ent/membershiptier"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/walletentry"
)

// Service sells tiers and answers "is this customer a member now, and
// what do they pay?" for drops and checkout.
type Service struct {
	db      *ent.Client
	dialect string
	log     *slog.Logger
	wallets *wallets.Service
	subs    checkout.Subscriptions // nil: no card memberships
	now     func() time.Time
	// Grace is how long a membership whose renewal failed stays PAST_DUE
	// (without perks) before it expires.
	Grace time.Duration
}

// New returns the membership service; subs may be nil.
func New(db *ent.Client, dialectName string, wallets *wallets.Service, subs checkout.Subscriptions, now func() time.Time, log *slog.Logger) *Service {
	return &Service{db: db, dialect: dialectName, log: log, wallets: wallets, subs: subs, now: now, Grace: 7 * 24 * time.Hour}
}

// TierInput creates a tier.
type TierInput struct {
	Name               string
	Price              checkout.Money
	Period             membershiptier.Period
	EarlyAccessMinutes int
	DiscountPercent    int
}

// CreateTier adds a membership tier (staff).
func (m *Service) CreateTier(ctx context.Context, in TierInput) (*ent.MembershipTier, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	switch {
	case in.Price.Amount <= 0 || in.Price.Amount > checkout.MaxPrice:
		return nil, checkout.BadInput("price", "must be between 1 and %d", checkout.MaxPrice)
	case !checkout.IsCurrencyCode(in.Price.Currency):
		return nil, checkout.BadInput("price.currency", "%q is not an ISO 4217 code", in.Price.Currency)
	case membershiptier.PeriodValidator(in.Period) != nil:
		return nil, checkout.BadInput("period", "must be MONTH or YEAR")
	case in.EarlyAccessMinutes < 0 || in.EarlyAccessMinutes > 7*24*60:
		return nil, checkout.BadInput("earlyAccessMinutes", "must be between 0 and a week")
	case in.DiscountPercent < 0 || in.DiscountPercent > 100:
		return nil, checkout.BadInput("discountPercent", "must be between 0 and 100")
	}
	t, err := m.db.MembershipTier.Create().SetName(in.Name).SetPriceAmount(in.Price.Amount).SetCurrency(in.Price.Currency).
		SetPeriod(in.Period).SetEarlyAccessMinutes(in.EarlyAccessMinutes).SetDiscountPercent(in.DiscountPercent).
		Save(viewer.SystemContext(ctx))
	return t, checkout.WrapWrite("create tier", err)
}

// MemberPriceInput sets a tier's price for a variant, or a percentage off
// a collection.
type MemberPriceInput struct {
	TierID       int
	VariantID    *int
	CollectionID *int
	Amount       *int64
	PercentOff   *int
}

// SetMemberPrice adds a member price rule (staff).
func (m *Service) SetMemberPrice(ctx context.Context, in MemberPriceInput) (*ent.MemberPrice, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	if (in.VariantID == nil) == (in.CollectionID == nil) {
		return nil, checkout.BadInput("variantId", "give either variantId or collectionId")
	}
	if (in.Amount == nil) == (in.PercentOff == nil) {
		return nil, checkout.BadInput("amount", "give either amount or percentOff")
	}
	if in.Amount != nil && (*in.Amount < 0 || *in.Amount > checkout.MaxPrice) {
		return nil, checkout.BadInput("amount", "must be between 0 and %d", checkout.MaxPrice)
	}
	if in.PercentOff != nil && (*in.PercentOff < 0 || *in.PercentOff > 100) {
		return nil, checkout.BadInput("percentOff", "must be between 0 and 100")
	}
	p, err := m.db.MemberPrice.Create().SetTierID(in.TierID).SetNillableVariantID(in.VariantID).
		SetNillableCollectionID(in.CollectionID).SetNillableAmount(in.Amount).SetNillablePercentOff(in.PercentOff).
		Save(viewer.SystemContext(ctx))
	return p, checkout.WrapWrite("set member price", checkout.NotFoundAs(err, "tier"))
}

// ActiveTier is the tier a customer enjoys right now, or nil: a membership
// counts only within its paid period and never once EXPIRED.
func (m *Service) ActiveTier(ctx context.Context, customerID int) (*ent.MembershipTier, error) {
	ms, err := m.db.Membership.Query().
		Where(membership.CustomerID(customerID), membership.StatusIn(membership.StatusACTIVE, membership.StatusCANCELED, membership.StatusPAST_DUE),
			membership.CurrentPeriodEndGT(m.now())).
		WithTier().Order(ent.Desc(membership.FieldCurrentPeriodEnd)).First(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ms.Edges.Tier, nil
}

// EarlyAccess is the drops' early-window gate: members whose tier's lead
// time reaches back to now may buy.
func (m *Service) EarlyAccess(ctx context.Context, customerID int, d *ent.Drop) (bool, error) {
	t, err := m.ActiveTier(ctx, customerID)
	if err != nil || t == nil {
		return false, err
	}
	return !m.now().Before(d.OpensAt.Add(-time.Duration(t.EarlyAccessMinutes) * time.Minute)), nil
}

// Price is what customerID pays for one unit of v: the lowest of the list
// price and their active tier's rules (variant price, collection or tier
// discount).
func (m *Service) Price(ctx context.Context, customerID int, v *ent.Variant) (int64, error) {
	t, err := m.ActiveTier(ctx, customerID)
	if err != nil || t == nil {
		return v.PriceAmount, err
	}
	return m.TierPrice(ctx, t, v)
}

// TierPrice is a variant's price for members of tier t.
func (m *Service) TierPrice(ctx context.Context, t *ent.MembershipTier, v *ent.Variant) (int64, error) {
	best := v.PriceAmount
	if t.Currency != v.Currency {
		return best, nil
	}
	if t.DiscountPercent > 0 {
		best = min(best, percentOff(v.PriceAmount, t.DiscountPercent))
	}
	sys := viewer.SystemContext(ctx)
	cols, err := m.db.Collection.Query().Where(collection.HasProductsWith(product.ID(v.ProductID))).IDs(sys)
	if err != nil {
		return 0, err
	}
	rules, err := m.db.MemberPrice.Query().Where(memberprice.TierID(t.ID), memberprice.Or(
		memberprice.VariantID(v.ID), memberprice.CollectionIDIn(cols...),
	)).All(sys)
	if err != nil {
		return 0, err
	}
	for _, r := range rules {
		if r.Amount != nil {
			best = min(best, *r.Amount)
		}
		if r.PercentOff != nil {
			best = min(best, percentOff(v.PriceAmount, *r.PercentOff))
		}
	}
	return best, nil
}

func percentOff(amount int64, pct int) int64 {
	return amount - amount*int64(pct)/100 // rounds the discount down, the price up
}

// BuyResult is a started membership; for card, confirm clientSecret.
type BuyResult struct {
	MembershipID int
	ClientSecret string
}

// Buy starts a membership: from the wallet it is active at once; by card
// it becomes active when Stripe reports the first invoice paid.
func (m *Service) Buy(ctx context.Context, tierID int, with checkout.PayWith, key string) (BuyResult, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return BuyResult{}, err
	}
	if with.Card == (with.Wallet != nil) {
		return BuyResult{}, checkout.BadInput("payWith", "pay a membership either by card or from the wallet")
	}
	if with.Card && m.subs == nil {
		return BuyResult{}, &checkout.InputError{Field: "payWith.card", Msg: checkout.ErrPaymentsNotConfigured.Error()}
	}
	sys := viewer.SystemContext(ctx)
	// The wallet amount is part of the request: the same key with another
	// amount is a different request (IDEMPOTENCY_KEY_REUSED), not a replay.
	req := struct {
		Tier   int
		Card   bool
		Wallet *checkout.Money
	}{tierID, with.Card, with.Wallet}
	id, err := txn.Idempotent(ctx, m.db, "buyMembership", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		t, err := tx.MembershipTier.Get(sys, tierID)
		if err != nil {
			return 0, checkout.NotFoundAs(err, "tier")
		}
		if with.Wallet != nil && (with.Wallet.Currency != t.Currency || with.Wallet.Amount != t.PriceAmount) {
			return 0, checkout.BadInput("payWith.wallet", "the tier costs %d %s", t.PriceAmount, t.Currency)
		}
		// The partial unique index membership_one_current_per_customer is
		// the rule (a read here would race); the insert below is refused
		// while the customer has an ACTIVE or PAST_DUE membership.
		c := tx.Membership.Create().SetCustomerID(customerID).SetTierID(t.ID)
		if with.Card {
			// A card membership starts INCOMPLETE (outside the index);
			// refuse it up front rather than charge a member twice.
			current, err := tx.Membership.Query().Where(membership.CustomerID(customerID),
				membership.StatusIn(membership.StatusACTIVE, membership.StatusPAST_DUE)).Exist(sys)
			if err != nil {
				return 0, err
			}
			if current {
				return 0, checkout.ErrAlreadyMember
			}
			ms, err := c.SetPaysWith(membership.PaysWithCARD).Save(sys)
			if err != nil {
				return 0, err
			}
			return ms.ID, nil
		}
		ms, err := c.SetPaysWith(membership.PaysWithWALLET).SetStatus(membership.StatusACTIVE).
			SetCurrentPeriodEnd(addPeriod(m.now(), t.Period)).Save(sys)
		if ent.IsConstraintError(err) {
			return 0, checkout.ErrAlreadyMember
		}
		if err != nil {
			return 0, err
		}
		if _, err := m.wallets.Post(sys, tx, wallets.Posting{CustomerID: customerID, Currency: t.Currency, Amount: -t.PriceAmount,
			Kind: walletentry.KindSPEND, Note: "membership " + t.Name}); err != nil {
			return 0, err
		}
		return ms.ID, nil
	})
	if err != nil || !with.Card {
		return BuyResult{MembershipID: id}, err
	}
	return m.ensureSubscription(sys, id)
}

func addPeriod(t time.Time, p membershiptier.Period) time.Time {
	if p == membershiptier.PeriodYEAR {
		return t.AddDate(1, 0, 0)
	}
	return t.AddDate(0, 1, 0)
}

// ensureSubscription creates the Stripe customer, product and subscription
// a card membership needs, each with a key derived from merchd's ids.
func (m *Service) ensureSubscription(ctx context.Context, membershipID int) (BuyResult, error) {
	res := BuyResult{MembershipID: membershipID}
	ms, err := m.db.Membership.Query().Where(membership.ID(membershipID)).WithTier().Only(ctx)
	if err != nil {
		return res, err
	}
	if ms.StripeSubscriptionID != nil {
		res.ClientSecret = ms.ClientSecret
		return res, nil
	}
	c, err := m.db.Customer.Get(ctx, ms.CustomerID)
	if err != nil {
		return res, err
	}
	custID := ""
	if c.StripeCustomerID != nil {
		custID = *c.StripeCustomerID
	} else {
		if custID, err = m.subs.EnsureCustomer(ctx, c.ID, c.Email, "merchd-customer-"+strconv.Itoa(c.ID)); err != nil {
			return res, err
		}
		if err := m.db.Customer.Update().Where(customer.ID(c.ID), customer.StripeCustomerIDIsNil()).SetStripeCustomerID(custID).Exec(ctx); err != nil {
			return res, err
		}
	}
	t := ms.Edges.Tier
	prodID := ""
	if t.StripeProductID != nil {
		prodID = *t.StripeProductID
	} else {
		if prodID, err = m.subs.EnsureProduct(ctx, "merchd membership: "+t.Name, "merchd-tier-"+strconv.Itoa(t.ID)); err != nil {
			return res, err
		}
		if err := m.db.MembershipTier.Update().Where(membershiptier.ID(t.ID), membershiptier.StripeProductIDIsNil()).SetStripeProductID(prodID).Exec(ctx); err != nil {
			return res, err
		}
	}
	interval := "month"
	if t.Period == membershiptier.PeriodYEAR {
		interval = "year"
	}
	sub, err := m.subs.CreateSubscription(ctx, checkout.SubscriptionParams{StripeCustomerID: custID, ProductID: prodID,
		Amount: t.PriceAmount, Currency: t.Currency, Interval: interval, MembershipID: ms.ID,
		IdempotencyKey: "merchd-membership-" + strconv.Itoa(ms.ID)})
	if err != nil {
		return res, fmt.Errorf("memberships: membership %d: %w", ms.ID, err)
	}
	if err := m.db.Membership.Update().Where(membership.ID(ms.ID), membership.StripeSubscriptionIDIsNil()).
		SetStripeSubscriptionID(sub.ID).SetClientSecret(sub.ClientSecret).Exec(ctx); err != nil {
		return res, err
	}
	res.ClientSecret = sub.ClientSecret
	return res, nil
}

// applySubscriptionEvent moves a card membership through its states.
func (m *Service) applySubscriptionEvent(ctx context.Context, tx *ent.Tx, ev checkout.SubscriptionEvent, log *slog.Logger) error {
	ms, err := tx.Membership.Query().Where(membership.StripeSubscriptionID(ev.SubscriptionID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	u := tx.Membership.Update().Where(membership.ID(ms.ID))
	switch ev.Type {
	case "invoice.paid":
		if ms.CurrentPeriodEnd != nil && !ev.PeriodEnd.After(*ms.CurrentPeriodEnd) {
			return nil // an older invoice arriving late
		}
		if ms.Status == membership.StatusCANCELED || ms.Status == membership.StatusEXPIRED {
			return nil
		}
		if ms.Status == membership.StatusINCOMPLETE {
			// One current membership per customer (a unique index): a card
			// membership paid while another became active is left for staff
			// rather than failing the webhook forever.
			other, err := tx.Membership.Query().Where(membership.CustomerID(ms.CustomerID), membership.IDNEQ(ms.ID),
				membership.StatusIn(membership.StatusACTIVE, membership.StatusPAST_DUE)).Exist(ctx)
			if err != nil {
				return err
			}
			if other {
				log.Error("card membership paid while the customer has another; cancel its subscription and refund it",
					"membership_id", ms.ID, "customer_id", ms.CustomerID, "event_id", ev.EventID)
				return nil
			}
		}
		return u.SetStatus(membership.StatusACTIVE).SetCurrentPeriodEnd(ev.PeriodEnd).Exec(ctx)
	case "invoice.payment_failed":
		if ms.Status != membership.StatusACTIVE {
			return nil
		}
		return u.SetStatus(membership.StatusPAST_DUE).Exec(ctx)
	case "customer.subscription.deleted":
		return u.SetStatus(membership.StatusCANCELED).Exec(ctx)
	}
	return nil
}

// Renew charges wallet memberships whose period ended (one more period if
// the balance covers it, else PAST_DUE) and expires memberships past due
// longer than Grace. It returns how many it renewed.
func (m *Service) Renew(ctx context.Context) (int, error) {
	sys := viewer.SystemContext(ctx)
	now := m.now()
	due, err := m.db.Membership.Query().Where(membership.PaysWithEQ(membership.PaysWithWALLET),
		membership.StatusIn(membership.StatusACTIVE, membership.StatusPAST_DUE), membership.CurrentPeriodEndLTE(now)).
		WithTier().Limit(200).All(sys)
	if err != nil {
		return 0, err
	}
	renewed := 0
	for _, ms := range due {
		t := ms.Edges.Tier
		_, err := txn.Do(sys, m.db, "renew membership", func(tx *ent.Tx) (struct{}, error) {
			_, err := m.wallets.Post(sys, tx, wallets.Posting{CustomerID: ms.CustomerID, Currency: t.Currency, Amount: -t.PriceAmount,
				Kind: walletentry.KindSPEND, Note: "membership " + t.Name + " renewal"})
			if err != nil {
				return struct{}{}, err
			}
			n, err := tx.Membership.Update().Where(membership.ID(ms.ID), membership.CurrentPeriodEndEQ(*ms.CurrentPeriodEnd)).
				SetStatus(membership.StatusACTIVE).SetCurrentPeriodEnd(addPeriod(*ms.CurrentPeriodEnd, t.Period)).Save(sys)
			if err == nil && n == 0 {
				err = fmt.Errorf("membership %d changed under us: %w", ms.ID, checkout.ErrOutOfStock)
			}
			return struct{}{}, err
		})
		switch {
		case err == nil:
			renewed++
		case errors.Is(err, checkout.ErrInsufficientFunds):
			st := membership.StatusPAST_DUE
			if !now.Before(ms.CurrentPeriodEnd.Add(m.Grace)) {
				st = membership.StatusEXPIRED
			}
			if err := m.db.Membership.UpdateOneID(ms.ID).SetStatus(st).Exec(sys); err != nil {
				return renewed, err
			}
		case errors.Is(err, checkout.ErrOutOfStock):
		default:
			return renewed, err
		}
	}
	// Card memberships Stripe stopped renewing expire after the grace.
	_, err = m.db.Membership.Update().Where(membership.PaysWithEQ(membership.PaysWithCARD),
		membership.StatusIn(membership.StatusACTIVE, membership.StatusPAST_DUE, membership.StatusCANCELED),
		membership.CurrentPeriodEndLTE(now.Add(-m.Grace))).SetStatus(membership.StatusEXPIRED).Save(sys)
	return renewed, err
}

// HandleSubscriptionEvent applies a membership billing event from the
// payment provider exactly once (txn.ClaimEvent in the same transaction).
func (m *Service) HandleSubscriptionEvent(ctx context.Context, ev checkout.SubscriptionEvent) error {
	sys := viewer.SystemContext(ctx)
	_, err := txn.Do(sys, m.db, "subscription event", func(tx *ent.Tx) (struct{}, error) {
		first, err := txn.ClaimEvent(sys, tx, m.dialect, ev.EventID, ev.Type, m.now())
		if err != nil || !first {
			return struct{}{}, err
		}
		return struct{}{}, m.applySubscriptionEvent(sys, tx, ev, m.log)
	})
	return err
}
