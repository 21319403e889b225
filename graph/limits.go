package graph

import (
	"context"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// queryLimits refuses operations nested deeper than MaxDepth or costlier
// than MaxComplexity with QUERY_TOO_COMPLEX, before any resolver runs.
type queryLimits struct {
	MaxDepth      int
	MaxComplexity int
	schema        graphql.ExecutableSchema
}

var (
	_ graphql.HandlerExtension        = (*queryLimits)(nil)
	_ graphql.OperationContextMutator = (*queryLimits)(nil)
)

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
	if c := complexity.Calculate(ctx, l.schema, op, oc.Variables); c > l.MaxComplexity {
		return tooComplex("operation has complexity %d, more than the limit of %d", c, l.MaxComplexity)
	}
	return nil
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
