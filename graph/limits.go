package graph

import (
	"context"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// queryLimits refuses, before any resolver runs and with
// QUERY_TOO_COMPLEX, operations nested deeper than MaxDepth, costlier than
// MaxComplexity, with more than MaxAliases aliases, with more than
// MaxWrites mutations that move stock or money, or with more than one
// authentication mutation (aliases must not turn one request into 200
// password guesses).
type queryLimits struct {
	MaxDepth      int
	MaxComplexity int
	MaxAliases    int
	MaxWrites     int
	schema        graphql.ExecutableSchema
}

var (
	_ graphql.HandlerExtension        = (*queryLimits)(nil)
	_ graphql.OperationContextMutator = (*queryLimits)(nil)
)

// authMutations check or set a password, or mail an account link: at
// most one per operation (each is throttled per request).
var authMutations = map[string]bool{"signIn": true, "signUp": true, "requestPasswordReset": true, "resetPassword": true,
	"requestEmailVerification": true, "verifyEmail": true}

// listBound is what a plain list field (no page arguments) is priced at per
// element when it has no bound of its own: variants of a product, lines of
// an order. Connections are priced by their page size instead.
const listBound = 10

// embeddedLists are list fields read from their parent's row (a JSON
// column): they load nothing, so each is priced once, not per element.
var embeddedLists = map[string]bool{"Variant.selectedOptions": true}

// isConnectionEdges: a connection's edges are priced by its page size
// where the connection is selected (gqlConfig), not again here.
func isConnectionEdges(typeName, field string) bool {
	return (field == "edges" || field == "nodes") && strings.HasSuffix(typeName, "Connection")
}

// schemaCost and typeCost price introspection, which the walk skips: the
// whole schema is ~350 KB of JSON, so one per operation, priced like a
// large catalog page.
const (
	schemaCost = 1000
	typeCost   = 20
)

// writeCost is what one mutation moving stock or money adds to the
// complexity, on top of its selection.
const writeCost = 200

func (*queryLimits) ExtensionName() string { return "QueryLimits" }

func (l *queryLimits) Validate(s graphql.ExecutableSchema) error {
	l.schema = s
	return nil
}

func (l *queryLimits) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Doc.Operations.ForName(oc.OperationName)
	if op == nil {
		return nil // gqlgen reports the missing operation itself
	}
	if d := depth(op.SelectionSet, oc.Doc.Fragments, 0, map[string]bool{}); d > l.MaxDepth {
		return tooComplex("operation is nested %d levels deep, more than the limit of %d", d, l.MaxDepth)
	}
	var sh shape
	sh.walk(op.SelectionSet, oc.Variables, 0)
	if sh.aliases > l.MaxAliases {
		return tooComplex("operation has %d aliases, more than the limit of %d", sh.aliases, l.MaxAliases)
	}
	if sh.nulField != "" {
		err := gqlerror.Errorf("%s: text must not contain NUL characters", sh.nulField)
		err.Extensions = map[string]any{"code": CodeBadUserInput}
		return err
	}
	if sh.longWhere != "" {
		err := gqlerror.Errorf("%s: a where filter's text is longer than %d characters", sh.longWhere, maxWhereText)
		err.Extensions = map[string]any{"code": CodeBadUserInput, "field": "where"}
		return err
	}
	if sh.whereNodes > maxWhereNodes {
		return tooComplex("the operation's where filters hold %d conditions, more than the limit of %d", sh.whereNodes, maxWhereNodes)
	}
	c := l.cost(ctx, op.SelectionSet, oc.Variables, 0)
	mutation := op.Operation == ast.Mutation
	schemas, auth, writes := 0, 0, 0
	for _, f := range rootFields(op.SelectionSet, nil) {
		switch f.Name {
		case "__schema":
			schemas++
			c = addCapped(c, schemaCost)
		case "__type":
			c = addCapped(c, typeCost)
		}
		if mutation && authMutations[f.Name] {
			auth++
		}
		if mutation && movesStockOrMoney(l.schema.Schema(), f) {
			writes++
			c = addCapped(c, writeCost)
		}
	}
	switch {
	case schemas > 1:
		return tooComplex("operation asks for the schema %d times; once is enough", schemas)
	case auth > 1:
		return tooComplex("operation has %d sign-in, sign-up or account-link fields; send one per request", auth)
	case writes > l.MaxWrites:
		return tooComplex("operation has %d mutations that move stock or money, more than the limit of %d", writes, l.MaxWrites)
	}
	if c > l.MaxComplexity {
		return tooComplex("operation has complexity %d, more than the limit of %d", c, l.MaxComplexity)
	}
	return nil
}

// cost prices a selection: a field costs 1 plus its children, times the
// page size for connections (gqlConfig) and times listBound for plain
// lists; an interface field costs what its dearest implementation costs.
func (l *queryLimits) cost(ctx context.Context, set ast.SelectionSet, vars map[string]any, level int) int {
	if level > 64 { // depth is checked first; never recurse without end
		return 0
	}
	total := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Definition == nil || s.ObjectDefinition == nil || strings.HasPrefix(s.Name, "__") {
				continue
			}
			child := l.cost(ctx, s.SelectionSet, vars, level+1)
			args := s.ArgumentMap(vars)
			types := []string{s.ObjectDefinition.Name}
			if s.ObjectDefinition.Kind == ast.Interface || s.ObjectDefinition.Kind == ast.Union {
				types = types[:0]
				for _, t := range l.schema.Schema().GetPossibleTypes(s.ObjectDefinition) {
					types = append(types, t.Name)
				}
			}
			fc := 0
			for _, t := range types {
				c, ok := l.schema.Complexity(ctx, t, s.Name, child, args)
				if !ok {
					c = addCapped(1, child)
					if s.Definition.Type.Elem != nil && !embeddedLists[t+"."+s.Name] && !isConnectionEdges(t, s.Name) {
						c = addCapped(1, mulCapped(child, listBound))
					}
				}
				fc = max(fc, c)
			}
			total = addCapped(total, fc)
		case *ast.InlineFragment:
			total = addCapped(total, l.cost(ctx, s.SelectionSet, vars, level))
		case *ast.FragmentSpread:
			if s.Definition != nil {
				total = addCapped(total, l.cost(ctx, s.Definition.SelectionSet, vars, level+1))
			}
		}
	}
	return total
}

// shape is what one walk of an operation finds besides its depth and
// cost: its aliases, the conditions of its where filters, and the first
// field with a NUL character in its arguments (no database column holds
// one — PostgreSQL refuses it outright — so it is the client's mistake,
// not INTERNAL). Fragments count where they are spread.
type shape struct {
	aliases, whereNodes int
	nulField            string
	longWhere           string // the first field whose where filter holds text over maxWhereText
}

func (sh *shape) walk(set ast.SelectionSet, vars map[string]any, level int) {
	if level > 64 { // depth is checked first; never recurse without end
		return
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != "" && s.Alias != s.Name {
				sh.aliases++
			}
			if len(s.Arguments) > 0 {
				args := s.ArgumentMap(vars)
				if sh.nulField == "" && hasNUL(args, 0) {
					sh.nulField = s.Name
				}
				if s.Definition != nil && s.Definition.Arguments.ForName("where") != nil {
					sh.whereNodes += countNodes(args["where"], 0)
					if sh.longWhere == "" && longText(args["where"], 0) {
						sh.longWhere = s.Name
					}
				}
			}
			sh.walk(s.SelectionSet, vars, level+1)
		case *ast.InlineFragment:
			sh.walk(s.SelectionSet, vars, level+1)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				sh.walk(s.Definition.SelectionSet, vars, level+1)
			}
		}
	}
}

// hasNUL: a text of v (a value or a key) holds a NUL character.
func hasNUL(v any, level int) bool {
	return anyText(v, level, func(s string) bool { return strings.IndexByte(s, 0) >= 0 })
}

// anyText reports whether f holds for a text of v: a string, or a key or
// value of its objects and lists, at most 32 levels down.
func anyText(v any, level int, f func(string) bool) bool {
	if level > 32 {
		return false
	}
	switch x := v.(type) {
	case string:
		return f(x)
	case map[string]any:
		for k, e := range x {
			if f(k) || anyText(e, level+1, f) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if anyText(e, level+1, f) {
				return true
			}
		}
	}
	return false
}

// maxWhereText bounds one text of a where filter: a 60,000-character
// "contains" is no search anybody types, and SQLite refuses its LIKE
// pattern as too complex.
const maxWhereText = 1000

func longText(v any, level int) bool {
	return anyText(v, level, func(s string) bool { return utf8.RuneCountInString(s) > maxWhereText })
}

// maxWhereNodes bounds the conditions of an operation's where filters: a
// 20,000-item "or" must not reach the database.
const maxWhereNodes = 100

func countNodes(v any, level int) int {
	if level > 32 {
		return maxWhereNodes + 1
	}
	switch x := v.(type) {
	case map[string]any:
		n := 1
		for _, e := range x {
			n += countNodes(e, level+1)
		}
		return n
	case []any:
		n := 0
		for _, e := range x {
			n += 1 + countNodes(e, level+1)
		}
		return n
	}
	return 0
}

// rootFields lists an operation's top-level fields through fragments.
func rootFields(set ast.SelectionSet, out []*ast.Field) []*ast.Field {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			out = append(out, s)
		case *ast.InlineFragment:
			out = rootFields(s.SelectionSet, out)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				out = rootFields(s.Definition.SelectionSet, out)
			}
		}
	}
	return out
}

// movesStockOrMoney: a mutation whose input carries an idempotency key is
// one that moves stock or money (DESIGN's rule 3).
func movesStockOrMoney(schema *ast.Schema, f *ast.Field) bool {
	if f.Definition == nil {
		return false
	}
	for _, a := range f.Definition.Arguments {
		if a.Name == "idempotencyKey" {
			return true
		}
		if in := schema.Types[a.Type.Name()]; in != nil && in.Kind == ast.InputObject && in.Fields.ForName("idempotencyKey") != nil {
			return true
		}
	}
	return false
}

func addCapped(a, b int) int {
	if a > math.MaxInt32 || b > math.MaxInt32 {
		return math.MaxInt32
	}
	return min(a+b, math.MaxInt32)
}

func mulCapped(a, b int) int {
	if a != 0 && b > math.MaxInt32/a {
		return math.MaxInt32
	}
	return min(a*b, math.MaxInt32)
}

func tooComplex(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": CodeQueryTooComplex}
	return err
}

// depth is the deepest field nesting of set; fragments count where spread.
func depth(set ast.SelectionSet, frags ast.FragmentDefinitionList, level int, seen map[string]bool) int {
	max := level
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.SelectionSet) == 0 {
				d = level + 1
			} else {
				d = depth(s.SelectionSet, frags, level+1, seen)
			}
		case *ast.InlineFragment:
			d = depth(s.SelectionSet, frags, level, seen)
		case *ast.FragmentSpread:
			if seen[s.Name] {
				continue // validation rejects cycles; never loop on one anyway
			}
			f := frags.ForName(s.Name)
			if f == nil {
				continue
			}
			seen[s.Name] = true
			d = depth(f.SelectionSet, frags, level, seen)
			delete(seen, s.Name)
		}
		if d > max {
			max = d
		}
	}
	return max
}

// connectionCost multiplies a connection's children by its page size, so
// `products(first: 100) { variants … }` costs what it will really load.
func connectionCost(child int, first, last *int) int {
	n := maxPageSize
	if first != nil && *first >= 0 {
		n = *first
	}
	if last != nil && *last >= 0 && (first == nil || *last < n) {
		n = *last
	}
	if n < 1 {
		n = 1
	}
	return 1 + child*n
}
