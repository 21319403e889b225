package graph

import (
	"encoding/base64"

	"github.com/merchd/merchd/hardware"
)

// qrPNG renders content as a QR code PNG data URL (about 5 cm when
// printed), with whole pixels per module and its quiet zone.
func qrPNG(content string) (string, error) {
	png, err := hardware.QRPNG(content, 320)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}
