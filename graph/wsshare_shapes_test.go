package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/membership"
	"github.com/merchd/merchd/ent/viewer"
	"github.com/merchd/merchd/graph/graphtest"
)

// Attacks on share groups (graph/wsock/shared.go) and per-value member
// prices (graph/wallet_helpers.go).

type shapedOp struct {
	query string
	name  string
	vars  map[string]any // "ids" added
}

// TestShareGroupsNeverMixShapes: pairs of anonymous subscriptions whose
// responses differ (aliases, @include with variables, literals and
// defaults, operationName, __typename) each get their own shape for every
// value, and the groups are gone once the sockets close.
func TestShareGroupsNeverMixShapes(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 2000, "EUR")
	const two = `subscription A($ids: [ID!]!) { stockChanged(variantIds: $ids) { available } }
subscription B($ids: [ID!]!) { stockChanged(variantIds: $ids) { n: available } }`
	pairs := map[string][2]shapedOp{
		"alias": {{query: `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available } }`},
			{query: `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available: available } }`}}, // same response: may share
		"alias renamed": {{query: `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available } }`},
			{query: `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { x: available } }`}},
		"include variable": {{query: `subscription($ids: [ID!]!, $s: Boolean!) { stockChanged(variantIds: $ids) { available variant { sku @include(if: $s) } } }`, vars: map[string]any{"s": true}},
			{query: `subscription($ids: [ID!]!, $s: Boolean!) { stockChanged(variantIds: $ids) { available variant { sku @include(if: $s) } } }`, vars: map[string]any{"s": false}}},
		"skip literal vs variable": {{query: `subscription($ids: [ID!]!, $s: Boolean!) { stockChanged(variantIds: $ids) { available variant { sku @skip(if: $s) } } }`, vars: map[string]any{"s": false}},
			{query: `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available variant { sku @skip(if: true) } } }`}},
		"default omitted vs given": {{query: `subscription($ids: [ID!]!, $s: Boolean = true) { stockChanged(variantIds: $ids) { available variant { sku @include(if: $s) } } }`},
			{query: `subscription($ids: [ID!]!, $s: Boolean = true) { stockChanged(variantIds: $ids) { available variant { sku @include(if: $s) } } }`, vars: map[string]any{"s": false}}},
		"operationName": {{query: two, name: "A"}, {query: two, name: "B"}},
		"__typename": {{query: `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available } }`},
			{query: `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { available __typename } }`}},
		"fragment vs inline, one aliased": {{query: `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { ...F } } fragment F on VariantStock { available }`},
			{query: `subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { ... on VariantStock { a: available } } }`}},
	}
	n := 100
	for name, p := range pairs {
		var socks [2]*wsClient
		var all []*wsClient
		var first [2]string
		for i, o := range p {
			vars := map[string]any{"ids": []string{v}}
			for k, x := range o.vars {
				vars[k] = x
			}
			payload := map[string]any{"query": o.query, "variables": vars}
			if o.name != "" {
				payload["operationName"] = o.name
			}
			// Two sockets per operation, so that each operation's group
			// has a leader and a follower.
			for range 2 {
				w := dialWS(t, e, "")
				w.send(map[string]any{"id": "s", "type": "subscribe", "payload": payload})
				first[i] = w.next("s")
				socks[i] = w
				all = append(all, w)
			}
		}
		n--
		setStock(t, e, v, n, fmt.Sprint("shape-", n))
		for _, w := range all {
			i := 0
			if w != all[0] && w != all[1] {
				i = 1
			}
			got := w.next("s")
			if !strings.Contains(got, fmt.Sprint(n)) || digits.ReplaceAllString(got, "#") != digits.ReplaceAllString(first[i], "#") {
				t.Errorf("%s: operation %d was sent %s, want its own shape %s with %d", name, i, got, first[i], n)
			}
		}
		if name != "alias" && first[0] == first[1] {
			t.Errorf("%s: the two operations gave the same first value %s; the pair tests nothing", name, first[0])
		}
		for _, w := range all {
			w.c.Close()
		}
	}
	for deadline := time.Now().Add(msgWait); e.API.ShareGroups() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d share groups left after every socket closed", e.API.ShareGroups())
		}
	}
}

// TestMemberPricesPerSubscriber: on one operation text, a member, a
// non-member and an anonymous subscriber (websocket), and the member over
// SSE, each see their own price for each value; once the membership's
// period has ended, the member's next value has no member price.
func TestMemberPricesPerSubscriber(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 10, 2000, "EUR")
	tier := owlsTier(t, e, v)
	memberTok, memberID := e.SignUp(t, "owl@example.com")
	otherTok, _ := e.SignUp(t, "lark@example.com")
	grant(t, e, memberID, 100, "g")
	buyTier(t, e, memberTok, tier, "m")
	vars := map[string]any{"ids": []string{v}}
	subs := map[string]*wsClient{}
	for who, tok := range map[string]string{"member": memberTok, "other": otherTok, "anonymous": "", "anonymous2": ""} {
		w := dialWS(t, e, tok)
		w.subscribe("s", priceSub, vars)
		subs[who] = w
	}
	sse := openSSE(t, e, memberTok, priceSub, vars)
	want := func(stage string, available int, memberPrice string) {
		t.Helper()
		for who, w := range subs {
			price := "null"
			if who == "member" {
				price = memberPrice
			}
			got := w.next("s")
			if !strings.Contains(got, fmt.Sprintf(`"available":%d`, available)) || !strings.Contains(got, `"memberPrice":`+price) {
				t.Errorf("%s: %s was sent %s, want memberPrice %s", stage, who, got, price)
			}
		}
		got := sse()
		if !strings.Contains(got, fmt.Sprintf(`"available":%d`, available)) || !strings.Contains(got, `"memberPrice":`+memberPrice) {
			t.Errorf("%s: the member over SSE was sent %s, want memberPrice %s", stage, got, memberPrice)
		}
	}
	want("first value", 10, `{"amount":1500}`)
	setStock(t, e, v, 9, "p9")
	want("a change", 9, `{"amount":1500}`)
	// The membership's period ends (a renewal that never came).
	ctx := viewer.SystemContext(context.Background())
	graphtest.Must(t, e.Client.Membership.Update().Where(membership.CustomerID(mustDecodeInt(t, memberID))).
		SetCurrentPeriodEnd(time.Now().Add(-time.Hour)).Exec(ctx))
	setStock(t, e, v, 8, "p8")
	want("after the membership ended", 8, "null")
}

var digits = regexp.MustCompile(`[0-9]+`)

func mustDecodeInt(t *testing.T, id string) int {
	var n int
	if _, err := fmt.Sscan(mustDecode(t, id), &n); err != nil {
		t.Fatalf("id %s: %v", id, err)
	}
	return n
}

// openSSE subscribes over SSE and returns a function reading the next
// value's data.
func openSSE(t *testing.T, e *graphtest.Env, token, query string, vars map[string]any) func() string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.URL, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	graphtest.Must(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		buf := make([]byte, 1<<16)
		var pending string
		for {
			n, err := resp.Body.Read(buf)
			pending += string(buf[:n])
			for {
				i := strings.Index(pending, "\n")
				if i < 0 {
					break
				}
				if l := pending[:i]; strings.HasPrefix(l, "data:") {
					lines <- strings.TrimSpace(strings.TrimPrefix(l, "data:"))
				}
				pending = pending[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	return func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the SSE stream ended")
			}
			return l
		case <-time.After(msgWait):
			t.Fatal("no SSE value")
		}
		return ""
	}
}
