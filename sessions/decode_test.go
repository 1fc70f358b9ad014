package sessions

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeCases are values a session may hold, and some that are not JSON
// at all (decodeValue must then fail as json.Unmarshal does, never succeed).
var decodeCases = []string{
	`"alice"`, `""`, `"a\"b"`, `"caf\u00e9"`, `"café"`, "\"\xff\"", `"tab	in"`, `"<>&"`,
	`0`, `-0`, `7`, `-42`, `007`, `-`, `1.5`, `1e3`, `9223372036854775807`, `9223372036854775808`,
	`-9223372036854775808`, `99999999999999999999`, `true`, `false`, `null`, `[1]`, `{"a":1}`,
	` "padded" `, `"unterminated`, `tru`, ``,
}

// TestDecodeValueMatchesEncodingJSON: for each target the fast path
// serves, decodeValue leaves the same value and fails alike.
func TestDecodeValueMatchesEncodingJSON(t *testing.T) {
	for _, in := range decodeCases {
		for _, newDst := range []func() any{
			func() any { s := "before"; return &s },
			func() any { n := 5; return &n },
			func() any { n := int64(5); return &n },
			func() any { b := true; return &b },
			func() any { var f float64; return &f },
		} {
			want, got := newDst(), newDst()
			wantErr := json.Unmarshal([]byte(in), want)
			gotErr := decodeValue([]byte(in), got)
			if (wantErr == nil) != (gotErr == nil) || !reflect.DeepEqual(want, got) {
				t.Errorf("decodeValue(%q) into %T: got %v, %v; encoding/json gives %v, %v",
					in, got, reflect.ValueOf(got).Elem(), gotErr, reflect.ValueOf(want).Elem(), wantErr)
			}
		}
	}
	var nilString *string
	if err := decodeValue([]byte(`"x"`), nilString); err == nil {
		t.Error("decodeValue into a nil *string: no error")
	}
}

// FuzzDecodeValue compares decodeValue with json.Unmarshal on any text.
func FuzzDecodeValue(f *testing.F) {
	for _, in := range decodeCases {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s1, s2 string
		var i1, i2 int
		var b1, b2 bool
		e1, e2 := json.Unmarshal([]byte(in), &s1), decodeValue([]byte(in), &s2)
		if (e1 == nil) != (e2 == nil) || s1 != s2 {
			t.Fatalf("string %q: %q %v vs %q %v", in, s1, e1, s2, e2)
		}
		e1, e2 = json.Unmarshal([]byte(in), &i1), decodeValue([]byte(in), &i2)
		if (e1 == nil) != (e2 == nil) || i1 != i2 {
			t.Fatalf("int %q: %d %v vs %d %v", in, i1, e1, i2, e2)
		}
		e1, e2 = json.Unmarshal([]byte(in), &b1), decodeValue([]byte(in), &b2)
		if (e1 == nil) != (e2 == nil) || b1 != b2 {
			t.Fatalf("bool %q: %v %v vs %v %v", in, b1, e1, b2, e2)
		}
	})
}

// encodeSimple writes what json.Marshal writes, and only values every store
// keeps as they are.
func TestEncodeSimpleMatchesEncodingJSON(t *testing.T) {
	for _, v := range []any{"alice", "", "a b~", "<script>", "a&b", `q"`, `b\\`, "tab\t", "\x7f", "café", "\xff",
		0, -1, 42, int64(-9223372036854775808), int(9223372036854775807), true, false, 1.5, int32(7), nil, []int{1}} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := encodeSimple(v)
		if ok && string(got) != string(want) {
			t.Errorf("encodeSimple(%#v) = %s, json.Marshal gives %s", v, got, want)
		}
		if ok {
			if kept, err := storable(got, 1<<20); err != nil || string(kept) != string(got) {
				t.Errorf("encodeSimple(%#v) = %s, which a store changes (%s) or refuses (%v)", v, got, kept, err)
			}
		}
	}
	for _, v := range []any{"alice", 42, int64(-7), true} {
		if _, ok := encodeSimple(v); !ok {
			t.Errorf("encodeSimple(%#v) leaves it to encoding/json", v)
		}
	}
}
