package catalog

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/inventory"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/image"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/viewer"
)

// Config configures catalog writes.
type Config struct {
	// Currencies the shop prices in; the first is the default.
	Currencies []string
	// Location is the code of this server's own stock location.
	Location string
}

// Validate reports unusable settings.
func (c Config) Validate() error {
	if len(c.Currencies) == 0 {
		return fmt.Errorf("catalog: no shop currency configured")
	}
	for _, cur := range c.Currencies {
		if !checkout.IsCurrencyCode(cur) {
			return fmt.Errorf("catalog: shop currency %q is not an ISO 4217 code like EUR", cur)
		}
	}
	if c.Location == "" {
		return fmt.Errorf("catalog: no stock location configured")
	}
	return nil
}

// Service writes products, variants, collections and stock levels.
// Reads go straight through ent (privacy rules decide what a viewer sees).
type Service struct {
	db         *ent.Client
	cfg        Config
	locationID int
	txn.Announcer
}

// New returns the catalog service; it makes sure this server's own
// stock location exists (central by default).
func New(ctx context.Context, db *ent.Client, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sys := viewer.SystemContext(ctx)
	kind := location.KindHUB
	name := cfg.Location
	if cfg.Location == "central" {
		kind, name = location.KindCENTRAL, "Central"
	}
	err := db.Location.Create().SetCode(cfg.Location).SetName(name).SetKind(kind).
		OnConflictColumns(location.FieldCode).Ignore().Exec(sys)
	if err != nil {
		return nil, fmt.Errorf("catalog: ensure location %s: %w", cfg.Location, err)
	}
	id, err := db.Location.Query().Where(location.Code(cfg.Location)).OnlyID(sys)
	if err != nil {
		return nil, fmt.Errorf("catalog: find location %s: %w", cfg.Location, err)
	}
	return &Service{db: db, cfg: cfg, locationID: id}, nil
}

// LocationID is this server's own stock location.
func (c *Service) LocationID() int { return c.locationID }

func (c *Service) checkMoney(field string, m checkout.Money) error {
	if m.Amount < 0 {
		return checkout.BadInput(field, "amount %d is negative", m.Amount)
	}
	if m.Amount > checkout.MaxPrice {
		return checkout.BadInput(field, "amount %d is larger than %d", m.Amount, checkout.MaxPrice)
	}
	if !slices.Contains(c.cfg.Currencies, m.Currency) {
		return checkout.BadInput(field, "currency %q is not one of this shop's (%s)", m.Currency, strings.Join(c.cfg.Currencies, ", "))
	}
	return nil
}

// CreateProduct creates a product from the generated input.
func (c *Service) CreateProduct(ctx context.Context, in ent.CreateProductInput) (*ent.Product, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	p, err := c.db.Product.Create().SetInput(in).Save(ctx)
	return p, checkout.WrapWrite("create product", err)
}

// UpdateProduct applies the generated update input.
func (c *Service) UpdateProduct(ctx context.Context, id int, in ent.UpdateProductInput) (*ent.Product, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	p, err := c.db.Product.UpdateOneID(id).SetInput(in).Save(ctx)
	return p, checkout.WrapWrite("update product", err)
}

// ArchiveProduct hides a product from customers without deleting its history.
func (c *Service) ArchiveProduct(ctx context.Context, id int) (*ent.Product, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	p, err := c.db.Product.UpdateOneID(id).SetStatus(product.StatusARCHIVED).Save(ctx)
	return p, checkout.WrapWrite("archive product", err)
}

// VariantInput creates or updates a variant. Nil fields are left unchanged on update.
type VariantInput struct {
	SKU            *string
	Title          *string
	Options        []ent.SelectedOption // nil leaves options unchanged
	Price          *checkout.Money
	CompareAtPrice *checkout.Money
	ClearCompareAt bool
	Position       *int
	// WeightGrams is what one unit weighs packed (shipping by weight).
	WeightGrams *int
}

func (c *Service) checkVariant(in VariantInput) error {
	if in.Price != nil {
		if err := c.checkMoney("price", *in.Price); err != nil {
			return err
		}
	}
	if in.CompareAtPrice != nil {
		if err := c.checkMoney("compareAtPrice", *in.CompareAtPrice); err != nil {
			return err
		}
		if in.Price != nil && in.CompareAtPrice.Currency != in.Price.Currency {
			return checkout.BadInput("compareAtPrice", "currency differs from the price's")
		}
	}
	if in.WeightGrams != nil && (*in.WeightGrams < 0 || *in.WeightGrams > 1_000_000) {
		return checkout.BadInput("weightGrams", "must be between 0 and 1000000")
	}
	_, err := optionMap(in.Options)
	return err
}

// optionMap turns option inputs into the stored map, refusing duplicates.
func optionMap(opts []ent.SelectedOption) (map[string]string, error) {
	if opts == nil {
		return nil, nil
	}
	if len(opts) > 10 {
		return nil, checkout.BadInput("options", "has more than 10 entries")
	}
	m := make(map[string]string, len(opts))
	for _, o := range opts {
		if o.Name == "" || len(o.Name) > 64 || len(o.Value) > 200 {
			return nil, checkout.BadInput("options", "names must be 1–64 characters and values at most 200")
		}
		if _, dup := m[o.Name]; dup {
			return nil, checkout.BadInput("options", "%q appears twice", o.Name)
		}
		m[o.Name] = o.Value
	}
	return m, nil
}

// CreateVariant adds a variant to a product.
func (c *Service) CreateVariant(ctx context.Context, productID int, in VariantInput) (*ent.Variant, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	if in.SKU == nil || in.Title == nil || in.Price == nil {
		return nil, checkout.BadInput("", "sku, title and price are required")
	}
	if err := c.checkVariant(in); err != nil {
		return nil, err
	}
	opts, _ := optionMap(in.Options)
	q := c.db.Variant.Create().
		SetProductID(productID).SetSku(*in.SKU).SetTitle(*in.Title).
		SetPriceAmount(in.Price.Amount).SetCurrency(in.Price.Currency).
		SetOptions(opts)
	if in.CompareAtPrice != nil {
		q.SetCompareAtAmount(in.CompareAtPrice.Amount)
	}
	if in.Position != nil {
		q.SetPosition(*in.Position)
	}
	q.SetNillableWeightGrams(in.WeightGrams)
	v, err := q.Save(ctx)
	return v, checkout.WrapWrite("create variant", err)
}

// UpdateVariant changes a variant.
func (c *Service) UpdateVariant(ctx context.Context, id int, in VariantInput) (*ent.Variant, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	if err := c.checkVariant(in); err != nil {
		return nil, err
	}
	u := c.db.Variant.UpdateOneID(id)
	if in.SKU != nil {
		u.SetSku(*in.SKU)
	}
	if in.Title != nil {
		u.SetTitle(*in.Title)
	}
	if in.Options != nil {
		opts, _ := optionMap(in.Options)
		u.SetOptions(opts)
	}
	if in.Price != nil {
		u.SetPriceAmount(in.Price.Amount).SetCurrency(in.Price.Currency)
	}
	if in.ClearCompareAt {
		u.ClearCompareAtAmount()
	} else if in.CompareAtPrice != nil {
		u.SetCompareAtAmount(in.CompareAtPrice.Amount)
	}
	if in.Position != nil {
		u.SetPosition(*in.Position)
	}
	u.SetNillableWeightGrams(in.WeightGrams)
	v, err := u.Save(ctx)
	return v, checkout.WrapWrite("update variant", err)
}

// Image is a product picture.
type Image struct {
	URL string
	Alt string
}

// imageURL: an http(s) URL with a host, or a path on this server (one
// leading slash: "//host/x.png" is another site, "/\\host" too to a
// browser), with no characters that could end an attribute or a URL.
func imageURL(s string) bool {
	if strings.ContainsAny(s, "\"'<> \t\r\n\\") {
		return false
	}
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//")
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// SetProductImages replaces a product's images, in order.
func (c *Service) SetProductImages(ctx context.Context, productID int, images []Image) (*ent.Product, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	if len(images) > 50 {
		return nil, checkout.BadInput("images", "more than 50 images")
	}
	for i, im := range images {
		if !imageURL(im.URL) {
			return nil, checkout.BadInput(fmt.Sprintf("images[%d].url", i), "must be an http(s) URL or a path on this server like /uploads/…")
		}
	}
	tx, err := c.db.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: set images: %w", err)
	}
	p, err := SetImages(ctx, tx, productID, images)
	if err != nil {
		_ = tx.Rollback()
		return nil, checkout.WrapWrite("set images", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("catalog: set images: commit: %w", err)
	}
	return p.Unwrap(), nil
}

func SetImages(ctx context.Context, tx *ent.Tx, productID int, images []Image) (*ent.Product, error) {
	p, err := tx.Product.Get(ctx, productID)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Image.Delete().Where(image.ProductID(productID)).Exec(ctx); err != nil {
		return nil, err
	}
	bulk := make([]*ent.ImageCreate, len(images))
	for i, im := range images {
		bulk[i] = tx.Image.Create().SetProductID(productID).SetURL(im.URL).SetAlt(im.Alt).SetPosition(i)
	}
	if _, err := tx.Image.CreateBulk(bulk...).Save(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// CreateCollection creates a collection.
func (c *Service) CreateCollection(ctx context.Context, in ent.CreateCollectionInput) (*ent.Collection, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	col, err := c.db.Collection.Create().SetInput(in).Save(ctx)
	return col, checkout.WrapWrite("create collection", err)
}

// UpdateCollection changes a collection.
func (c *Service) UpdateCollection(ctx context.Context, id int, in ent.UpdateCollectionInput) (*ent.Collection, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	col, err := c.db.Collection.UpdateOneID(id).SetInput(in).Save(ctx)
	return col, checkout.WrapWrite("update collection", err)
}

// StockLevel is a variant's sellable count at a location.
type StockLevel struct {
	VariantID  int `json:"variantId"`
	LocationID int `json:"locationId"`
	Available  int `json:"available"`
}

// SetStock records a shelf count: onHand is how many units of a variant are
// at a location (this server's own when locationID is 0), counting the
// units that sit in customers' carts (held, not yet sold) — they are still
// on the shelf — and not counting units already sold. What can be sold is
// onHand minus the units held, so a hold released later brings back only
// its own units and never more than were counted. A count below the units
// held is refused: it contradicts the holds.
//
// The stock row is locked first (a write), then the holds are summed: a
// concurrent hold or release either committed before (and is counted) or
// waits for this count (and moves available after it). It is idempotent
// under key: a retried request cannot overwrite sales made since the first.
func (c *Service) SetStock(ctx context.Context, variantID, locationID, onHand int, key string) (StockLevel, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return StockLevel{}, err
	}
	if onHand < 0 || onHand > checkout.MaxStock {
		return StockLevel{}, checkout.BadInput("available", "must be between 0 and %d", checkout.MaxStock)
	}
	if locationID == 0 {
		locationID = c.locationID
	}
	req := StockLevel{VariantID: variantID, LocationID: locationID, Available: onHand}
	return txn.Idempotent(ctx, c.db, "setStock", key, req, func(ctx context.Context, tx *ent.Tx) (StockLevel, error) {
		if _, err := tx.Variant.Get(ctx, variantID); err != nil {
			return StockLevel{}, checkout.WrapWrite("set stock", checkout.NotFoundAs(err, "variant"))
		}
		if _, err := tx.Location.Get(ctx, locationID); err != nil {
			return StockLevel{}, checkout.WrapWrite("set stock", checkout.NotFoundAs(err, "location"))
		}
		// Create the row, or touch it to take its lock before counting holds.
		err := tx.Stock.Create().SetVariantID(variantID).SetLocationID(locationID).SetAvailable(onHand).
			OnConflictColumns(stock.FieldVariantID, stock.FieldLocationID).
			UpdateUpdatedAt().
			Exec(ctx)
		if err != nil {
			return StockLevel{}, checkout.WrapWrite("set stock", err)
		}
		qs, err := tx.CartLine.Query().
			Where(cartline.VariantID(variantID), cartline.LocationID(locationID), cartline.StatusEQ(cartline.StatusHELD)).
			Select(cartline.FieldQuantity).Ints(ctx)
		if err != nil {
			return StockLevel{}, fmt.Errorf("catalog: set stock: count holds: %w", err)
		}
		held := 0
		for _, q := range qs {
			held += q
		}
		if held > onHand {
			return StockLevel{}, checkout.BadInput("available", "%d units are held in carts, more than the %d counted; count them in, or wait for the holds to end", held, onHand)
		}
		lvl := StockLevel{VariantID: variantID, LocationID: locationID, Available: onHand - held}
		if err := tx.Stock.Update().Where(stock.VariantID(variantID), stock.LocationID(locationID)).
			SetAvailable(lvl.Available).Exec(ctx); err != nil {
			return StockLevel{}, checkout.WrapWrite("set stock", err)
		}
		if err := inventory.MarkStockOut(ctx, tx, variantID, locationID, time.Now()); err != nil {
			return StockLevel{}, checkout.WrapWrite("set stock", err)
		}
		c.AfterCommit(tx, checkout.StockTopic(variantID))
		return lvl, nil
	})
}
