package sessions

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestStorable(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{`"plain"`, `"plain"`, nil},
		{`{"a":[1,2.50,-3]}`, `{"a":[1,2.50,-3]}`, nil},
		{`1e3`, `1000`, nil},
		{`1E+3`, `1000`, nil},
		{`1.50e1`, `15.0`, nil},
		{`1.5e-7`, `0.00000015`, nil},
		{`-2.5e0`, `-2.5`, nil},
		{`-0e5`, `0`, nil},
		{`0.001e2`, `0.1`, nil},
		{`[1e2,"1e2",{"n":-1.25E-2}]`, `[100,"1e2",{"n":-0.0125}]`, nil},
		{`1e131071`, ``, ErrTooLarge}, // 131,072 digits, over the 100,000-byte limit of this test
		{`1e-131071`, ``, ErrTooLarge},
		{`1e99999999999999999999`, ``, ErrTooLarge},
		{`1e-20000`, ``, errNumeric},      // 20,000 digits after the point: over numeric's 16,383
		{`700.34e-21584`, ``, errNumeric}, // likewise
		{`0.` + strings.Repeat("1", 16384), ``, errNumeric},
		{`"a\u0000b"`, ``, errNUL},
		{`{"k":"\u0000"}`, ``, errNUL},
		{`"a\\u0000b"`, `"a\\u0000b"`, nil}, // an escaped backslash, then the text u0000
		{`"\ud83d\ude00"`, `"\ud83d\ude00"`, nil},
		{`"\ud83d"`, ``, errSurrogate},
		{`"\ude00"`, ``, errSurrogate},
		{`"\ud83dx"`, ``, errSurrogate},
		{"\"\xff\"", ``, errInvalidUTF},
	}
	for _, tc := range tests {
		got, err := storable([]byte(tc.in), 100_000)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("storable(%s) = %.40s (%d bytes), %v; want error %v", tc.in, got, len(got), err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("storable(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestSetRefusesWhatNoStoreKeeps(t *testing.T) {
	m, err := New(nopStore{}, Options{Secrets: []string{"a test secret of 32 bytes or more"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key string
		v   any
	}{
		{"nul\x00key", 1},
		{"bad\xffkey", 1},
		{"k", "nul\x00value"},
		{"k", json.RawMessage(`"\ud800"`)},
		{"k", json.RawMessage(`1e2000000`)}, // two million digits, over MaxDataBytes
		{"k", json.Number("-1e-2000000")},
	} {
		if _, err := m.encodeValue(tc.key, tc.v); err == nil {
			t.Errorf("encodeValue(%q, %.40v): no error", tc.key, tc.v)
		}
	}
	if b, err := m.encodeValue("k", "invalid \xff utf-8 in a Go string"); err != nil || !strings.Contains(string(b), `\ufffd`) {
		t.Errorf("a Go string with invalid UTF-8 = %s, %v; want it encoded with U+FFFD as encoding/json does", b, err)
	}
}

// nopStore is a Store that is never called.
type nopStore struct{ Store }
