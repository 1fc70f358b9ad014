package sessions

import (
	"encoding/json"
	"strconv"
)

// encodeSimple returns the JSON of v, exactly as json.Marshal writes it,
// when v is a string of printable ASCII that needs no escape (json.Marshal
// escapes <, > and & too), an int, an int64 or a bool: the values most
// sessions hold, which every store keeps as they are (see storable).
func encodeSimple(v any) (json.RawMessage, bool) {
	switch x := v.(type) {
	case string:
		if !marshalsAsIs(x) {
			return nil, false
		}
		b := make([]byte, 0, len(x)+2)
		return append(append(append(b, '"'), x...), '"'), true
	case int:
		return strconv.AppendInt(nil, int64(x), 10), true
	case int64:
		return strconv.AppendInt(nil, x, 10), true
	case bool:
		return strconv.AppendBool(nil, x), true
	}
	return nil, false
}

// marshalsAsIs reports whether json.Marshal writes s as it is between
// quotes: every byte printable ASCII that neither JSON nor json.Marshal's
// HTML escaping escapes.
func marshalsAsIs(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// decodeValue JSON-decodes a stored value (valid JSON) into dst, as
// json.Unmarshal does. The common cases of a session read, a plain ASCII
// string, an integer or a boolean into a *string, *int, *int64 or *bool,
// are read directly: json.Unmarshal would validate the text again and
// allocate its decoder state. Anything else, and any value such a target
// would reject, goes to json.Unmarshal, so errors are its own.
func decodeValue(v []byte, dst any) error {
	if decodeSimple(v, dst) {
		return nil
	}
	return json.Unmarshal(v, dst)
}

// decodeSimple stores v in dst and reports true when dst is one of the
// simple targets and v a value it takes without conversion.
func decodeSimple(v []byte, dst any) bool {
	switch d := dst.(type) {
	case *string:
		if s, ok := plainString(v); ok && d != nil {
			*d = s
			return true
		}
	case *int:
		if n, ok := plainInt(v, strconv.IntSize); ok && d != nil {
			*d = int(n)
			return true
		}
	case *int64:
		if n, ok := plainInt(v, 64); ok && d != nil {
			*d = n
			return true
		}
	case *bool:
		if d != nil && (string(v) == "true" || string(v) == "false") {
			*d = string(v) == "true"
			return true
		}
	}
	return false
}

// plainString returns the JSON string v's value when it has no escapes
// and only printable ASCII (what it decodes to is then its own text).
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	body := v[1 : len(v)-1]
	for _, c := range body {
		if c < 0x20 || c >= 0x80 || c == '\\' || c == '"' {
			return "", false
		}
	}
	return string(body), true
}

// plainInt returns the JSON number v as an integer of bits bits, when it
// is written as one (digits, perhaps a minus sign) and fits.
func plainInt(v []byte, bits int) (int64, bool) {
	if len(v) == 0 || len(v) > 20 {
		return 0, false
	}
	digits := v
	if v[0] == '-' {
		digits = v[1:]
	}
	if len(digits) == 0 || digits[0] == '0' && len(digits) > 1 {
		return 0, false // not JSON, or a leading zero JSON refuses
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, bits)
	return n, err == nil
}
