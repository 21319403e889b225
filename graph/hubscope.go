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
}

// hubScope is field middleware: a viewer holding a hub's token reaches
// only a hub's root fields; below them, fields resolve as usual.
func hubScope(ctx context.Context, next graphql.Resolver) (any, error) {
	if v := viewer.FromContext(ctx); v.Hub != "" {
		fc := graphql.GetFieldContext(ctx)
		if fc != nil && (fc.Object == "Query" || fc.Object == "Mutation" || fc.Object == "Subscription") &&
			!hubScopedFields[fc.Field.Name] && !strings.HasPrefix(fc.Field.Name, "__") {
			return nil, fmt.Errorf("%s with the token of hub %s: %w", fc.Field.Name, v.Hub, checkout.ErrForbidden)
		}
	}
	return next(ctx)
}
