package graph

import (
	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/notify"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/notificationdelivery"
	"github.com/merchd/merchd/graph/model"
)

// notify is the webhook service, or a refusal at a hub (central sends).
func (r *Resolver) notify() (*notify.Service, error) {
	if r.Notify == nil {
		return nil, &checkout.InputError{Field: "url", Msg: "webhooks are registered on central; a hub's sales reach them when they sync"}
	}
	return r.Notify, nil
}

// webhookDelivery is a delivery as the API shows it.
func webhookDelivery(d *ent.NotificationDelivery) *model.WebhookDelivery {
	out := &model.WebhookDelivery{ID: d.ID, EventID: d.EventID, Status: model.WebhookDeliveryStatus(d.Status),
		Attempts: d.Attempts, CreatedAt: d.CreatedAt, SentAt: d.SentAt}
	if d.Edges.Event != nil {
		out.EventType = d.Edges.Event.Type
	}
	if d.LastStatusCode != 0 {
		out.LastStatusCode = &d.LastStatusCode
	}
	if d.LastResponse != "" {
		out.LastResponse = &d.LastResponse
	}
	if d.LastError != "" {
		out.LastError = &d.LastError
	}
	if d.Status == notificationdelivery.StatusPENDING {
		out.NextAttemptAt = &d.NextAttemptAt
	}
	return out
}
