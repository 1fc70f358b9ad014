package sessions

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// A loaded session's Get finds what encoding/json would decode, whether
// the load noted the value's place or the session has too many values for
// that: duplicates (the last wins), escaped keys, the reserved entries.
func TestLoadedValuesGetAsDecoded(t *testing.T) {
	many := make([]string, 0, maxIndexed+3)
	for i := range maxIndexed + 3 {
		many = append(many, fmt.Sprintf(`"k%d": %d`, i, i))
	}
	docs := []string{
		`{}`,
		`{"user": "alice", "cookie": {"originalMaxAge": 1000}, "$sqlsession": {}}`,
		`{"a": 1, "a": 2, "b": "x", "a": 3}`,
		`{"caf\u00e9": "escaped", "café": "plain", "\u0075ser": "bob"}`,
		`{"cookie": 1, "cookie": {"path": "/"}, "k": [1, {"x": "y"}]}`,
		"{" + strings.Join(many, ", ") + "}",
		"{" + strings.Join(many, ", ") + `, "k0": "last"}`,
	}
	keys := []string{"user", "a", "b", "café", "k", "k0", "k1", "k7", "k8", "k10", "cookie", "$sqlsession", "missing"}
	for _, doc := range docs {
		var s Session
		cur, _, err := snapOf(sessionstore.Record{JSON: []byte(doc)}, &CookieOptions{}, &s.doc)
		if err != nil {
			t.Fatalf("snapOf(%s): %v", doc, err)
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatal(err)
		}
		delete(want, cookieKey)
		delete(want, metaKey)
		for _, k := range keys {
			got, ok := cur.values.get(k)
			w, wok := want[k]
			if ok != wok || string(got) != string(w) {
				t.Errorf("in %s, get(%q) = %s, %v; encoding/json has %s, %v", doc, k, got, ok, w, wok)
			}
		}
		if n := cur.values.len(); n != len(want) {
			t.Errorf("in %s, %d values; encoding/json has %d", doc, n, len(want))
		}
	}
}
