package checkout

import (
	"context"
	"strconv"
)

// Notifier announces that something changed, by topic. It carries no data:
// subscribers re-read the current value, so a lost or coalesced
// notification never leaves anyone on a stale value after the next one.
type Notifier interface {
	Notify(ctx context.Context, topics ...string)
}

// Topics name what changed.
func StockTopic(variantID int) string   { return "stock:" + strconv.Itoa(variantID) }
func DropTopic(dropID int) string       { return "drop:" + strconv.Itoa(dropID) }
func CartTopic(customerID int) string   { return "cart:" + strconv.Itoa(customerID) }
func OrderTopic(orderID int) string     { return "order:" + strconv.Itoa(orderID) }
func WalletTopic(customerID int) string { return "wallet:" + strconv.Itoa(customerID) }
func StreamTopic(streamID int) string   { return "stream:" + strconv.Itoa(streamID) }
