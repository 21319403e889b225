package schema

import (
	"context"
	"fmt"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Wallet is a customer's stored value in one currency. balance always equals
// the sum of its entries; it moves only by a conditional update that keeps
// it at zero or more, backed by a CHECK.
type Wallet struct{ ent.Schema }

// Mixin of the Wallet.
func (Wallet) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Wallet.
func (Wallet) Fields() []ent.Field {
	return []ent.Field{
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Match(currencyRE).Immutable(),
		field.Int64("balance").Default(0).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the Wallet.
func (Wallet) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entries", WalletEntry.Type).Annotations(entgql.RelayConnection(), entsql.OnDelete(entsql.Restrict)),
	}
}

// Indexes of the Wallet.
func (Wallet) Indexes() []ent.Index {
	return []ent.Index{index.Fields("customer_id", "currency").Unique()}
}

// Annotations of the Wallet.
func (Wallet) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Checks(map[string]string{"wallet_balance_non_negative": "balance >= 0"})}
}

// Policy of the Wallet.
func (Wallet) Policy() ent.Policy { return ownedPolicy() }

// WalletEntry is one append-only ledger line: positive amounts credit,
// negative ones debit. Entries are never updated or deleted; mistakes are
// corrected with a REVERSAL.
type WalletEntry struct{ ent.Schema }

// Fields of the WalletEntry.
func (WalletEntry) Fields() []ent.Field {
	return []ent.Field{
		field.Int("wallet_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("kind").Values("TOP_UP", "SPEND", "REFUND", "GIFT", "GIFT_EXPIRY", "ADJUSTMENT", "REVERSAL").Immutable(),
		field.Int64("amount").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("balance_after").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("note").Default("").MaxLen(500).Immutable(),
		field.Int("order_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("reverses_id").Optional().Nillable().Unique().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("expires_at").Optional().Nillable().Immutable(),
		field.Time("created_at").Default(timeNow).Immutable().Annotations(entgql.OrderField("CREATED_AT")),
	}
}

// Edges of the WalletEntry.
func (WalletEntry) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("wallet", Wallet.Type).Ref("entries").Field("wallet_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the WalletEntry.
func (WalletEntry) Indexes() []ent.Index {
	return []ent.Index{index.Fields("wallet_id", "created_at")}
}

// Annotations of the WalletEntry.
func (WalletEntry) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entsql.Checks(map[string]string{"wallet_entry_balance_non_negative": "balance_after >= 0", "wallet_entry_nonzero": "amount <> 0"}),
	}
}

// Hooks of the WalletEntry: the ledger is append-only.
func (WalletEntry) Hooks() []ent.Hook {
	return []ent.Hook{func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if !m.Op().Is(ent.OpCreate) {
				return nil, fmt.Errorf("wallet entries are append-only: %s refused", m.Op())
			}
			return next.Mutate(ctx, m)
		})
	}}
}

// Policy of the WalletEntry.
func (WalletEntry) Policy() ent.Policy { return ownedPolicy() }

// GiftLot tracks how much of one gift's credit is unspent, so expiry takes
// back only that. Spends draw on the soonest-expiring lots first.
type GiftLot struct{ ent.Schema }

// Fields of the GiftLot.
func (GiftLot) Fields() []ent.Field {
	return []ent.Field{
		field.Int("wallet_id").Immutable(),
		field.Int("entry_id").Unique().Immutable(),
		field.Int64("remaining"),
		field.Time("expires_at").Immutable(),
	}
}

// Indexes of the GiftLot.
func (GiftLot) Indexes() []ent.Index {
	return []ent.Index{index.Fields("wallet_id", "expires_at"), index.Fields("expires_at")}
}

// Annotations of the GiftLot.
func (GiftLot) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipAll),
		entsql.Checks(map[string]string{"gift_lot_remaining_non_negative": "remaining >= 0"}),
	}
}

// Policy of the GiftLot.
func (GiftLot) Policy() ent.Policy { return systemOnlyPolicy() }

// GiftDraw records how much of a gift lot one debit entry took, so a
// REVERSAL or REFUND of that debit gives it back to the same lot, with
// the lot's original expiry, instead of as permanent credit.
type GiftDraw struct{ ent.Schema }

// Fields of the GiftDraw.
func (GiftDraw) Fields() []ent.Field {
	return []ent.Field{
		field.Int("entry_id").Immutable(),
		field.Int("lot_id").Immutable(),
		field.Int64("amount").Positive().Immutable(),
		// restored moves only up, with a conditional update, never past amount.
		field.Int64("restored").Default(0),
	}
}

// Indexes of the GiftDraw.
func (GiftDraw) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entry_id", "lot_id").Unique()}
}

// Annotations of the GiftDraw.
func (GiftDraw) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipAll),
		entsql.Checks(map[string]string{"gift_draw_restored_within_amount": "restored >= 0 AND restored <= amount"}),
	}
}

// Policy of the GiftDraw.
func (GiftDraw) Policy() ent.Policy { return systemOnlyPolicy() }

// TopUp is a card payment into a wallet, credited when Stripe confirms.
type TopUp struct{ ent.Schema }

// Mixin of the TopUp.
func (TopUp) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the TopUp.
func (TopUp) Fields() []ent.Field {
	return []ent.Field{
		field.Int("customer_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("amount").Positive().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("currency").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		// MISMATCH: Stripe captured another amount or currency; refunded
		// automatically, never credited.
		field.Enum("status").Values("PENDING", "SUCCEEDED", "FAILED", "MISMATCH").Default("PENDING"),
		field.String("stripe_payment_intent_id").Optional().Nillable().Unique().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("client_secret").Optional().Sensitive().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Policy of the TopUp.
func (TopUp) Policy() ent.Policy { return ownedPolicy() }
