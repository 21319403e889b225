package web_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

// TestConsoleCatalogInChromium: at desktop and tablet size a staff member
// creates a product with an uploaded image, a variant and its stock,
// schedules a drop with pools, and watches it sell on the live board
// while scripted buyers pay from their wallets through GraphQL: the
// remaining, held and paid figures reach the right values; a pool
// rebalance lets the last buyer take the last units and the board says
// sold out. The catalog's CSV export imports back unchanged, and a
// changed file updates a price with a bad row reported. Memberships and
// streams are worked through their pages. A clerk is refused the board.
func TestConsoleCatalogInChromium(t *testing.T) {
	c := newConsole(t, graphtest.Options{})
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	for x := range 96 {
		for y := range 96 {
			img.Set(x, y, color.RGBA{R: uint8(60 + x), G: 20, B: uint8(120 + y), A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "owl.png")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Config["image"] = path
	c.Config["notImage"] = filepath.Join(repoRoot(), "web", "static", "admin.css")
	c.run(t, "console-catalog.mjs", 20)
}
