package sessions

import (
	"encoding/json"
	"maps"
	"math"
	"reflect"

	"github.com/sqlsession/sqlsession/internal/jsonobj"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// values are a session's values, without the reserved cookieKey and
// metaKey entries. As loaded they are the stored JSON object's text, read
// key by key (Get finds one value without decoding the others); the first
// use that needs them all (a Set, a save, a comparison of changed values)
// decodes them once into a map, shared by every snap of the same load.
// A map, once shared between values, is never written again
// (Session.write copies it first), so values are copied as plain values.
type values struct {
	m   map[string]json.RawMessage // decoded; nil while lazy (then doc is set) or empty
	doc *storedDoc                 // the loaded text; nil once decoded at load or for a new session
}

// storedDoc is a loaded session's JSON object text, validated, and its
// entries once decoded.
type storedDoc struct {
	text    []byte
	decoded map[string]json.RawMessage // nil until all is needed; never written after

	// The offsets of the first maxIndexed values, noted by the load's
	// validating pass, so that Get does not scan the text again; a
	// session with more values is searched with jsonobj.Lookup.
	index   [maxIndexed]docEntry
	entries int // how many values the text has (index holds the first maxIndexed)
}

// maxIndexed is how many values a load notes the place of.
const maxIndexed = 8

// docEntry is where one value's key and text are in storedDoc.text.
type docEntry struct {
	keyStart, keyEnd, valueStart, valueEnd int32
	escaped                                bool // the key has escapes or non-ASCII bytes
}

// note records the place of a value (not a reserved entry) in the text;
// key and value are sub-slices of it.
func (d *storedDoc) note(key []byte, escaped bool, value []byte) {
	if d.entries < maxIndexed && len(d.text) <= math.MaxInt32 {
		k, v := offset(d.text, key), offset(d.text, value)
		d.index[d.entries] = docEntry{int32(k), int32(k + len(key)), int32(v), int32(v + len(value)), escaped}
	}
	d.entries++
}

// offset returns where sub, a sub-slice of text, starts in it.
func offset(text, sub []byte) int {
	return cap(text) - cap(sub)
}

// indexed reports whether index holds the place of every value.
func (d *storedDoc) indexed() bool {
	return d.entries <= maxIndexed && len(d.text) <= math.MaxInt32
}

// entry returns the key (as Each gives it) and the value of index[i].
func (d *storedDoc) entry(i int) (key []byte, escaped bool, value json.RawMessage) {
	e := &d.index[i]
	return d.text[e.keyStart:e.keyEnd], e.escaped, d.text[e.valueStart:e.valueEnd:e.valueEnd]
}

// lookup returns the value of key (the last entry of it, as
// encoding/json decodes duplicates).
func (d *storedDoc) lookup(key string) (json.RawMessage, bool) {
	if !d.indexed() {
		x, ok, _ := jsonobj.Lookup(d.text, key) // validated at load: no error
		return x, ok
	}
	for i := d.entries - 1; i >= 0; i-- {
		if k, escaped, v := d.entry(i); jsonobj.KeyIs(k, escaped, key) {
			return v, true
		}
	}
	return nil, false
}

// mapValues returns values holding m.
func mapValues(m map[string]json.RawMessage) values { return values{m: m} }

// get returns the value of key.
func (v values) get(key string) (json.RawMessage, bool) {
	if v.doc == nil || v.doc.decoded != nil {
		x, ok := v.all()[key]
		return x, ok
	}
	if key == cookieKey || key == metaKey {
		return nil, false
	}
	return v.doc.lookup(key)
}

// all returns the values as a map, which the caller must not write.
func (v values) all() map[string]json.RawMessage {
	if v.m != nil || v.doc == nil {
		return v.m
	}
	if v.doc.decoded == nil {
		v.doc.decoded = v.doc.decode()
	}
	return v.doc.decoded
}

// decode returns the entries of the text but the reserved ones: from the
// index when it holds them all, else from another pass over the text.
func (d *storedDoc) decode() map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, d.entries)
	if d.indexed() {
		for i := range d.entries {
			k, escaped, v := d.entry(i)
			m[jsonobj.Key(k, escaped)] = v // in order: the last of duplicates wins
		}
		return m
	}
	_ = jsonobj.Each(d.text, func(k []byte, escaped bool, x []byte) bool { // validated at load
		if key := jsonobj.Key(k, escaped); key != cookieKey && key != metaKey {
			m[key] = x
		}
		return true
	})
	return m
}

// len returns the number of values.
func (v values) len() int { return len(v.all()) }

// equalValues compares two sets of values: the same load or map, or the
// same keys with the same JSON (byte for byte, or equal once decoded,
// since a database such as Postgres's jsonb re-orders and re-spaces what
// it stores).
func equalValues(a, b values) bool {
	if a.doc != nil && a.doc == b.doc && a.m == nil && b.m == nil {
		return true
	}
	am, bm := a.all(), b.all()
	if len(am) != len(bm) {
		return false
	}
	if len(am) == 0 || reflect.ValueOf(am).UnsafePointer() == reflect.ValueOf(bm).UnsafePointer() {
		return true
	}
	for k, x := range am {
		y, ok := bm[k]
		if !ok || !sameJSON(x, y) {
			return false
		}
	}
	return true
}

// cloneValues returns a private copy of v's map, for writing.
func cloneValues(v values) map[string]json.RawMessage {
	m := v.all()
	if m == nil {
		return map[string]json.RawMessage{}
	}
	return maps.Clone(m)
}

// size returns the size of the values (sessionstore.Size).
func (v values) size() int { return sessionstore.Size(v.all()) }
