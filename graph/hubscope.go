package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent/viewer"
)

// hubScopedFields are the root fields a hub-scoped staff token may use:
// what a hub asks central. checkout checks that the hub named is its own.
var hubScopedFields = map[string]bool{
	"hubStatus": true, "hubAllocation": true, "hubWallets": true, "signingKey": true,
	"hubPhonePayment": true, "terminalReader": true,
	"recordHubSales": true, "returnAllocation": true, "startTerminalPayment": true, "cancelTerminalPayment": true,
	"hubPickups": true, "recordHubCollections": true,
	"receiveReturn": true, "recordHubDropoff": true, // a drop-off at the hub (its own location only; checkout checks)
}

// hubScope is field middleware: a viewer holding a hub's token reaches
// only a hub's root fields; below them, fields resolve as usual.
func hubScope(ctx context.Context, next graphql.Resolver) (any, error) {
	if v := viewer.FromContext(ctx); v.Hub != "" {
		if name, ok := rootField(ctx); ok && !hubScopedFields[name] && !strings.HasPrefix(name, "__") {
			return nil, fmt.Errorf("%s with the token of hub %s: %w", name, v.Hub, checkout.ErrForbidden)
		}
	}
	return next(ctx)
}

// rootField names the field being resolved if it is a root field of a
// query, mutation or subscription.
func rootField(ctx context.Context) (string, bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || (fc.Object != "Query" && fc.Object != "Mutation" && fc.Object != "Subscription") {
		return "", false
	}
	return fc.Field.Name, true
}

// centralOnlyFields move money or stock in ways only central can keep
// straight; at a hub they are refused (the hub's till is its way to sell,
// and its sales reach central through the outbox).
var centralOnlyFields = map[string]bool{
	"topUpWallet": true, "grantCredit": true, "adjustWallet": true, "buyMembership": true, "refundOrder": true,
	"leaseAllocation": true, "recordHubSales": true, "returnAllocation": true, "payHubSale": true,
	"refundHubPayment": true, "startTerminalPayment": true, "cancelTerminalPayment": true, "walletPass": true,
	"recordHubCollections": true, "hubPickups": true, "recordHubDropoff": true,
}

// atHub is field middleware for `merchd edge`: central's money mutations
// are refused with the reason.
func atHub(hubCode string) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		if name, ok := rootField(ctx); ok && centralOnlyFields[name] {
			return nil, &checkout.InputError{Msg: fmt.Sprintf("%s happens on central; this is pop-up hub %s", name, hubCode)}
		}
		return next(ctx)
	}
}
