package graph_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
)

// Tests of shared subscription encodings (graph/wsock/shared.go): the
// anonymous subscribers of one operation get one execution and encoding
// per value; signed-in subscribers never share one.

const priceSub = `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available variant { sku memberPrice { amount } } } }`

// owlsTier makes a 1.00-a-month tier whose members pay 15.00 for variant
// and returns its id.
func owlsTier(t testing.TB, e *graphtest.Env, variant string) string {
	t.Helper()
	var tier struct {
		CreateMembershipTier struct{ Tier struct{ ID string } }
	}
	e.Staff(t, `mutation { createMembershipTier(input: {name: "Owls", price: {amount: 100, currency: "EUR"}, period: MONTH}) { tier { id } } }`, nil, &tier)
	e.Staff(t, `mutation($t: ID!, $v: ID!) { setMemberPrice(input: {tierId: $t, variantId: $v, amount: 1500}) { memberPrice { id } } }`,
		map[string]any{"t": tier.CreateMembershipTier.Tier.ID, "v": variant}, &struct{}{})
	return tier.CreateMembershipTier.Tier.ID
}

// buyTier buys a membership of an owlsTier for tok's customer, paid from
// the wallet (which needs credit: grant it first).
func buyTier(t testing.TB, e *graphtest.Env, tok, tier, key string) {
	t.Helper()
	e.Do(t, tok, `mutation($i: BuyMembershipInput!) { buyMembership(input: $i) { membership { status } } }`, map[string]any{"i": map[string]any{
		"tierId": tier, "payWith": map[string]any{"wallet": map[string]any{"amount": 100, "currency": "EUR"}}, "idempotencyKey": key}}).Decode(t, &struct{}{})
}

// waitSends waits until the server has sent n more subscription values
// than (shared0 + own0) and returns how many of the new ones were shared
// and own.
func waitSends(t *testing.T, e *graphtest.Env, shared0, own0 uint64, n int) (shared, own uint64) {
	t.Helper()
	deadline := time.Now().Add(msgWait)
	for {
		s, o := e.API.SubscriptionSends()
		if s+o-shared0-own0 >= uint64(n) {
			return s - shared0, o - own0
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d values sent", s+o-shared0-own0, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSharedEncodingOncePerValue: 20 anonymous sockets run one operation
// on one variant, one runs it on another variant, and two members of a
// tier with a member price run it signed in. A stock change is executed
// once for the 20 (19 sends shared) and once for each member, who sees
// their own member price; every socket hears its own operation id; the
// other variant's subscriber hears nothing; and once every socket is gone
// no group is left.
func TestSharedEncodingOncePerValue(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 10, 2000, "EUR")
			other := newVariant(t, e, 3, 2000, "EUR")
			tier := owlsTier(t, e, v)
			var members []string
			for i := range 2 {
				tok, id := e.SignUp(t, fmt.Sprintf("owl%d@example.com", i))
				grant(t, e, id, 100, fmt.Sprint("g", i))
				buyTier(t, e, tok, tier, "m")
				members = append(members, tok)
			}

			type sock struct {
				w      *wsClient
				id     string
				member bool
			}
			var socks []sock
			subscribe := func(token, id, variant string) *wsClient {
				w := dialWS(t, e, token)
				w.send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": priceSub, "variables": map[string]any{"ids": []string{variant}}}})
				return w
			}
			for i := range 20 {
				id := fmt.Sprint("anon-", i)
				socks = append(socks, sock{subscribe("", id, v), id, false})
			}
			for i, tok := range members {
				id := fmt.Sprint("member-", i)
				socks = append(socks, sock{subscribe(tok, id, v), id, true})
			}
			lone := subscribe("", "lone", other)
			check := func(s sock, available int) {
				t.Helper()
				m := s.w.recv()
				p := fmt.Sprint(m["payload"])
				if m["type"] != "next" || m["id"] != s.id || !strings.Contains(p, fmt.Sprintf("available:%d", available)) {
					t.Fatalf("%s: %v, want next with available %d", s.id, m, available)
				}
				if member := strings.Contains(p, "memberPrice:map[amount:1500]"); member != s.member {
					t.Fatalf("%s (member %v) was sent %s", s.id, s.member, p)
				}
			}
			for _, s := range socks {
				check(s, 10)
			}
			if m := lone.recv(); !strings.Contains(fmt.Sprint(m["payload"]), "available:3") {
				t.Fatalf("the other variant's first value: %v", m)
			}

			shared0, own0 := e.API.SubscriptionSends()
			setStock(t, e, v, 9, "share-9")
			for _, s := range socks {
				check(s, 9)
			}
			shared, own := waitSends(t, e, shared0, own0, len(socks))
			if shared != 19 || own != 3 {
				t.Fatalf("one change to 22 subscribers: %d shared and %d own encodings, want 19 and 3 (one for the 20 anonymous, one per member)", shared, own)
			}
			if g := e.API.ShareGroups(); g != 2 {
				t.Fatalf("%d share groups, want 2 (one per variant's operation)", g)
			}
			lone.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, raw, err := lone.c.ReadMessage(); err == nil {
				t.Fatalf("the other variant's subscriber heard %s", raw)
			}

			for _, s := range socks {
				s.w.c.Close()
			}
			lone.c.Close()
			deadline := time.Now().Add(msgWait)
			for e.API.ShareGroups() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d share groups left after every socket closed", e.API.ShareGroups())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestSharedEncodingUnderChurn: 30 anonymous subscribers while the stock
// changes 40 times as fast as the API takes it. Values may be skipped (an
// unread value is replaced by a newer one) or repeat (two refreshes read
// the same row) but never go back, and every subscriber ends on the last
// value.
func TestSharedEncodingUnderChurn(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 100, 2000, "EUR")
	const subs, changes = 30, 40
	ws := make([]*wsClient, subs)
	for i := range ws {
		ws[i] = dialWS(t, e, "")
		ws[i].send(map[string]any{"id": "s", "type": "subscribe", "payload": map[string]any{"query": stockSub, "variables": map[string]any{"ids": []string{v}}}})
		if m := ws[i].recv(); !strings.Contains(fmt.Sprint(m["payload"]), "available:100") {
			t.Fatalf("first value: %v", m)
		}
	}
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			last := 100
			for last != 100-changes {
				m := w.recv()
				var n int
				if _, err := fmt.Sscanf(fmt.Sprint(m["payload"]), "map[data:map[stockChanged:map[available:%d", &n); err != nil {
					t.Errorf("subscriber %d: %v", i, m)
					return
				}
				if n > last {
					t.Errorf("subscriber %d went from %d to %d", i, last, n)
					return
				}
				last = n
			}
		})
	}
	for k := 1; k <= changes; k++ {
		setStock(t, e, v, 100-k, fmt.Sprint("churn-", k))
	}
	wg.Wait()
	if shared, own := e.API.SubscriptionSends(); shared == 0 {
		t.Fatalf("no value was shared under churn (%d own)", own)
	}
}

// TestMemberPriceFollowsAMembershipBoughtMidSubscription: a signed-in
// customer subscribes without a membership, then buys one. The next value
// of the same subscription carries the member price: the member's tier is
// looked up per value, not once per operation.
func TestMemberPriceFollowsAMembershipBoughtMidSubscription(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			v := newVariant(t, e, 10, 2000, "EUR")
			tier := owlsTier(t, e, v)
			tok, id := e.SignUp(t, "late-owl@example.com")
			grant(t, e, id, 100, "g")

			w := dialWS(t, e, tok)
			w.send(map[string]any{"id": "s", "type": "subscribe", "payload": map[string]any{"query": priceSub, "variables": map[string]any{"ids": []string{v}}}})
			if p := fmt.Sprint(w.recv()["payload"]); !strings.Contains(p, "available:10") || !strings.Contains(p, "memberPrice:<nil>") {
				t.Fatalf("before the membership: %s, want available 10 and no member price", p)
			}
			buyTier(t, e, tok, tier, "m")
			setStock(t, e, v, 9, "after-membership")
			if p := fmt.Sprint(w.recv()["payload"]); !strings.Contains(p, "available:9") || !strings.Contains(p, "memberPrice:map[amount:1500]") {
				t.Fatalf("after the membership: %s, want available 9 and the member price 1500", p)
			}
		})
	}
}

// TestSharedEncodingAcrossSpellings: one operation spelt three ways
// (whitespace, commas, a comment) is one group: a change is executed once
// for the three sockets. A different operation is not.
func TestSharedEncodingAcrossSpellings(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 2000, "EUR")
	spellings := []string{
		priceSub,
		"# the counter\nsubscription ($ids: [ID!]!) {\n  stockChanged(variantIds: $ids) {\n    available,\n    variant { sku, memberPrice { amount } }\n  }\n}\n",
		"subscription($ids:[ID!]!){stockChanged(variantIds:$ids){available variant{sku memberPrice{amount}}}}",
		`subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available variant { sku } } }`, // another operation
	}
	var socks []*wsClient
	for i, q := range spellings {
		w := dialWS(t, e, "")
		w.send(map[string]any{"id": fmt.Sprint(i), "type": "subscribe", "payload": map[string]any{"query": q, "variables": map[string]any{"ids": []string{v}}}})
		if m := w.recv(); !strings.Contains(fmt.Sprint(m["payload"]), "available:10") {
			t.Fatalf("spelling %d: first value %v", i, m)
		}
		socks = append(socks, w)
	}
	if g := e.API.ShareGroups(); g != 2 {
		t.Fatalf("%d share groups, want 2 (three spellings of one operation, and another)", g)
	}
	shared0, own0 := e.API.SubscriptionSends()
	setStock(t, e, v, 9, "spell-9")
	for i, w := range socks {
		if m := w.recv(); m["id"] != fmt.Sprint(i) || !strings.Contains(fmt.Sprint(m["payload"]), "available:9") {
			t.Fatalf("spelling %d: %v", i, m)
		}
	}
	if shared, own := waitSends(t, e, shared0, own0, len(socks)); shared != 2 || own != 2 {
		t.Fatalf("%d shared and %d own encodings, want 2 and 2", shared, own)
	}
}
