package gid

import (
	"errors"
	"testing"
	"time"

	"github.com/merchd/merchd/ent"
)

var idCases = []struct {
	in   string
	want int
	ok   bool
}{
	{Encode(1), 1, true},
	{Encode(21474836481), 21474836481, true},
	{"", 0, false},
	{"bWVyY2hkOjA", 0, false},                              // merchd:0
	{"bWVyY2hkOjAx", 0, false},                             // merchd:01 (non-canonical)
	{"bWVyY2hkOi0x", 0, false},                             // merchd:-1
	{"bWVyY2hkOg", 0, false},                               // merchd:
	{"b3RoZXI6MQ", 0, false},                               // other:1
	{"bWVyY2hkOjk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", 0, false}, // too many digits
	{"!!!", 0, false},
	{"bWVyY2hkOjE=", 0, false}, // padded: not our encoding
}

func TestDecode(t *testing.T) {
	for _, tc := range idCases {
		got, err := Decode(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("Decode(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidID) {
			t.Errorf("Decode(%q) = %d, %v; want ErrInvalidID", tc.in, got, err)
		}
	}
	if _, err := UnmarshalID(42); !errors.Is(err, ErrInvalidID) {
		t.Errorf("UnmarshalID(42) = %v, want ErrInvalidID", err)
	}
}

// FuzzDecode: any string either decodes to a positive id that encodes back
// to the same string, or fails with ErrInvalidID. Never a panic.
func FuzzDecode(f *testing.F) {
	for _, tc := range idCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Decode(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("Decode(%q): %v is not ErrInvalidID", s, err)
			}
			return
		}
		if n <= 0 || Encode(n) != s {
			t.Fatalf("Decode(%q) = %d, which encodes as %q", s, n, Encode(n))
		}
	})
}

func cursorString(t testing.TB, c ent.Cursor) string {
	t.Helper()
	var b []byte
	w := writerFunc(func(p []byte) (int, error) { b = append(b, p...); return len(p), nil })
	c.MarshalGQL(w)
	return string(b[1 : len(b)-1]) // unquote
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestCursor(t *testing.T) {
	for _, c := range []ent.Cursor{
		{ID: 7},
		{ID: 7, Value: "Tour Tee"},
		{ID: 7, Value: int64(3500)},
		{ID: 7, Value: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	} {
		got, err := UnmarshalCursor(cursorString(t, c))
		if err != nil || got.ID != c.ID {
			t.Errorf("round trip of %+v: %+v, %v", c, got, err)
		}
	}
	for _, bad := range []any{"", "%%%", "gaFp", 12, cursorString(t, ent.Cursor{ID: 0}), cursorString(t, ent.Cursor{ID: 7, Value: map[string]any{"a": 1}}), cursorString(t, ent.Cursor{ID: 7, Value: []any{1, 2}})} {
		if _, err := UnmarshalCursor(bad); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("UnmarshalCursor(%v) = %v, want ErrInvalidCursor", bad, err)
		}
	}
}

// FuzzCursor: any string is a valid cursor with a positive id and a scalar
// value, or ErrInvalidCursor. Never a panic.
func FuzzCursor(f *testing.F) {
	f.Add(cursorString(f, ent.Cursor{ID: 7, Value: "x"}))
	f.Add(cursorString(f, ent.Cursor{ID: 1 << 40}))
	f.Add("gaFpzwAAAAUAAAAB")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := UnmarshalCursor(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("UnmarshalCursor(%q): %v", s, err)
			}
			return
		}
		if c.ID <= 0 {
			t.Fatalf("UnmarshalCursor(%q) accepted id %d", s, c.ID)
		}
	})
}
