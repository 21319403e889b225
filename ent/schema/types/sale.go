package types

// SaleLine is one line of a hub sale, by SKU so it means the same thing on
// the hub and on central.
type SaleLine struct {
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
	UnitAmount int64  `json:"unitAmount"`
}
