package sessionstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
)

// ErrNilValue is returned by Store.SwapValue when new is nil: a swap
// stores a value; it never deletes the key.
var ErrNilValue = errors.New("swap value: new value is nil")

// SameJSON reports whether two JSON texts are equal byte for byte or
// decode to the same value (numbers compared as written, objects whatever
// their key order and spacing): the comparison of Store.SwapValue on
// stores that keep JSON as text. A nil text equals only nil (an absent
// key).
func SameJSON(x, y json.RawMessage) bool {
	if x == nil || y == nil {
		return x == nil && y == nil
	}
	if bytes.Equal(x, y) {
		return true
	}
	if !mayBeReformatted(x) && !mayBeReformatted(y) {
		return false // two scalars without escapes: different bytes, different values
	}
	vx, errx := decodeAny(x)
	vy, erry := decodeAny(y)
	return errx == nil && erry == nil && reflect.DeepEqual(vx, vy)
}

// mayBeReformatted reports whether JSON text could be written differently
// for the same value: an object or array (key order, spacing) or a string
// with escapes. Other scalars (numbers as written, true, false, null, plain
// strings) equal only what is byte for byte the same.
func mayBeReformatted(b json.RawMessage) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[' || b[0] == '"' && bytes.IndexByte(b, '\\') >= 0)
}

func decodeAny(b json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}
