package shop

import (
	"context"
	"fmt"

	"github.com/merchd/merchd/checkout/catalog"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/collection"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/product"
	"github.com/merchd/merchd/ent/stock"
	"github.com/merchd/merchd/ent/variant"
	"github.com/merchd/merchd/ent/viewer"
)

// DemoHubCode is the pop-up hub the demo shop stocks.
const DemoHubCode = "popup-hub"

type demoProduct struct {
	slug, title, desc string
	price             int64
	options           []string // one variant per option value
	optionName        string
}

var demoProducts = []demoProduct{
	{"tour-tee-2026", "Tour Tee 2026", "Heavyweight cotton tee with the 2026 tour dates on the back.", 3500, []string{"S", "M", "L"}, "Size"},
	{"logo-hoodie", "Logo Hoodie", "Brushed-fleece hoodie, embroidered logo.", 6500, []string{"S", "M", "L"}, "Size"},
	{"crewneck-sunset", "Sunset Crewneck", "Garment-dyed crewneck in sunset orange.", 5500, []string{"S", "M", "L"}, "Size"},
	{"dad-cap", "Dad Cap", "Washed cotton cap, adjustable strap.", 2800, []string{"Black", "Sand", "Olive"}, "Colour"},
	{"beanie", "Rib Beanie", "Recycled-wool rib beanie.", 2400, []string{"Black", "Red", "Cream"}, "Colour"},
	{"tote-bag", "Canvas Tote", "12 oz canvas tote with screen print.", 1800, []string{"Natural", "Black", "Blue"}, "Colour"},
	{"vinyl-lp", "Debut LP (Vinyl)", "180 g vinyl, gatefold sleeve.", 3200, []string{"Black", "Splatter", "Signed"}, "Edition"},
	{"poster-a2", "Tour Poster A2", "Risograph poster, numbered.", 2000, []string{"Blue", "Pink", "Gold"}, "Ink"},
	{"enamel-pin", "Enamel Pin", "Hard enamel pin, 30 mm.", 1200, []string{"Logo", "Star", "Heart"}, "Design"},
	{"sticker-pack", "Sticker Pack", "Five vinyl stickers.", 800, []string{"Pack A", "Pack B", "Both"}, "Pack"},
	{"water-bottle", "Steel Bottle", "Insulated 500 ml bottle.", 3000, []string{"Silver", "Black", "Mint"}, "Colour"},
	{"zine-vol-1", "Tour Zine Vol. 1", "40 pages of photos from the road.", 1500, []string{"Standard", "Signed", "Bundle"}, "Edition"},
}

// SeedDemo fills an empty or partly seeded database with a small creator
// shop: a dozen products with three variants each, images, a collection, and
// stock at the central location and at a pop-up hub. Running it again
// changes nothing.
func SeedDemo(ctx context.Context, db *ent.Client, currency string, centralID int) error {
	ctx = viewer.SystemContext(ctx)
	tx, err := db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("shop: seed demo: %w", err)
	}
	if err := seedDemo(ctx, tx, currency, centralID); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("shop: seed demo: %w", err)
	}
	return tx.Commit()
}

func seedDemo(ctx context.Context, tx *ent.Tx, currency string, centralID int) error {
	if err := tx.Location.Create().SetCode(DemoHubCode).SetName("Pop-up hub").SetKind(location.KindHUB).
		OnConflictColumns(location.FieldCode).Ignore().Exec(ctx); err != nil {
		return err
	}
	hubID, err := tx.Location.Query().Where(location.Code(DemoHubCode)).OnlyID(ctx)
	if err != nil {
		return err
	}
	if err := tx.Collection.Create().SetSlug("tour-2026").SetTitle("Tour 2026").
		SetDescription("Everything from the 2026 tour.").
		OnConflictColumns(collection.FieldSlug).Ignore().Exec(ctx); err != nil {
		return err
	}
	colID, err := tx.Collection.Query().Where(collection.Slug("tour-2026")).OnlyID(ctx)
	if err != nil {
		return err
	}
	for i, d := range demoProducts {
		if err := tx.Product.Create().SetSlug(d.slug).SetTitle(d.title).SetDescription(d.desc).SetVendor("merchd demo").
			OnConflictColumns(product.FieldSlug).Ignore().Exec(ctx); err != nil {
			return err
		}
		p, err := tx.Product.Query().Where(product.Slug(d.slug)).WithImages().Only(ctx)
		if err != nil {
			return err
		}
		if i < 6 {
			in, err := tx.Collection.Query().Where(collection.ID(colID), collection.HasProductsWith(product.ID(p.ID))).Exist(ctx)
			if err != nil {
				return err
			}
			if !in {
				if err := tx.Collection.UpdateOneID(colID).AddProductIDs(p.ID).Exec(ctx); err != nil {
					return err
				}
			}
		}
		if len(p.Edges.Images) == 0 {
			if _, err := catalog.SetImages(ctx, tx, p.ID, []catalog.Image{
				{URL: "/assets/demo/" + d.slug + ".svg", Alt: d.title},
				{URL: "/assets/demo/" + d.slug + "-back.svg", Alt: d.title + ", back"},
			}); err != nil {
				return err
			}
		}
		for j, opt := range d.options {
			sku := fmt.Sprintf("%s-%d", d.slug, j+1)
			c := tx.Variant.Create().SetProductID(p.ID).SetSku(sku).SetTitle(opt).
				SetOptions(map[string]string{d.optionName: opt}).
				SetPriceAmount(d.price + int64(j)*500*boolInt(d.optionName == "Edition")).
				SetCurrency(currency).SetPosition(j)
			if j == 0 && i%4 == 0 {
				c.SetCompareAtAmount(d.price + 1000)
			}
			if err := c.OnConflictColumns(variant.FieldSku).Ignore().Exec(ctx); err != nil {
				return err
			}
			vid, err := tx.Variant.Query().Where(variant.Sku(sku)).OnlyID(ctx)
			if err != nil {
				return err
			}
			for _, s := range []struct{ loc, n int }{{centralID, 40 + 10*j}, {hubID, 10}} {
				// Ignore on conflict: re-seeding must not undo sales.
				if err := tx.Stock.Create().SetVariantID(vid).SetLocationID(s.loc).SetAvailable(s.n).
					OnConflictColumns(stock.FieldVariantID, stock.FieldLocationID).Ignore().Exec(ctx); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
