package graph_test

import (
	"context"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout/analytics/analyticstest"
	"github.com/merchd/merchd/graph/graphtest"
)

const analyticsQuery = `query($i: AnalyticsInput!) { analytics(input: $i) {
  bucket sales { revenue { amount currency formatted } orders averageOrder { amount } }
  conversion { part whole rate } attach { part whole rate } repeatPurchase { part whole rate }
  pickupsWithinSLA { part whole rate } fulfilled averageMinutesToFulfilled
  drops { dropId title cap sold sellThrough minutesToSellOut }
  stockOuts { sku location intervals minutes }
  returns { cohortStart packagingVariant unitsSold unitsReturned rate }
  series { at revenue { amount currency } orders } } }`

const analyticsCSVQuery = `query($i: AnalyticsInput!) { analyticsCSV(input: $i) }`

type ratioJSON struct {
	Part, Whole int
	Rate        float64
}

type analyticsJSON struct {
	Analytics struct {
		Bucket string
		Sales  []struct {
			Revenue struct {
				Amount              int64
				Currency, Formatted string
			}
			Orders       int
			AverageOrder struct{ Amount int64 }
		}
		Conversion, Attach, RepeatPurchase, PickupsWithinSLA ratioJSON
		Fulfilled                                            int
		AverageMinutesToFulfilled                            *float64
		Drops                                                []struct {
			DropID, Title    string
			Cap, Sold        int
			SellThrough      float64
			MinutesToSellOut *float64
		}
		StockOuts []struct {
			SKU, Location string
			Intervals     int
			Minutes       float64
		}
		Returns []struct {
			CohortStart              time.Time
			PackagingVariant         string
			UnitsSold, UnitsReturned int
			Rate                     float64
		}
		Series []struct {
			At      time.Time
			Revenue struct {
				Amount   int64
				Currency string
			}
			Orders int
		}
	}
}

var seededPeriod = map[string]any{"from": analyticstest.From.Format(time.RFC3339), "to": analyticstest.To.Format(time.RFC3339)}

// TestAnalyticsAPI: over GraphQL, owners and staff read the seeded shop's
// hand-computed figures, and the CSV export carries the same ones.
func TestAnalyticsAPI(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			if _, err := analyticstest.Seed(context.Background(), e.Client); err != nil {
				t.Fatal(err)
			}
			owner := addStaff(t, e, "owner@staff.example", "OWNER", "")
			for _, tok := range []string{e.StaffToken, owner.Token} {
				var r analyticsJSON
				e.Do(t, tok, analyticsQuery, map[string]any{"i": seededPeriod}).Decode(t, &r)
				a := r.Analytics
				if len(a.Sales) != 2 || a.Sales[0].Revenue.Amount != 7700 || a.Sales[0].Revenue.Formatted != "€77.00" ||
					a.Sales[0].Orders != 5 || a.Sales[0].AverageOrder.Amount != 1540 || a.Sales[1].Revenue.Currency != "USD" {
					t.Fatalf("sales %+v, want EUR 77.00 in 5 orders (15.40) and USD", a.Sales)
				}
				if a.Conversion.Part != 7 || a.Conversion.Whole != 11 || a.Attach.Part != 2 || a.Attach.Whole != 5 ||
					a.RepeatPurchase.Part != 2 || a.PickupsWithinSLA.Whole != 3 || a.Fulfilled != 3 ||
					a.AverageMinutesToFulfilled == nil || *a.AverageMinutesToFulfilled != 2880 {
					t.Fatalf("figures %+v", a)
				}
				if len(a.Drops) != 2 || a.Drops[0].Sold != 4 || a.Drops[0].MinutesToSellOut == nil || *a.Drops[0].MinutesToSellOut != 47*60 {
					t.Fatalf("drops %+v", a.Drops)
				}
				if len(a.Series) != 120 || a.Bucket != "DAY" {
					t.Fatalf("%d points by %s, want 120 by DAY", len(a.Series), a.Bucket)
				}

				var c struct{ AnalyticsCSV string }
				e.Do(t, tok, analyticsCSVQuery, map[string]any{"i": seededPeriod}).Decode(t, &c)
				cells := map[string][]string{}
				rd := csv.NewReader(strings.NewReader(c.AnalyticsCSV))
				rd.FieldsPerRecord = -1
				recs, err := rd.ReadAll()
				if err != nil {
					t.Fatalf("CSV: %v\n%s", err, c.AnalyticsCSV)
				}
				for _, rec := range recs {
					cells[strings.Join(rec[:min(2, len(rec))], "|")] = rec
				}
				want := map[string][]string{
					"Revenue|EUR":                   {"Revenue", "EUR", "", "", "77.00"},
					"Orders|EUR":                    {"Orders", "EUR", "", "", "5"},
					"Average order value|EUR":       {"Average order value", "EUR", "", "", "15.40"},
					"Revenue|USD":                   {"Revenue", "USD", "", "", "25.00"},
					"Conversion hold to paid|":      {"Conversion hold to paid", "", "7", "11", ftoa(a.Conversion.Rate)},
					"Attach rate|":                  {"Attach rate", "", "2", "5", ftoa(a.Attach.Rate)},
					"Repeat-purchase rate|":         {"Repeat-purchase rate", "", "2", "3", ftoa(a.RepeatPurchase.Rate)},
					"Pickups within SLA|":           {"Pickups within SLA", "", "1", "3", ftoa(a.PickupsWithinSLA.Rate)},
					"Average minutes to fulfilled|": {"Average minutes to fulfilled", "", "", "", "2880"},
					"Tour drop|4":                   {"Tour drop", "4", "4", "1", "2025-03-02T10:00:00Z", "2025-03-04T09:00:00Z", "2820"},
					"TEE-M|central":                 {"TEE-M", "central", "2", "120"},
					"POSTER|popup-1":                {"POSTER", "popup-1", "1", "15"},
					"2025-03-01T00:00:00Z|box":      {"2025-03-01T00:00:00Z", "box", "5", "1", "0.2"},
					"2025-03-31T00:00:00Z|mailer":   {"2025-03-31T00:00:00Z", "mailer", "1", "1", "1"},
					"2025-03-02T00:00:00Z|EUR":      {"2025-03-02T00:00:00Z", "EUR", "30.00", "2"},
				}
				for k, w := range want {
					if got := cells[k]; strings.Join(got, ",") != strings.Join(w, ",") {
						t.Errorf("CSV row %s = %q, want %q", k, got, w)
					}
				}
				points := 0
				for _, rec := range recs {
					if len(rec) == 4 && strings.HasPrefix(rec[0], "2025-") {
						points++
					}
				}
				if points != len(a.Series) {
					t.Errorf("%d series rows in the CSV, want %d", points, len(a.Series))
				}
			}
		})
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// TestAnalyticsRoles: clerks, customers and hub tokens are refused
// (FORBIDDEN), anonymous callers UNAUTHENTICATED, for the figures and the
// CSV alike; a period longer than 400 days or backwards is BAD_USER_INPUT.
func TestAnalyticsRoles(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	clerk := addStaff(t, e, "till@staff.example", "CLERK", "central")
	staff := addStaff(t, e, "ops@staff.example", "STAFF", "")
	customer, _ := e.SignUp(t, "buyer@example.com")
	hubTok, err := e.Accounts.CreateHubToken(context.Background(), "fest-box@example.com", "", "fest box", "fest")
	if err != nil {
		t.Fatal(err)
	}
	for who, tok := range map[string]string{"clerk": clerk.Token, "customer": customer, "hub token": hubTok} {
		if r := e.Do(t, tok, `{ analyticsLocations { code } }`, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("%s lists locations: %s, want FORBIDDEN", who, r.Code())
		}
	}
	for _, q := range []string{analyticsQuery, analyticsCSVQuery} {
		vars := map[string]any{"i": seededPeriod}
		for who, tok := range map[string]string{"clerk": clerk.Token, "customer": customer, "hub token": hubTok} {
			if r := e.Do(t, tok, q, vars); r.Code() != "FORBIDDEN" {
				t.Errorf("%s: %s, want FORBIDDEN", who, r.Code())
			}
		}
		if r := e.Do(t, "", q, vars); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("anonymous: %s, want UNAUTHENTICATED", r.Code())
		}
		if r := e.Do(t, staff.Token, q, vars); len(r.Errors) > 0 {
			t.Errorf("staff: %+v", r.Errors)
		}
		for name, in := range map[string]map[string]any{
			"401 days":  {"from": "2025-01-01T00:00:00Z", "to": "2026-02-06T00:00:00Z"},
			"backwards": {"from": "2025-03-02T00:00:00Z", "to": "2025-03-01T00:00:00Z"},
			"two scopes": {"from": "2025-03-01T00:00:00Z", "to": "2025-03-02T00:00:00Z",
				"dropId": "1", "streamId": "2"},
		} {
			if r := e.Do(t, staff.Token, q, map[string]any{"i": in}); r.Code() != "BAD_USER_INPUT" {
				t.Errorf("%s: %s %+v, want BAD_USER_INPUT", name, r.Code(), r.Errors)
			}
		}
		// A clerk is refused before the period is even looked at.
		if r := e.Do(t, clerk.Token, q, map[string]any{"i": map[string]any{"from": "2025-03-02T00:00:00Z", "to": "2025-03-01T00:00:00Z"}}); r.Code() != "FORBIDDEN" {
			t.Errorf("clerk with a bad period: %s, want FORBIDDEN", r.Code())
		}
	}
}
