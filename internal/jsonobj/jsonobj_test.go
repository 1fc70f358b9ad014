package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// entries decodes b with Each into a map (last entry wins), as
// encoding/json decodes it into map[string]json.RawMessage.
func entries(b []byte) (map[string]string, error) {
	out := map[string]string{}
	err := Each(b, func(k []byte, escaped bool, v []byte) bool {
		out[Key(k, escaped)] = string(v)
		return true
	})
	return out, err
}

// agree checks Each and Lookup against encoding/json on b.
func agree(t *testing.T, b []byte) {
	t.Helper()
	var want map[string]json.RawMessage
	wantErr := json.Unmarshal(b, &want)
	isObject := wantErr == nil && want != nil
	got, err := entries(b)
	if (err == nil) != isObject {
		t.Fatalf("%q: Each error %v, encoding/json error %v (object %v)", b, err, wantErr, isObject)
	}
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) && !strings.Contains(err.Error(), "too deep") {
			t.Fatalf("%q: error %v is not a *SyntaxError", b, err)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d keys, encoding/json %d", b, len(got), len(want))
	}
	for k, v := range want {
		if got[k] != string(bytes.TrimSpace(v)) {
			t.Fatalf("%q: key %q = %q, encoding/json %q", b, k, got[k], v)
		}
		lv, ok, err := Lookup(b, k)
		if err != nil || !ok || string(lv) != got[k] {
			t.Fatalf("%q: Lookup(%q) = %q, %v, %v", b, k, lv, ok, err)
		}
	}
}

var corpus = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a": 1, "b": "x"}`, `{"a":1,"a":2}`,
	`{"cookie":{"originalMaxAge":86400000,"expires":"2026-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"user":"alice"}`,
	`{"a":[1,2,{"b":[]}],"c":{"d":null,"e":true,"f":false}}`,
	`{"\u0063ookie": 1, "k\"q": "v\\"}`, `{"n": -0.5e+10, "m": 0, "o": 1E3}`,
	`{"s": "\ud800", "t": "é", "u": "\/"}`,
	// invalid
	``, `[]`, `null`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1}x`, `{"a":01}`, `{"a":1.}`,
	`{"a":-}`, `{"a":tru}`, `{"a":"x}`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{a:1}`,
	`{"a":[1,]}`, `{"a":{"b":1,}}`, `{"a":1 "b":2}`, `{"a":.5}`, `{"a":1e}`, `{"a":[}`,
}

func TestAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range corpus {
		agree(t, []byte(c))
	}
}

func TestDeepNestingIsRefused(t *testing.T) {
	b := []byte(`{"a":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`)
	if err := Each(b, func([]byte, bool, []byte) bool { return true }); err == nil {
		t.Fatal("nesting deeper than maxDepth accepted")
	}
}

func TestEachStopsEarly(t *testing.T) {
	n := 0
	err := Each([]byte(`{"a":1,"b":2,"c":3}`), func([]byte, bool, []byte) bool { n++; return n < 2 })
	if err != nil || n != 2 {
		t.Fatalf("stopped after %d entries, err %v; want 2, nil", n, err)
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	b := []byte(`{"cookie":{"originalMaxAge":86400000,"path":"/"},"user":"alice","cart":[1,2,3]}`)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Lookup(b, "user") }); n != 0 {
		t.Fatalf("Lookup: %v allocs, want 0", n)
	}
}

func FuzzAgreesWithEncodingJSON(f *testing.F) {
	for _, c := range corpus {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { agree(t, b) })
}

// AppendObject writes what encoding/json decodes back to the same entries,
// and refuses an invalid value.
func TestAppendObject(t *testing.T) {
	m := map[string]json.RawMessage{
		"b": json.RawMessage(` {"x": [1, 2]} `), "a": json.RawMessage(`"<&>"`), "k\"\\\n\x01é\xff": json.RawMessage(`null`), "": json.RawMessage(`1`),
	}
	b, err := AppendObject(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]json.RawMessage
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if len(back) != len(m) || string(back["b"]) != `{"x": [1, 2]}` || string(back["a"]) != `"<&>"` || string(back["k\"\\\n\x01é\ufffd"]) != "null" {
		t.Errorf("round trip of %s = %q", b, back)
	}
	if _, err := AppendObject(nil, map[string]json.RawMessage{"bad": json.RawMessage(`{`)}); err == nil {
		t.Error("an invalid value was accepted")
	}
	if b, _ := AppendObject(nil, nil); string(b) != "{}" {
		t.Errorf("nil map = %s, want {}", b)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x1f", "é", "\xff", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		var a, b string
		if err := json.Unmarshal(AppendString(nil, s), &a); err != nil {
			t.Fatalf("%q: %v", AppendString(nil, s), err)
		}
		_ = json.Unmarshal(want, &b)
		if a != b {
			t.Fatalf("%q decodes to %q, encoding/json's to %q", s, a, b)
		}
	})
}

// plainRun stops at the first byte a string scan must look at, wherever
// it is in the word, and whatever plain or special bytes follow it.
func TestPlainRunFindsTheFirstSpecialByte(t *testing.T) {
	for _, special := range []byte{'"', '\\', 0x00, 0x1f, 0x80, 0xff} {
		for _, after := range []byte{'a', '"', 0x00, 0xff} {
			for pos := range 20 {
				b := bytes.Repeat([]byte{'a'}, 20)
				b[pos] = special
				for k := pos + 1; k < len(b); k += 3 {
					b[k] = after
				}
				if got := plainRun(b, 0); got != pos {
					t.Errorf("plainRun(%q) = %d, want %d", b, got, pos)
				}
			}
		}
	}
	for _, c := range []byte{' ', '!', '#', '[', ']', 0x7f} {
		if got := plainRun(bytes.Repeat([]byte{c}, 19), 0); got != 19 {
			t.Errorf("plainRun of only %q bytes = %d, want 19", c, got)
		}
	}
}
