package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"entgo.io/ent/dialect/sql"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/variant"
)

// CSVColumns are the catalog CSV's columns, in the order ExportCSV writes them.
var CSVColumns = []string{"product_slug", "product_title", "product_status", "sku", "variant_title",
	"price", "compare_at_price", "currency", "location", "stock"}

// Bounds of a CSV import and export.
const (
	MaxCSVBytes    = 512 << 10
	MaxCSVRows     = 2000
	MaxCSVVariants = 10_000
)

// StockRow is a variant's stock at one location.
type StockRow struct {
	LocationID int
	Available  int
	// Held is the units in carts (status HELD): still on the shelf.
	Held int
}

// OnHand is the shelf count SetStock takes.
func (s StockRow) OnHand() int { return s.Available + s.Held }

type heldKey struct{ variant, location int }

// held sums the units held in carts per variant and location (of the
// given variants, or all when none are given).
func (c *Service) held(ctx context.Context, variantIDs ...int) (map[heldKey]int, error) {
	var rows []struct {
		VariantID  int `json:"variant_id"`
		LocationID int `json:"location_id"`
		Units      int `json:"units"`
	}
	q := c.db.CartLine.Query().Where(cartline.StatusEQ(cartline.StatusHELD))
	if len(variantIDs) > 0 {
		q.Where(cartline.VariantIDIn(variantIDs...))
	}
	err := q.GroupBy(cartline.FieldVariantID, cartline.FieldLocationID).
		Aggregate(func(s *sql.Selector) string { return sql.As(sql.Sum(s.C(cartline.FieldQuantity)), "units") }).
		Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("catalog: units held: %w", err)
	}
	m := make(map[heldKey]int, len(rows))
	for _, r := range rows {
		m[heldKey{r.VariantID, r.LocationID}] = r.Units
	}
	return m, nil
}

// StockLevels is a variant's stock at every location with a row for it.
// Owners and staff only.
func (c *Service) StockLevels(ctx context.Context, variantID int) ([]StockRow, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	rows, err := c.db.Stock.Query().Where(stock.VariantID(variantID)).Order(stock.ByLocationID()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: stock of %d: %w", variantID, err)
	}
	held, err := c.held(ctx, variantID)
	if err != nil {
		return nil, err
	}
	out := make([]StockRow, len(rows))
	for i, r := range rows {
		out[i] = StockRow{LocationID: r.LocationID, Available: r.Available, Held: held[heldKey{variantID, r.LocationID}]}
	}
	return out, nil
}

// formatAmount writes minor units as a decimal in major units: 2500 EUR → "25.00", 3500 JPY → "3500".
func formatAmount(minor int64, currency string) string {
	d := checkout.CurrencyDigits(currency)
	s := strconv.FormatInt(minor, 10)
	if d == 0 {
		return s
	}
	for len(s) <= d {
		s = "0" + s
	}
	return s[:len(s)-d] + "." + s[len(s)-d:]
}

// parseAmount reads a decimal in major units into minor units of currency.
func parseAmount(field, s, currency string) (int64, error) {
	d := checkout.CurrencyDigits(currency)
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" || (dot && frac == "") {
		return 0, checkout.BadInput(field, "%q is not an amount like 25.00", s)
	}
	if len(frac) > d {
		return 0, checkout.BadInput(field, "%q has more than %d decimals for %s", s, d, currency)
	}
	frac += strings.Repeat("0", d-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n > checkout.MaxPrice {
		return 0, checkout.BadInput(field, "%q is too large", s)
	}
	return n, nil
}

// spreadsheetSafe quotes a cell a spreadsheet would run as a formula.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return "'" + s
		}
	}
	return s
}

// unquote undoes spreadsheetSafe.
func unquote(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
		return s[1:]
	}
	return s
}

// ExportCSV writes the catalog as CSV: one row per variant and location
// with a stock row (a variant without any has one row with no stock).
// Owners and staff only.
func (c *Service) ExportCSV(ctx context.Context) (string, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return "", err
	}
	vs, err := c.db.Variant.Query().WithProduct().WithStocks().Limit(MaxCSVVariants + 1).All(ctx)
	if err != nil {
		return "", fmt.Errorf("catalog: export: %w", err)
	}
	if len(vs) > MaxCSVVariants {
		return "", checkout.BadInput("", "more than %d variants: export is limited to that", MaxCSVVariants)
	}
	locs, err := c.db.Location.Query().All(ctx)
	if err != nil {
		return "", fmt.Errorf("catalog: export: locations: %w", err)
	}
	code := make(map[int]string, len(locs))
	for _, l := range locs {
		code[l.ID] = l.Code
	}
	held, err := c.held(ctx)
	if err != nil {
		return "", err
	}
	sort.Slice(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		if a.Edges.Product.Slug != b.Edges.Product.Slug {
			return a.Edges.Product.Slug < b.Edges.Product.Slug
		}
		if a.Position != b.Position {
			return a.Position < b.Position
		}
		return a.ID < b.ID
	})
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	_ = w.Write(CSVColumns)
	for _, v := range vs {
		p := v.Edges.Product
		base := []string{p.Slug, spreadsheetSafe(p.Title), string(p.Status), spreadsheetSafe(v.Sku), spreadsheetSafe(v.Title),
			formatAmount(v.PriceAmount, v.Currency), "", v.Currency}
		if v.CompareAtAmount != nil {
			base[6] = formatAmount(*v.CompareAtAmount, v.Currency)
		}
		stocks := v.Edges.Stocks
		sort.Slice(stocks, func(i, j int) bool { return code[stocks[i].LocationID] < code[stocks[j].LocationID] })
		if len(stocks) == 0 {
			_ = w.Write(append(base, "", ""))
		}
		for _, s := range stocks {
			on := s.Available + held[heldKey{v.ID, s.LocationID}]
			_ = w.Write(append(append([]string(nil), base...), code[s.LocationID], strconv.Itoa(on)))
		}
	}
	w.Flush()
	return buf.String(), w.Error()
}

// RowOutcome is what an import did with one row.
type RowOutcome string

// Row outcomes.
const (
	RowCreated   RowOutcome = "CREATED"
	RowUpdated   RowOutcome = "UPDATED"
	RowUnchanged RowOutcome = "UNCHANGED"
	RowFailed    RowOutcome = "FAILED"
)

// RowResult reports one data row (Row 1 is the first after the header).
type RowResult struct {
	Row     int
	SKU     string
	Outcome RowOutcome
	Code    string
	Message string
	// Err is the failure of ours behind an INTERNAL row, for the log.
	Err error
}

// ImportReport is the outcome of every row, with counts.
type ImportReport struct {
	Created, Updated, Unchanged, Failed int
	Rows                                []RowResult
}

// csvRow is one parsed data row; empty strings are cells left empty.
type csvRow struct {
	slug, title, status, sku, vtitle, price, compareAt, currency, location, stock string
}

// product is what a row says of the variant and its product (not its stock).
func (r csvRow) product() [8]string {
	return [8]string{r.slug, r.title, r.status, r.vtitle, r.price, r.compareAt, r.currency, strings.ToUpper(r.sku)}
}

// repeated refuses row i when an earlier row of the file names its SKU
// at the same location, or names its SKU with other product or price
// values: each would write over the other, and the file imported again
// would write again. A SKU may appear once per location, with the same
// variant values on each of its rows.
func repeated(rows []csvRow, i int, first map[string]int, placed map[[2]string]int) error {
	row := rows[i]
	if row.sku == "" {
		return nil // importRow refuses it
	}
	sku := strings.ToUpper(row.sku)
	if j, ok := placed[[2]string{sku, row.location}]; ok {
		return checkout.BadInput("sku", "%s at this location is also on row %d: a file names each SKU once per location", row.sku, j+1)
	}
	placed[[2]string{sku, row.location}] = i
	if j, ok := first[sku]; ok && rows[j].product() != row.product() {
		return checkout.BadInput("sku", "%s has other product or price values than on row %d: give them once, the same on every row of the SKU", row.sku, j+1)
	} else if !ok {
		first[sku] = i
	}
	return nil
}

// ImportCSV creates and updates products, variants, prices and stock from
// CSV text (the columns of ExportCSV, named by the header in any order).
// Each row is checked, then written with the catalog's own writes, and
// reported; a failed row does not stop the others. A row changes only
// what differs from what is stored, and a stock count is set with an
// idempotency key made of the file's hash and the row's number, so the
// same file imported twice (or its request retried) changes nothing the
// second time. Owners and staff only.
func (c *Service) ImportCSV(ctx context.Context, text string) (ImportReport, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return ImportReport{}, err
	}
	if len(text) > MaxCSVBytes {
		return ImportReport{}, checkout.BadInput("csv", "is larger than %d KiB", MaxCSVBytes>>10)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(text, "\ufeff")))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return ImportReport{}, checkout.BadInput("csv", "is empty: the first line must name the columns (%s)", strings.Join(CSVColumns, ","))
	}
	if err != nil {
		return ImportReport{}, checkout.BadInput("csv", "header: %v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		known := false
		for _, k := range CSVColumns {
			known = known || k == h
		}
		if !known {
			return ImportReport{}, checkout.BadInput("csv", "unknown column %q (the columns are %s)", h, strings.Join(CSVColumns, ","))
		}
		if _, dup := col[h]; dup {
			return ImportReport{}, checkout.BadInput("csv", "column %q appears twice", h)
		}
		col[h] = i
	}
	if _, ok := col["sku"]; !ok {
		return ImportReport{}, checkout.BadInput("csv", "no sku column")
	}
	var rows []csvRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if len(rows) == MaxCSVRows {
			return ImportReport{}, checkout.BadInput("csv", "has more than %d rows", MaxCSVRows)
		}
		if err != nil {
			// A broken quote spoils the rest of the file.
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return ImportReport{}, checkout.BadInput("csv", "line %d: %v", pe.Line, pe.Err)
			}
			return ImportReport{}, checkout.BadInput("csv", "%v", err)
		}
		cell := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return unquote(strings.TrimSpace(rec[i]))
			}
			return ""
		}
		rows = append(rows, csvRow{cell("product_slug"), cell("product_title"), strings.ToUpper(cell("product_status")), cell("sku"),
			cell("variant_title"), cell("price"), cell("compare_at_price"), strings.ToUpper(cell("currency")), cell("location"), cell("stock")})
	}
	sum := sha256.Sum256([]byte(text))
	fileKey := hex.EncodeToString(sum[:16])
	var rep ImportReport
	first := map[string]int{} // sku → its first row's index
	placed := map[[2]string]int{}
	for i, row := range rows {
		res := RowResult{Row: i + 1, SKU: row.sku}
		key := fmt.Sprintf("csv:%s:%d", fileKey, i+1)
		out, err := RowOutcome(""), repeated(rows, i, first, placed)
		if err == nil {
			out, err = c.importRow(ctx, row, key)
		}
		for try := 0; try < 3 && err != nil && conflict(err); try++ {
			// Another import created the same slug or SKU since this row
			// looked (the product, then its variant: up to two steps): read
			// again and compare with what it wrote.
			out, err = c.importRow(ctx, row, key)
		}
		res.Outcome = out
		if err != nil {
			res.Outcome = RowFailed
			code, msg, ok := checkout.Public(err)
			if !ok {
				code, msg, res.Err = checkout.CodeInternal, "the server failed on this row", err
			}
			res.Code, res.Message = code, msg
		}
		switch res.Outcome {
		case RowCreated:
			rep.Created++
		case RowUpdated:
			rep.Updated++
		case RowUnchanged:
			rep.Unchanged++
		default:
			rep.Failed++
		}
		rep.Rows = append(rep.Rows, res)
	}
	return rep, nil
}

// conflict reports a create refused by a unique index (WrapWrite's
// refusal of a taken slug or SKU).
func conflict(err error) bool {
	var ie *checkout.InputError
	return errors.As(err, &ie) && strings.Contains(ie.Msg, "conflicts with an existing record")
}

// parsed is a row checked before anything is written.
type parsed struct {
	price, compareAt *int64
	currency         string
	stock            *int
	status           *product.Status
}

func (c *Service) parseRow(row csvRow, currency string) (parsed, error) {
	var p parsed
	if row.sku == "" {
		return p, checkout.BadInput("sku", "is empty")
	}
	p.currency = currency
	if row.currency != "" {
		if err := c.checkMoney("currency", checkout.Money{Currency: row.currency}); err != nil {
			return p, err
		}
		p.currency = row.currency
	}
	if row.price != "" {
		n, err := parseAmount("price", row.price, p.currency)
		if err != nil {
			return p, err
		}
		p.price = &n
	}
	if row.compareAt != "" {
		n, err := parseAmount("compare_at_price", row.compareAt, p.currency)
		if err != nil {
			return p, err
		}
		p.compareAt = &n
	}
	if row.stock != "" {
		n, err := strconv.Atoi(row.stock)
		if err != nil || n < 0 || n > checkout.MaxStock {
			return p, checkout.BadInput("stock", "%q is not a count between 0 and %d", row.stock, checkout.MaxStock)
		}
		p.stock = &n
	}
	if row.status != "" {
		s := product.Status(row.status)
		if product.StatusValidator(s) != nil {
			return p, checkout.BadInput("product_status", "%q is not ACTIVE, DRAFT or ARCHIVED", row.status)
		}
		p.status = &s
	}
	return p, nil
}

// importRow writes one row: its product, its variant, its stock.
func (c *Service) importRow(ctx context.Context, row csvRow, key string) (RowOutcome, error) {
	v, err := c.db.Variant.Query().Where(variant.Sku(row.sku)).WithProduct().Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return RowFailed, fmt.Errorf("catalog: find sku %q: %w", row.sku, err)
	}
	currency := c.cfg.Currencies[0]
	if v != nil {
		currency = v.Currency
	}
	p, err := c.parseRow(row, currency)
	if err != nil {
		return RowFailed, err
	}
	var loc *ent.Location
	if p.stock != nil {
		q := c.db.Location.Query()
		if row.location == "" {
			q.Where(location.ID(c.locationID))
		} else {
			q.Where(location.Code(row.location))
		}
		if loc, err = q.Only(ctx); err != nil {
			if ent.IsNotFound(err) {
				return RowFailed, checkout.BadInput("location", "no location has the code %q", row.location)
			}
			return RowFailed, fmt.Errorf("catalog: find location %q: %w", row.location, err)
		}
	}
	created, changed := false, false
	var prod *ent.Product
	if v != nil {
		prod = v.Edges.Product
		if row.slug != "" && row.slug != prod.Slug {
			return RowFailed, checkout.BadInput("sku", "%q belongs to product %q, not %q", row.sku, prod.Slug, row.slug)
		}
	} else {
		if row.slug == "" {
			return RowFailed, checkout.BadInput("product_slug", "is needed for the new sku %q", row.sku)
		}
		if row.vtitle == "" || p.price == nil {
			return RowFailed, checkout.BadInput("", "a new sku needs variant_title and price")
		}
		prod, err = c.db.Product.Query().Where(product.Slug(row.slug)).Only(ctx)
		if ent.IsNotFound(err) {
			if row.title == "" {
				return RowFailed, checkout.BadInput("product_title", "is needed for the new product %q", row.slug)
			}
			in := ent.CreateProductInput{Title: row.title, Slug: row.slug, Status: p.status}
			if prod, err = c.CreateProduct(ctx, in); err != nil {
				return RowFailed, err
			}
			created = true
		} else if err != nil {
			return RowFailed, fmt.Errorf("catalog: find product %q: %w", row.slug, err)
		}
	}
	if !created {
		var up ent.UpdateProductInput
		if row.title != "" && row.title != prod.Title {
			up.Title, changed = &row.title, true
		}
		if p.status != nil && *p.status != prod.Status {
			up.Status, changed = p.status, true
		}
		if up.Title != nil || up.Status != nil {
			if _, err := c.UpdateProduct(ctx, prod.ID, up); err != nil {
				return RowFailed, err
			}
		}
	}
	if v == nil {
		in := VariantInput{SKU: &row.sku, Title: &row.vtitle, Price: &checkout.Money{Amount: *p.price, Currency: p.currency}}
		if p.compareAt != nil {
			in.CompareAtPrice = &checkout.Money{Amount: *p.compareAt, Currency: p.currency}
		}
		if v, err = c.CreateVariant(ctx, prod.ID, in); err != nil {
			return RowFailed, err
		}
		created = true
	} else {
		var in VariantInput
		if row.vtitle != "" && row.vtitle != v.Title {
			in.Title = &row.vtitle
		}
		price := v.PriceAmount
		if p.price != nil {
			price = *p.price
		}
		if price != v.PriceAmount || p.currency != v.Currency {
			in.Price = &checkout.Money{Amount: price, Currency: p.currency}
		}
		if p.compareAt != nil && (v.CompareAtAmount == nil || *v.CompareAtAmount != *p.compareAt) {
			in.CompareAtPrice = &checkout.Money{Amount: *p.compareAt, Currency: p.currency}
			if in.Price == nil {
				in.Price = &checkout.Money{Amount: price, Currency: p.currency}
			}
		}
		if in.Title != nil || in.Price != nil {
			if _, err := c.UpdateVariant(ctx, v.ID, in); err != nil {
				return RowFailed, err
			}
			changed = true
		}
	}
	if p.stock != nil {
		s, err := c.db.Stock.Query().Where(stock.VariantID(v.ID), stock.LocationID(loc.ID)).Only(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return RowFailed, fmt.Errorf("catalog: stock of %q: %w", row.sku, err)
		}
		on := 0
		if s != nil {
			held, err := c.held(ctx, v.ID)
			if err != nil {
				return RowFailed, err
			}
			on = s.Available + held[heldKey{v.ID, loc.ID}]
		}
		if s == nil || on != *p.stock {
			if _, err := c.SetStock(ctx, v.ID, loc.ID, *p.stock, key); err != nil {
				return RowFailed, err
			}
			changed = true
		}
	}
	switch {
	case created:
		return RowCreated, nil
	case changed:
		return RowUpdated, nil
	}
	return RowUnchanged, nil
}
