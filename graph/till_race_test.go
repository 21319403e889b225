package graph_test

import (
	"fmt"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

// TestRace_removeFromTill: a line taken out of the till's cart 16 times at
// once with one key, and another with a key each, puts each unit back on
// the hub's shelf once.
func TestRace_removeFromTill(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			p := startPopupEnv(t, d, 20)
			h := p.hub
			for i := range 3 {
				h.Staff(t, `mutation($i: ScanToTillInput!) { scanToTill(input: $i) { cart { id } } }`,
					map[string]any{"i": map[string]any{"code": p.sku, "idempotencyKey": fmt.Sprintf("scan-%d", i)}}, &struct{}{})
			}
			var till struct {
				TillCart struct {
					Lines []struct{ ID, Status string }
				}
			}
			h.Staff(t, `{ tillCart { lines { id status } } }`, nil, &till)
			if len(till.TillCart.Lines) != 3 || stockAt(t, h, h.Catalog.LocationID()) != 17 {
				t.Fatalf("till after 3 scans: %+v, hub stock %d", till.TillCart.Lines, stockAt(t, h, h.Catalog.LocationID()))
			}
			const remove = `mutation($i: RemoveFromTillInput!) { removeFromTill(input: $i) { cart { lines { id status } } } }`
			rm := func(line, key string) graphtest.Response {
				return h.Do(t, h.StaffToken, remove, map[string]any{"i": map[string]any{"lineId": line, "idempotencyKey": key}})
			}
			rs := make([]graphtest.Response, raceN)
			concurrently(raceN, func(i int) { rs[i] = rm(till.TillCart.Lines[0].ID, "same") })
			allSame(t, rs)
			if n := stockAt(t, h, h.Catalog.LocationID()); n != 18 {
				t.Fatalf("hub stock %d after one line removed 16 times, want 18", n)
			}
			concurrently(raceN, func(i int) { rs[i] = rm(till.TillCart.Lines[1].ID, fmt.Sprintf("k%d", i)) })
			if c := codeCounts(rs); c[""] != raceN {
				t.Fatalf("16 removals of one line with 16 keys: %v", c)
			}
			if n := stockAt(t, h, h.Catalog.LocationID()); n != 19 {
				t.Fatalf("hub stock %d after a second line removed 16 times, want 19", n)
			}
			// The third line still sells.
			var sold struct{ HubSell struct{ SaleID string } }
			h.Staff(t, `mutation { hubSell(input: {fromTill: true, idempotencyKey: "sell"}) { saleId } }`, nil, &sold)
			if sold.HubSell.SaleID == "" || stockAt(t, h, h.Catalog.LocationID()) != 19 {
				t.Fatalf("selling the till's last line: %+v, stock %d", sold, stockAt(t, h, h.Catalog.LocationID()))
			}
			// A sold line stays sold; a customer cannot touch the till.
			cust, _ := h.SignUp(t, "walkin@example.com")
			if r := rm(till.TillCart.Lines[2].ID, "sold"); r.Code() != "" || stockAt(t, h, h.Catalog.LocationID()) != 19 {
				t.Fatalf("removing a sold line must change nothing: %+v, stock %d", r.Errors, stockAt(t, h, h.Catalog.LocationID()))
			}
			if r := h.Do(t, cust, remove, map[string]any{"i": map[string]any{"lineId": till.TillCart.Lines[2].ID, "idempotencyKey": "c"}}); r.Code() != "FORBIDDEN" {
				t.Fatalf("a customer removing from the till: %+v", r.Errors)
			}
		})
	}
}
