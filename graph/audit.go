package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/merchd/merchd/ent/auditentry"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/viewer"
)

// maxAuditInput bounds the input JSON an audit entry keeps.
const maxAuditInput = 4 << 10

// auditPending is an entry's outcome from its intent until its end.
const auditPending = "PENDING"

// audit is field middleware that records every root mutation a staff
// member or a hub's token runs: who (member, token, role, hub), what (the
// mutation, its target, its arguments with secrets redacted) and how it
// ended (OK or the refusal's code). It is the one place these writes are
// audited, so no resolver can forget to.
//
// The entry is written before the mutation runs (outcome PENDING) and
// completed after with one guarded update (WHERE outcome = 'PENDING'):
// a process that stops in between leaves a PENDING entry, never a write
// without one. When the intent cannot be written the mutation does not
// run.
func (r *Resolver) audit(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "Mutation" {
		return next(ctx)
	}
	input, target := auditInput(fc.Args)
	finish, err := r.auditBegin(ctx, fc.Field.Name, target, input)
	if err != nil {
		return nil, err
	}
	res, err := next(ctx)
	outcome := "OK"
	if err != nil {
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			outcome = code(ctx, err)
		} else {
			outcome = code(ctx, resolverError{err})
		}
	}
	finish(outcome)
	return res, err
}

// auditBegin records a staff member's (or a hub token's) write as PENDING
// before it runs; finish records how it ended (OK or the refusal's code).
// Anyone else's write is not audited (finish does nothing). When the
// intent cannot be written the write must not run: the error says so.
func (r *Resolver) auditBegin(ctx context.Context, operation, target, input string) (finish func(outcome string), err error) {
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Staff && v.Role != viewer.HubToken {
		return func(string) {}, nil
	}
	role := v.Rank.String()
	if v.Role == viewer.HubToken {
		role = "HUB"
	}
	sys := viewer.SystemContext(context.WithoutCancel(ctx))
	entry, aerr := r.Client.AuditEntry.Create().SetAt(r.Now().UTC()).SetStaffID(v.StaffID).SetTokenID(v.SessionID).
		SetRole(role).SetHub(v.Hub).SetOperation(operation).SetTargetID(target).SetInput(input).
		SetOutcome(auditPending).Save(sys)
	if aerr != nil {
		return nil, fmt.Errorf("audit: intent of %s: %w", operation, aerr)
	}
	return func(outcome string) {
		if _, aerr := r.Client.AuditEntry.Update().Where(auditentry.ID(entry.ID), auditentry.Outcome(auditPending)).
			SetOutcome(outcome).Save(sys); aerr != nil && r.log != nil {
			r.log.ErrorContext(ctx, "audit entry not completed", "operation", operation, "staff_id", v.StaffID, "audit_id", entry.ID, "error", aerr)
		}
	}, nil
}

// auditInput is args as JSON with passwords, secrets and tokens redacted,
// cut at maxAuditInput bytes, and the first id it names (a global id).
func auditInput(args map[string]any) (input, target string) {
	raw, err := json.Marshal(args)
	if err != nil {
		return `{"unreadable":true}`, ""
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return `{"unreadable":true}`, ""
	}
	tree = redact(tree, &target)
	out, _ := json.Marshal(tree)
	s := string(out)
	if len(s) > maxAuditInput {
		cut := maxAuditInput
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s, target
}

// redact replaces the values of secret-looking keys and notes the first id.
func redact(v any, target *string) any {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			x := v[k]
			if secretKey(k) {
				v[k] = "[redacted]"
				continue
			}
			if *target == "" && (k == "id" || strings.HasSuffix(k, "Id")) {
				if n, ok := x.(float64); ok && n > 0 && n == float64(int(n)) {
					*target = gid.Encode(int(n))
				}
			}
			v[k] = redact(x, target)
		}
	case []any:
		for i, x := range v {
			v[i] = redact(x, target)
		}
	}
	return v
}

// secretKey reports whether an argument named k holds a secret.
func secretKey(k string) bool {
	l := strings.ToLower(k)
	if strings.HasSuffix(l, "tokenid") {
		return false
	}
	for _, s := range []string{"password", "secret", "token", "streamkey", "apikey", "pass"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
