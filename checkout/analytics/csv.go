package analytics

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
)

// CSV writes the report as RFC 4180 text: sections (headline figures,
// drops, stock-outs, returns, time series), each with its header row,
// separated by a blank line. Money is in major units with the currency's
// digits (77.00 EUR), rates are the report's own floats, times RFC 3339
// UTC: the same figures the API returns. A cell a spreadsheet would run
// as a formula is prefixed with an apostrophe.
func (r *Report) CSV() string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	row := func(cells ...string) {
		for i, c := range cells {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				if _, err := strconv.ParseFloat(c, 64); err != nil {
					cells[i] = "'" + c
				}
			}
		}
		_ = w.Write(cells)
	}
	blank := func() { w.Flush(); buf.WriteString("\r\n") }
	itoa := strconv.Itoa
	flt := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }

	row("Figure", "Currency", "Part", "Whole", "Value")
	row("Period from", "", "", "", ts(r.From))
	row("Period to", "", "", "", ts(r.To))
	row("Bucket", "", "", "", string(r.Bucket))
	for _, s := range r.Sales {
		row("Revenue", s.Currency, "", "", Decimal(s.Revenue, s.Currency))
		row("Orders", s.Currency, "", "", itoa(s.Orders))
		row("Average order value", s.Currency, "", "", Decimal(s.AverageOrder, s.Currency))
	}
	ratioRow := func(name string, x Ratio) { row(name, "", itoa(x.Part), itoa(x.Whole), flt(x.Rate)) }
	ratioRow("Conversion hold to paid", r.Conversion)
	ratioRow("Attach rate", r.Attach)
	ratioRow("Repeat-purchase rate", r.Repeat)
	ratioRow("Pickups within SLA", r.PickupsWithinSLA)
	row("Fulfilled", "", "", "", itoa(r.Fulfilled.Count))
	if m := r.Fulfilled.AverageMinutes(); m != nil {
		row("Average minutes to fulfilled", "", "", "", flt(*m))
	}

	blank()
	row("Drop", "Cap", "Sold", "Sell-through", "Starts at", "Sold out at", "Minutes to sell out")
	for _, d := range r.Drops {
		out, mins := "", ""
		if d.SoldOutAt != nil {
			out, mins = ts(*d.SoldOutAt), flt(d.TimeToSellOut.Minutes())
		}
		row(d.Title, itoa(d.Cap), itoa(d.Sold), flt(d.SellThrough), ts(d.StartsAt), out, mins)
	}
	blank()
	row("SKU", "Location", "Intervals", "Stock-out minutes")
	for _, s := range r.StockOuts {
		row(s.SKU, s.Location, itoa(s.Intervals), flt(s.Minutes()))
	}
	blank()
	row("Cohort start", "Packaging variant", "Units sold", "Units returned", "Return rate")
	for _, c := range r.Returns {
		row(ts(c.Start), c.Packaging, itoa(c.Sold), itoa(c.Returned), flt(c.Rate))
	}
	blank()
	row("Bucket start", "Currency", "Revenue", "Orders")
	for _, p := range r.Series {
		row(ts(p.At), p.Currency, Decimal(p.Revenue, p.Currency), itoa(p.Orders))
	}
	w.Flush()
	return buf.String()
}

// AverageMinutes is AverageSeconds in minutes, nil without handovers.
func (f Fulfilled) AverageMinutes() *float64 {
	if f.Count == 0 {
		return nil
	}
	m := float64(f.AverageSeconds) / 60
	return &m
}

// Decimal writes minor units in major units with the currency's digits:
// 7700 EUR is "77.00", 3500 JPY "3500", -5 EUR "-0.05".
func Decimal(amount int64, currency string) string {
	d := checkout.CurrencyDigits(currency)
	neg := amount < 0
	if neg {
		amount = -amount
	}
	s := strconv.FormatInt(amount, 10)
	if d > 0 {
		for len(s) <= d {
			s = "0" + s
		}
		s = s[:len(s)-d] + "." + s[len(s)-d:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
