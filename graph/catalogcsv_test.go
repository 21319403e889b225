package graph_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

const importCSV = `mutation($csv: String!) { importCatalogCSV(input: {csv: $csv}) { created updated unchanged failed rows { row sku outcome code message } } }`

type importOut struct {
	Created, Updated, Unchanged, Failed int
	Rows                                []struct {
		Row                         int
		Sku, Outcome, Code, Message string
	}
}

func importCatalog(t *testing.T, e *graphtest.Env, token, text string) importOut {
	t.Helper()
	var out struct{ ImportCatalogCSV importOut }
	e.Do(t, token, importCSV, map[string]any{"csv": text}).Decode(t, &out)
	return out.ImportCatalogCSV
}

func exportCatalog(t *testing.T, e *graphtest.Env) string {
	t.Helper()
	var out struct{ CatalogCSV string }
	e.Staff(t, `{ catalogCSV }`, nil, &out)
	return out.CatalogCSV
}

// TestCatalogCSV: an import creates products, variants, prices and stock
// per location, reports each bad row with its reason and writes the good
// ones; the same file again changes nothing (also when sent twice at
// once); the export reads back as the same file; holds count as stock on
// the shelf; clerks and customers are refused.
func TestCatalogCSV(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			file := "product_slug,product_title,product_status,sku,variant_title,price,compare_at_price,currency,location,stock\r\n" +
				"owl-tee,Owl tee,ACTIVE,OWL-S,Small,25.00,30.00,EUR,central,10\r\n" +
				"owl-tee,,,OWL-M,Medium,25.5,,EUR,,7\r\n" +
				"\"=cmd\",Bad,,X-1,Bad,1.00,,EUR,,1\r\n" + // slug not a slug
				"owl-tee,,,OWL-L,Large,abc,,EUR,,1\r\n" + // price
				"owl-tee,,,OWL-XL,XL,1.001,,EUR,,1\r\n" + // too many decimals
				"owl-tee,,,OWL-XS,XS,1.00,,XXX,,1\r\n" + // currency
				"owl-tee,,,OWL-S2,Small 2,1.00,,EUR,nowhere,1\r\n" + // location
				"owl-tee,,,,No sku,1.00,,EUR,,1\r\n" + // sku
				"owl-tee,,,OWL-S3,S3,1.00,,EUR,,-4\r\n" + // stock
				"cap,Cap,DRAFT,CAP-1,One size,12,,EUR,,0\r\n"
			rep := importCatalog(t, e, e.StaffToken, file)
			if rep.Created != 3 || rep.Failed != 7 || len(rep.Rows) != 10 {
				t.Fatalf("first import: %+v", rep)
			}
			for _, r := range rep.Rows[2:9] {
				if r.Outcome != "FAILED" || r.Code != "BAD_USER_INPUT" || r.Message == "" {
					t.Fatalf("row %d: %+v", r.Row, r)
				}
			}
			for i, want := range []string{"slug", "price", "decimals", "currency", "nowhere", "sku", "stock"} {
				if r := rep.Rows[2+i]; !strings.Contains(r.Message, want) {
					t.Fatalf("row %d says %q, want it to mention %q", r.Row, r.Message, want)
				}
			}
			var p struct {
				Products struct {
					Edges []struct {
						Node struct {
							Slug, Status string
							Variants     []struct {
								Sku            string
								Available      int
								Price          struct{ Amount int }
								CompareAtPrice *struct{ Amount int }
							}
						}
					}
				}
			}
			e.Staff(t, `{ products(first: 10, where: {slug: "owl-tee"}) { edges { node { slug status variants { sku available price { amount } compareAtPrice { amount } } } } } }`, nil, &p)
			vs := p.Products.Edges[0].Node.Variants
			if len(vs) != 2 || vs[0].Price.Amount != 2500 || vs[0].CompareAtPrice.Amount != 3000 || vs[0].Available != 10 || vs[1].Price.Amount != 2550 || vs[1].Available != 7 {
				t.Fatalf("imported: %+v", vs)
			}

			// Again, twice at once: nothing changes.
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if rep := importCatalog(t, e, e.StaffToken, file); rep.Created != 0 || rep.Updated != 0 || rep.Unchanged != 3 || rep.Failed != 7 {
						t.Errorf("second import: %+v", rep)
					}
				}()
			}
			wg.Wait()

			// A hold is still on the shelf: the export counts it, and
			// importing the export changes nothing.
			tok, _ := e.SignUp(t, "csv@example.com")
			var variant struct {
				Products struct {
					Edges []struct {
						Node struct{ Variants []struct{ ID string } }
					}
				}
			}
			e.Staff(t, `{ products(first: 1, where: {slug: "owl-tee"}) { edges { node { variants { id } } } } }`, nil, &variant)
			addToCart(t, e, tok, variant.Products.Edges[0].Node.Variants[0].ID, 3, "csv-hold").Decode(t, &struct{}{})
			out := exportCatalog(t, e)
			want := "product_slug,product_title,product_status,sku,variant_title,price,compare_at_price,currency,location,stock\r\n" +
				"cap,Cap,DRAFT,CAP-1,One size,12.00,,EUR,central,0\r\n" +
				"owl-tee,Owl tee,ACTIVE,OWL-S,Small,25.00,30.00,EUR,central,10\r\n" +
				"owl-tee,Owl tee,ACTIVE,OWL-M,Medium,25.50,,EUR,central,7\r\n"
			if out != want {
				t.Fatalf("export:\n%s\nwant:\n%s", out, want)
			}
			if rep := importCatalog(t, e, e.StaffToken, out); rep.Unchanged != 3 || rep.Created+rep.Updated+rep.Failed != 0 {
				t.Fatalf("re-import of the export: %+v", rep)
			}
			// A changed price and count update; a sku moved to another product is refused.
			rep = importCatalog(t, e, e.StaffToken, "sku,price,stock,product_slug\nOWL-M,26.00,9,owl-tee\nCAP-1,,,owl-tee\n")
			if rep.Updated != 1 || rep.Failed != 1 || !strings.Contains(rep.Rows[1].Message, "belongs to product") {
				t.Fatalf("update: %+v", rep)
			}

			// Whole-file refusals and who may.
			for _, bad := range []string{"", "sku,colour\nA,red\n", "title\nx\n", "sku\n\"open\n", strings.Repeat("x", 600<<10)} {
				wantCode(t, e.Do(t, e.StaffToken, importCSV, map[string]any{"csv": bad}), "BAD_USER_INPUT")
			}
			clerk := addStaff(t, e, "clerk@csv.example", "CLERK", "central")
			wantCode(t, e.Do(t, clerk.Token, importCSV, map[string]any{"csv": file}), "FORBIDDEN")
			wantCode(t, e.Do(t, tok, importCSV, map[string]any{"csv": file}), "FORBIDDEN")
			wantCode(t, e.Do(t, clerk.Token, `{ catalogCSV }`, nil), "FORBIDDEN")
			wantCode(t, e.Do(t, "", `{ catalogCSV }`, nil), "UNAUTHENTICATED")
		})
	}
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: 200, A: 255})
	}
	var b bytes.Buffer
	graphtest.Must(t, png.Encode(&b, img))
	return b.Bytes()
}

func upload(t *testing.T, e *graphtest.Env, token string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.Base+"/uploads", bytes.NewReader(body))
	graphtest.Must(t, err)
	req.Header.Set("Content-Type", "application/octet-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	graphtest.Must(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, string(raw)
}

// TestUploads: staff upload an image and get a stable URL that serves it
// with its type and nosniff; the same bytes give the same URL. Refused:
// no token (401), a clerk or a customer (403), more than 5 MB (413),
// anything but PNG, JPEG, WebP or GIF (415) — each with a code.
func TestUploads(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	img := pngBytes(t, 40, 30)
	res, body := upload(t, e, e.StaffToken, img)
	if res.StatusCode != http.StatusCreated || !strings.Contains(body, `"url":"/uploads/`) {
		t.Fatalf("upload: %d %s", res.StatusCode, body)
	}
	url := res.Header.Get("Location")
	if _, again := upload(t, e, e.StaffToken, img); !strings.Contains(again, url) {
		t.Fatalf("same bytes, other URL: %s vs %s", again, url)
	}
	get, err := http.Get(e.Base + url)
	graphtest.Must(t, err)
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if get.StatusCode != 200 || get.Header.Get("Content-Type") != "image/png" || get.Header.Get("X-Content-Type-Options") != "nosniff" || !bytes.Equal(got, img) {
		t.Fatalf("serve: %d %v", get.StatusCode, get.Header)
	}
	for _, p := range []string{"/uploads/nope.png", "/uploads/..%2fsecret", "/uploads/" + strings.Repeat("a", 64) + ".svg"} {
		r, err := http.Get(e.Base + p)
		graphtest.Must(t, err)
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d", p, r.StatusCode)
		}
	}
	// The product takes the URL.
	var p struct {
		CreateProduct struct{ Product struct{ ID string } }
	}
	e.Staff(t, `mutation { createProduct(input: {title: "Pic", slug: "pic"}) { product { id } } }`, nil, &p)
	var set struct {
		SetProductImages struct {
			Product struct{ Images []struct{ URL string } }
		}
	}
	e.Staff(t, `mutation($i: SetProductImagesInput!) { setProductImages(input: $i) { product { images { url } } } }`,
		map[string]any{"i": map[string]any{"productId": p.CreateProduct.Product.ID, "images": []any{map[string]any{"url": url, "alt": "A red line"}}}}, &set)
	if set.SetProductImages.Product.Images[0].URL != url {
		t.Fatalf("images: %+v", set)
	}

	clerk := addStaff(t, e, "clerk@up.example", "CLERK", "central")
	customer, _ := e.SignUp(t, "up@example.com")
	big := append(pngBytes(t, 8, 8), make([]byte, 5<<20)...)
	for name, c := range map[string]struct {
		token  string
		body   []byte
		status int
		code   string
	}{
		"no token":  {"", img, 401, "UNAUTHENTICATED"},
		"bad token": {"mst_nope", img, 401, "UNAUTHENTICATED"},
		"clerk":     {clerk.Token, img, 403, "FORBIDDEN"},
		"customer":  {customer, img, 403, "FORBIDDEN"},
		"too big":   {e.StaffToken, big, 413, "BAD_USER_INPUT"},
		"svg":       {e.StaffToken, []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), 415, "BAD_USER_INPUT"},
		"html":      {e.StaffToken, []byte("<html><script>alert(1)</script>"), 415, "BAD_USER_INPUT"},
		"empty":     {e.StaffToken, nil, 415, "BAD_USER_INPUT"},
	} {
		res, body := upload(t, e, c.token, c.body)
		if res.StatusCode != c.status || !strings.Contains(body, fmt.Sprintf(`"code":%q`, c.code)) {
			t.Errorf("%s: %d %s, want %d %s", name, res.StatusCode, body, c.status, c.code)
		}
	}
	// Uploads are staff writes: each staff attempt is in the audit log
	// once, with its outcome (the customer's and the anonymous are not).
	var log struct {
		AuditLog struct {
			Edges []struct{ Node struct{ Outcome string } }
		}
	}
	e.Staff(t, `{ auditLog(first: 50, operation: "uploadImage") { edges { node { outcome } } } }`, nil, &log)
	outcomes := map[string]int{}
	for _, ed := range log.AuditLog.Edges {
		outcomes[ed.Node.Outcome]++
	}
	// 2 OK (the same image twice), the clerk's FORBIDDEN, and too big,
	// svg, html, empty and the bad token's none (401 before any staff).
	if outcomes["OK"] != 2 || outcomes["FORBIDDEN"] != 1 || outcomes["BAD_USER_INPUT"] != 4 || outcomes["PENDING"] != 0 || len(log.AuditLog.Edges) != 7 {
		t.Fatalf("upload audit: %v", outcomes)
	}
}

// TestRace_importCatalogCSV: the same file imported N times at once makes
// the product and variant once and sets the count once (every import
// sees no failure; exactly one reports CREATED); N different counts of
// one SKU imported while customers hold units leave the shelf at one of
// the counts, the holds within it and nothing negative.
func TestRace_importCatalogCSV(t *testing.T) {
	for _, d := range graphtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := graphtest.New(t, graphtest.Options{Dialect: d})
			c := raceClient()
			file := "product_slug,product_title,sku,variant_title,price,currency,stock\nrace-tee,Race tee,RACE-1,One,10.00,EUR,10\n"
			same := raceAll(raceN, func(int) graphtest.Response {
				return postWith(t, c, e.URL, e.StaffToken, importCSV, map[string]any{"csv": file})
			})
			created := 0
			for _, r := range same {
				var out struct{ ImportCatalogCSV importOut }
				r.Decode(t, &out)
				if out.ImportCatalogCSV.Failed != 0 {
					t.Fatalf("same file: %+v", out.ImportCatalogCSV)
				}
				created += out.ImportCatalogCSV.Created
			}
			var v struct {
				Variants struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			e.Staff(t, `{ variants(first: 5, where: {sku: "RACE-1"}) { edges { node { id } } } }`, nil, &v)
			if created != 1 || len(v.Variants.Edges) != 1 {
				t.Fatalf("same file: %d reported created, %d variants", created, len(v.Variants.Edges))
			}
			id := v.Variants.Edges[0].Node.ID
			if got := stockOf(t, e, id); got != 10 {
				t.Fatalf("same file: stock %d, want 10", got)
			}

			toks := customers(t, e, raceN, "csv-"+d)
			counts := map[int]bool{}
			for i := 0; i < 2*raceN; i += 2 {
				counts[5+i] = true
			}
			rs := raceAll(2*raceN, func(i int) graphtest.Response {
				if i%2 == 0 {
					return postWith(t, c, e.URL, e.StaffToken, importCSV, map[string]any{"csv": fmt.Sprintf("sku,stock\nRACE-1,%d\n", 5+i)})
				}
				return postWith(t, c, e.URL, toks[i/2], addToCartMutation, map[string]any{"i": map[string]any{"variantId": id, "quantity": 1, "idempotencyKey": "buy"}})
			})
			for i, r := range rs {
				if r.Code() != "" && (i%2 == 0 || r.Code() != "OUT_OF_STOCK") {
					t.Fatalf("call %d: %q %+v", i, r.Code(), r.Errors)
				}
				if i%2 == 0 {
					var out struct{ ImportCatalogCSV importOut }
					r.Decode(t, &out)
					// A count below the units held at that instant is refused for the row.
					if f := out.ImportCatalogCSV.Failed; f != 0 && !strings.Contains(out.ImportCatalogCSV.Rows[0].Message, "held") {
						t.Fatalf("import %d: %+v", i, out.ImportCatalogCSV)
					}
				}
			}
			held, avail := heldUnits(t, e, id), stockOf(t, e, id)
			if avail < 0 || !counts[held+avail] && held+avail != 10 {
				t.Fatalf("after the race: %d sellable + %d held is none of the counts", avail, held)
			}
		})
	}
}
