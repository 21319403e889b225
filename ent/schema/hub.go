package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/merchd/merchd/ent/schema/types"
)

// HubSale is one sale made at a pop-up hub. The hub writes it together with
// its outbox entry; central records the same sale (same sale_id) exactly
// once when the outbox delivers it.
type HubSale struct{ ent.Schema }

// Fields of the HubSale.
func (HubSale) Fields() []ent.Field {
	return []ent.Field{
		field.String("sale_id").Unique().Immutable().NotEmpty().MaxLen(64),
		field.String("hub").Immutable().NotEmpty(), // the hub's location code
		// Lines as sold: [{sku, quantity, unitAmount}].
		field.JSON("lines", []types.SaleLine{}).Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("total_amount").NonNegative().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		// QR: paid on central's page from the buyer's phone, shown to the
		// hub as a receipt code central signed.
		field.Enum("paid_with").Values("CASH", "WALLET", "CARD", "QR").Immutable(),
		// The wallet spent (WALLET sales), from the customer's signed pass.
		field.Int("customer_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("sold_at").Immutable(),
		field.Time("synced_at").Optional().Nillable(),
		// On central: APPLIED sales took the units from the hub's
		// allocation; a CONFLICT sale could not (sold beyond the allocation,
		// unknown SKU) and waits for staff, with the reason, having changed
		// nothing. A SHORTFALL sale took its units (the goods left the hub)
		// but was not paid in full — a wallet spent meanwhile elsewhere, a
		// phone payment refunded on central meanwhile: shortfall_amount is
		// what staff have to settle with the customer.
		field.Enum("status").Values("APPLIED", "CONFLICT", "SHORTFALL").Default("APPLIED"),
		field.String("conflict").Optional().Nillable(),
		field.Int64("shortfall_amount").Default(0).NonNegative(),
		// On central: sha256 of the sale as the hub delivered it, so a
		// redelivery of the same saleId with other content is reported,
		// not silently taken for the first.
		field.String("content_hash").Optional().Immutable().MaxLen(64).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the HubSale.
func (HubSale) Indexes() []ent.Index {
	return []ent.Index{index.Fields("hub", "sold_at"), index.Fields("status", "sold_at")}
}

// Annotations of the HubSale. The CHECKs hold for the raw INSERT that
// records a delivered sale, too.
func (HubSale) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField(),
		entsql.Checks(map[string]string{
			"hub_sale_total_non_negative":     "total_amount >= 0",
			"hub_sale_shortfall_non_negative": "shortfall_amount >= 0",
		})}
}

// Policy of the HubSale: staff only (a hub's token records sales through
// checkout, never reads the list).
func (HubSale) Policy() ent.Policy { return staffOnlyPolicy() }

// Outbox holds what a hub still has to tell central. An entry is written in
// the same transaction as the sale and marked done only after central
// confirms; it survives restarts.
type Outbox struct{ ent.Schema }

// Fields of the Outbox.
func (Outbox) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").Unique().Immutable(), // the idempotency key central sees
		field.String("kind").Immutable(),
		field.Bytes("payload").Immutable(),
		field.Enum("status").Values("PENDING", "DONE").Default("PENDING"),
		field.Int("attempts").Default(0),
		field.String("last_error").Default(""),
		field.Time("created_at").Default(timeNow).Immutable(),
		field.Time("next_attempt_at").Default(timeNow),
		field.Time("done_at").Optional().Nillable(),
	}
}

// Indexes of the Outbox.
func (Outbox) Indexes() []ent.Index {
	return []ent.Index{index.Fields("status", "next_attempt_at")}
}

// Annotations of the Outbox.
func (Outbox) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll), entsql.Checks(map[string]string{"outbox_attempts": "attempts >= 0"})}
}

// Policy of the Outbox.
func (Outbox) Policy() ent.Policy { return systemOnlyPolicy() }

// HubWallet is, at a hub, what it knows of one customer's wallet: the
// balance central last reported and what the hub has spent from it since,
// not yet confirmed. A hub spends at most min(balance, offline limit)
// unconfirmed per customer, so an outage risks a bounded amount.
type HubWallet struct{ ent.Schema }

// Fields of the HubWallet.
func (HubWallet) Fields() []ent.Field {
	return []ent.Field{
		field.Int("customer_id").Immutable(), // central's customer id
		field.String("currency").Immutable(),
		field.Int64("balance").NonNegative(),
		field.Int64("unconfirmed").Default(0).NonNegative(),
		field.Time("synced_at"),
	}
}

// Indexes of the HubWallet.
func (HubWallet) Indexes() []ent.Index {
	return []ent.Index{index.Fields("customer_id", "currency").Unique()}
}

// Annotations of the HubWallet.
func (HubWallet) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the HubWallet.
func (HubWallet) Policy() ent.Policy { return systemOnlyPolicy() }

// HubPassSpend is how much one wallet pass has paid at hubs, in total and
// across every hub: on central, what it has debited for hub WALLET sales
// made with the pass; at a hub, what the hub has taken with it. Either
// side moves spent with one conditional update (spent + n <= the offline
// limit) in the transaction that records the sale, so a pass, reusable
// and good at any hub, never pays more than the limit in total: the
// wallet's offline risk is bounded per pass, and a customer who spent it
// opens the wallet page for a fresh one. A pass is named by a hash of
// what it says (customer, currency, expiry), not of its encoding.
type HubPassSpend struct{ ent.Schema }

// Fields of the HubPassSpend.
func (HubPassSpend) Fields() []ent.Field {
	return []ent.Field{
		field.String("pass_hash").Immutable().NotEmpty().MaxLen(64),
		field.Int("customer_id").Immutable(),
		field.String("currency").Immutable(),
		field.String("first_hub").Immutable(), // the hub the pass first paid at
		field.Time("expires_at").Immutable(),  // the pass's; the row is kept past it
		field.Int64("spent").Default(0).NonNegative(),
	}
}

// Indexes of the HubPassSpend.
func (HubPassSpend) Indexes() []ent.Index {
	return []ent.Index{index.Fields("pass_hash").Unique(), index.Fields("expires_at")}
}

// Annotations of the HubPassSpend. The CHECK holds for the raw updates
// that move spent.
func (HubPassSpend) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll),
		entsql.Checks(map[string]string{"hub_pass_spend_spent_nonnegative": "spent >= 0"})}
}

// Policy of the HubPassSpend.
func (HubPassSpend) Policy() ent.Policy { return systemOnlyPolicy() }

// HubPayment is, on central, a hub's order paid from the buyer's phone:
// the hub shows a QR code with the order, the buyer pays here by card, and
// once Stripe confirms, central signs a receipt the hub checks offline.
type HubPayment struct{ ent.Schema }

// Fields of the HubPayment.
func (HubPayment) Fields() []ent.Field {
	return []ent.Field{
		field.String("sale_id").Unique().Immutable().NotEmpty().MaxLen(64),
		field.String("hub").Immutable().NotEmpty(),
		field.JSON("lines", []types.SaleLine{}).Immutable(),
		field.Int64("amount").Positive().Immutable(),
		field.String("currency").Immutable(),
		field.String("stripe_payment_intent_id").Optional().Nillable().Unique(),
		// REFUNDED: staff gave the money back before the hub's sale of it
		// reached central (the goods were gone, the buyer changed their mind).
		field.Enum("status").Values("PENDING", "SUCCEEDED", "FAILED", "REFUNDED").Default("PENDING"),
		// Claimed: central recorded the hub's sale against this payment; it
		// can no longer be refunded here (refund the sale instead).
		field.Bool("claimed").Default(false),
		field.Time("created_at").Default(timeNow).Immutable(),
		field.Time("paid_at").Optional().Nillable(),
	}
}

// Indexes of the HubPayment.
func (HubPayment) Indexes() []ent.Index {
	return []ent.Index{index.Fields("status", "created_at")} // the retention sweep
}

// Annotations of the HubPayment.
func (HubPayment) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll), entsql.Checks(map[string]string{"hub_payment_amount_positive": "amount > 0"})}
}

// Policy of the HubPayment.
func (HubPayment) Policy() ent.Policy { return systemOnlyPolicy() }

// ReaderBinding is, on central, the hub a card reader stands at: only
// that hub's token may start, poll or cancel payments on it (full staff
// may use any reader).
type ReaderBinding struct{ ent.Schema }

// Fields of the ReaderBinding.
func (ReaderBinding) Fields() []ent.Field {
	return []ent.Field{
		field.String("reader_id").Unique().NotEmpty().MaxLen(100),
		field.String("hub").NotEmpty().MaxLen(40),
		field.Time("updated_at").Default(timeNow).UpdateDefault(timeNow),
	}
}

// Annotations of the ReaderBinding.
func (ReaderBinding) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the ReaderBinding.
func (ReaderBinding) Policy() ent.Policy { return systemOnlyPolicy() }
