package checkout

import (
	"context"
	"strconv"

	"github.com/merchd/merchd/ent"
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
func FulfillmentTopic(id int) string    { return "fulfillment:" + strconv.Itoa(id) }

// Event is something a buyer or the merchant's other systems are told
// about: an email to the buyer, a signed webhook to each endpoint that
// subscribes to its Type. It is recorded in the transaction of the change
// that caused it (an outbox), so it is sent if and only if the change
// committed, and delivered with retries after.
type Event struct {
	Type       string         // one of the Event* constants
	OrderID    int            // the order it concerns (0 for none): webhooks keep each order's events in order
	CustomerID int            // the buyer to email (0 for none)
	Data       map[string]any // small JSON payload: ids, statuses, amounts; no secrets
	// Keys of Data starting with "_" (such as "_pass", the pickup pass)
	// are for the buyer's email only: webhooks never carry them, and they
	// are cleared once the email is sent.
}

// Event types: the names outbound webhooks subscribe to.
const (
	EventOrderPaid          = "order.paid"
	EventFulfillmentUpdated = "fulfillment.updated" // Data: fulfillment_id, status, method, …
	EventPickupReady        = "pickup.ready"        // Data: fulfillment_id, location, window; the email carries the pass
	EventPickupRerouted     = "pickup.rerouted"
	EventOrderShipped       = "order.shipped"
	EventOrderDelivered     = "order.delivered"
	EventReturnRequested    = "return.requested"
	EventReturnReceived     = "return.received"
	EventRefundIssued       = "refund.issued"
)

// WebhookEvents are the event types webhook endpoints may subscribe to.
var WebhookEvents = []string{
	EventOrderPaid, EventFulfillmentUpdated, EventPickupReady, EventPickupRerouted, EventOrderShipped,
	EventOrderDelivered, EventReturnRequested, EventReturnReceived, EventRefundIssued,
}

// Account mails: sent to the customer only, never to a webhook. Their
// Data carries the link's token under "_token" (an email-only key).
const (
	EventPasswordReset     = "account.password_reset"
	EventEmailVerification = "account.email_verification"
)

// Outbox records events in the caller's transaction.
type Outbox interface {
	Record(ctx context.Context, tx *ent.Tx, e Event) error
}

// Record records e in tx through o; a nil o (a test or a hub without
// notifications) records nothing.
func Record(ctx context.Context, o Outbox, tx *ent.Tx, e Event) error {
	if o == nil {
		return nil
	}
	return o.Record(ctx, tx, e)
}
