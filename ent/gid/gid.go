// Package gid encodes merchd's Relay global ids and pagination cursors.
//
// Ids are ent's globally unique integers (each table owns a 1<<32 range),
// presented to clients as opaque strings. Clients must not parse them.
package gid

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/merchd/merchd/ent"
)

// ErrInvalidID is returned for a string that is not a merchd global id.
var ErrInvalidID = errors.New("invalid id")

// ErrInvalidCursor is returned for a cursor that merchd did not issue.
var ErrInvalidCursor = errors.New("invalid cursor")

const (
	idPrefix     = "merchd:"
	maxIDLen     = 64
	maxCursorLen = 1024
)

// Encode returns the opaque global id for the ent id n.
func Encode(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(idPrefix + strconv.Itoa(n)))
}

// Decode parses a global id. Each id has exactly one valid encoding.
func Decode(s string) (int, error) {
	if len(s) == 0 || len(s) > maxIDLen {
		return 0, fmt.Errorf("%w: %q", ErrInvalidID, truncate(s))
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrInvalidID, truncate(s))
	}
	digits, ok := strings.CutPrefix(string(raw), idPrefix)
	if !ok || digits == "" || digits[0] == '0' || len(digits) > 18 {
		return 0, fmt.Errorf("%w: %q", ErrInvalidID, truncate(s))
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q", ErrInvalidID, truncate(s))
		}
	}
	n, err := strconv.Atoi(digits)
	// Base64 tolerates stray trailing bits; only the canonical form is an id.
	if err != nil || Encode(n) != s {
		return 0, fmt.Errorf("%w: %q", ErrInvalidID, truncate(s))
	}
	return n, nil
}

// MarshalID is gqlgen's marshaler for the ID scalar.
func MarshalID(n int) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		// Encode's alphabet needs no JSON escaping.
		_, _ = io.WriteString(w, `"`+Encode(n)+`"`)
	})
}

// UnmarshalID is gqlgen's unmarshaler for the ID scalar.
func UnmarshalID(v any) (int, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%w: ids are strings", ErrInvalidID)
	}
	return Decode(s)
}

// MarshalCursor is gqlgen's marshaler for the Cursor scalar.
func MarshalCursor(c ent.Cursor) graphql.Marshaler { return c }

// UnmarshalCursor is gqlgen's unmarshaler for the Cursor scalar. Beyond
// decoding, it rejects cursors whose order value is not a plain scalar, so a
// forged cursor cannot reach the database as anything but a comparison value.
func UnmarshalCursor(v any) (ent.Cursor, error) {
	var c ent.Cursor
	s, ok := v.(string)
	if !ok || s == "" || len(s) > maxCursorLen {
		return c, ErrInvalidCursor
	}
	if err := c.UnmarshalGQL(s); err != nil {
		return ent.Cursor{}, ErrInvalidCursor
	}
	if c.ID <= 0 {
		return ent.Cursor{}, ErrInvalidCursor
	}
	switch c.Value.(type) {
	case nil, string, bool, float32, float64, time.Time,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
	default:
		return ent.Cursor{}, ErrInvalidCursor
	}
	return c, nil
}

func truncate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
