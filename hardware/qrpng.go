package hardware

import (
	"bytes"
	"image"
	"image/draw"
	"image/png"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// QRPNG renders content as a QR code PNG about width pixels wide: whole
// pixels per module (a fractional scale blurs module edges and phones
// misread them) and the four-module quiet zone scanners need around it.
func QRPNG(content string, width int) ([]byte, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return nil, err
	}
	modules := code.Bounds().Dx()
	px := max(1, width/(modules+8))
	if code, err = barcode.Scale(code, modules*px, modules*px); err != nil {
		return nil, err
	}
	side := (modules + 8) * px
	img := image.NewGray(image.Rect(0, 0, side, side))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(4*px, 4*px, side-4*px, side-4*px), code, code.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
