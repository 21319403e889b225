package graph

import (
	"errors"
	"fmt"
	"github.com/merchd/merchd/ent"
)

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// options copies GraphQL option inputs; nil stays nil ("leave unchanged").
func options(in []*ent.SelectedOption) []ent.SelectedOption {
	if in == nil {
		return nil
	}
	out := make([]ent.SelectedOption, len(in))
	for i, o := range in {
		out[i] = *o
	}
	return out
}

// maxPageSize bounds connections and node lists so one request cannot ask
// the database for the whole catalog.
const maxPageSize = 100

var errPageSize = errors.New("page size out of range")

// checkPage requires first or last, each within 0..maxPageSize.
func checkPage(first, last *int) error {
	if first == nil && last == nil {
		return fmt.Errorf("%w: give first or last (at most %d)", errPageSize, maxPageSize)
	}
	for _, n := range []*int{first, last} {
		if n != nil && (*n < 0 || *n > maxPageSize) {
			return fmt.Errorf("%w: first and last must be between 0 and %d", errPageSize, maxPageSize)
		}
	}
	return nil
}
