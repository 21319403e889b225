package graph_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/merchd/merchd/ent/membership"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/ent/walletentry"
	"github.com/merchd/merchd/graph/graphtest"
)

const buyMembershipMutation = `mutation($i: BuyMembershipInput!) { buyMembership(input: $i) { membership { id status } } }`

// newTier creates a monthly tier costing amount EUR and returns its id.
func newTier(t testing.TB, e *graphtest.Env, amount int) string {
	t.Helper()
	var tier struct {
		CreateMembershipTier struct{ Tier struct{ ID string } }
	}
	e.Staff(t, `mutation($p: Int!) { createMembershipTier(input: {name: "Club", price: {amount: $p, currency: "EUR"}, period: MONTH}) { tier { id } } }`,
		map[string]any{"p": amount}, &tier)
	return tier.CreateMembershipTier.Tier.ID
}

func buyMembershipVars(tier string, amount int, key string) map[string]any {
	return map[string]any{"i": map[string]any{"tierId": tier,
		"payWith": map[string]any{"wallet": map[string]any{"amount": amount, "currency": "EUR"}}, "idempotencyKey": key}}
}

// countSpends counts the customer's SPEND entries.
func countEntries(t testing.TB, e *graphtest.Env, kind walletentry.Kind) int {
	t.Helper()
	return e.Client.WalletEntry.Query().Where(walletentry.KindEQ(kind)).CountX(viewer.SystemContext(context.Background()))
}

// TestFinding5_OneMembershipPerCustomer: 8 concurrent purchases with
// different keys make one membership and one debit; the others are told
// ALREADY_MEMBER. The same key with another wallet amount is a new request.
func TestFinding5_OneMembershipPerCustomer(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			tier := newTier(t, e, 1000)
			tok, id := e.SignUp(t, "member-race@example.com")
			grant(t, e, id, 8000, "g")
			const n = 8
			codes := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					codes[i] = e.Do(t, tok, buyMembershipMutation, buyMembershipVars(tier, 1000, fmt.Sprintf("k%d", i))).Code()
				})
			}
			wg.Wait()
			got, winner := map[string]int{}, ""
			for i, c := range codes {
				got[c]++
				if c == "" {
					winner = fmt.Sprintf("k%d", i)
				}
			}
			if got[""] != 1 || got["ALREADY_MEMBER"] != n-1 {
				t.Fatalf("outcomes %v, want 1 success and %d ALREADY_MEMBER", got, n-1)
			}
			ctx := viewer.SystemContext(context.Background())
			if k := e.Client.Membership.Query().Where(membership.StatusEQ(membership.StatusACTIVE)).CountX(ctx); k != 1 {
				t.Fatalf("%d active memberships, want 1", k)
			}
			if b := balance(t, e, tok); b != 7000 || countEntries(t, e, walletentry.KindSPEND) != 1 {
				t.Fatalf("balance %d, %d spends; want 7000 and 1", b, countEntries(t, e, walletentry.KindSPEND))
			}
			// Same key, other wallet input: not a replay.
			wantCode(t, e.Do(t, tok, buyMembershipMutation, buyMembershipVars(tier, 999, winner)), "IDEMPOTENCY_KEY_REUSED")
			// A card purchase while a member is refused too.
			wantCode(t, e.Do(t, tok, buyMembershipMutation, map[string]any{"i": map[string]any{"tierId": tier,
				"payWith": map[string]any{"card": true}, "idempotencyKey": "card"}}), "ALREADY_MEMBER")
		})
	}
}
