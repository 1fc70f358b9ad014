// Package jsonobj reads the top-level entries of a JSON object without
// decoding it, and writes one from raw values (AppendObject): each entry's key and the text of its value, as sub-slices of
// the input, with no allocation unless a key has escapes. A session loaded
// from the store is read this way, so that a request that reads one value
// does not decode all of them.
//
// Every function validates the whole text as JSON (what json.Valid
// accepts, and an object at the top), so a value it returns is one
// json.Unmarshal accepts.
package jsonobj

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"unicode/utf8"
)

// maxDepth bounds nesting, as encoding/json does (10,000), so hostile text
// cannot exhaust the stack.
const maxDepth = 10000

// SyntaxError reports text that is not a JSON object.
type SyntaxError struct {
	Offset int    // where the text went wrong
	msg    string // what was expected there
}

// Error describes the problem and where it is.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON object at offset %d: %s", e.Offset, e.msg)
}

func syntax(i int, msg string) error { return &SyntaxError{Offset: i, msg: msg} }

// Each calls f with every top-level entry of the object b, in order: the
// key as written between its quotes and the value's JSON text. escaped
// says that the key has escapes or non-ASCII bytes (which encoding/json
// decodes, replacing invalid UTF-8): Key gives its decoded form. f returns false to stop
// early; otherwise the whole text is validated and a *SyntaxError
// returned for any fault, after f has seen the entries before it.
func Each(b []byte, f func(key []byte, escaped bool, value []byte) bool) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return syntax(i, "want '{'")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		k, escaped, next, err := scanString(b, i)
		if err != nil {
			return err
		}
		if i = skipSpace(b, next); i >= len(b) || b[i] != ':' {
			return syntax(i, "want ':' after a key")
		}
		start := skipSpace(b, i+1)
		end, err := skipValue(b, start, 1)
		if err != nil {
			return err
		}
		if !f(k, escaped, b[start:end]) {
			return nil
		}
		switch i = skipSpace(b, end); {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return trailing(b, i+1)
		default:
			return syntax(i, "want ',' or '}'")
		}
	}
}

// Lookup returns the value of key in the object b (the last entry of that
// key, as encoding/json decodes duplicates) and whether it is there.
func Lookup(b []byte, key string) (value []byte, found bool, err error) {
	err = Each(b, func(k []byte, escaped bool, v []byte) bool {
		if KeyIs(k, escaped, key) {
			value, found = v, true
		}
		return true
	})
	if err != nil {
		return nil, false, err
	}
	return value, found, nil
}

// KeyIs reports whether a key as Each gives it is key.
func KeyIs(k []byte, escaped bool, key string) bool {
	if !escaped {
		return string(k) == key
	}
	return Key(k, escaped) == key
}

// Key returns a key as Each gives it, its escapes decoded.
func Key(k []byte, escaped bool) string {
	if !escaped {
		return string(k)
	}
	var s string
	q := make([]byte, 0, len(k)+2)
	q = append(append(append(q, '"'), k...), '"')
	if json.Unmarshal(q, &s) != nil {
		return string(k) // Each validated it: not reached
	}
	return s
}

// trailing accepts only white space after the object.
func trailing(b []byte, i int) error {
	if i = skipSpace(b, i); i != len(b) {
		return syntax(i, "text after the object")
	}
	return nil
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, syntax(i, "want a value")
	}
	switch c := b[i]; {
	case c == '"':
		_, _, next, err := scanString(b, i)
		return next, err
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return i, errors.New("jsonobj: nesting too deep")
		}
		return skipContainer(b, i, depth+1)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || '0' <= c && c <= '9':
		return number(b, i)
	}
	return i, syntax(i, "want a value")
}

// skipContainer returns the index after the object or array at b[i].
func skipContainer(b []byte, i, depth int) (int, error) {
	obj := b[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		if obj {
			_, _, next, err := scanString(b, i)
			if err != nil {
				return i, err
			}
			if i = skipSpace(b, next); i >= len(b) || b[i] != ':' {
				return i, syntax(i, "want ':' after a key")
			}
			i = skipSpace(b, i+1)
		}
		end, err := skipValue(b, i, depth)
		if err != nil {
			return i, err
		}
		switch i = skipSpace(b, end); {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == closer:
			return i + 1, nil
		default:
			return i, syntax(i, "want ',' or a closing bracket")
		}
	}
}

// scanString returns the contents of the string at b[i] (between its
// quotes), whether it has escapes or non-ASCII bytes, and the index after
// it.
func scanString(b []byte, i int) (s []byte, escaped bool, next int, err error) {
	if i >= len(b) || b[i] != '"' {
		return nil, false, i, syntax(i, "want a string")
	}
	for j := plainRun(b, i+1); j < len(b); j = plainRun(b, j) {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], escaped, j + 1, nil
		case c < 0x20:
			return nil, false, j, syntax(j, "control character in a string")
		case c >= 0x80:
			escaped, j = true, j+1
		case c == '\\':
			n, err := escape(b, j)
			if err != nil {
				return nil, false, j, err
			}
			escaped, j = true, j+n
		}
	}
	return nil, false, len(b), syntax(len(b), "unterminated string")
}

// Masks of every byte of a word: its lowest and its highest bit.
const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// plainRun returns the index of the first byte from b[j] on that a string
// scan must look at (a quote, a backslash, a control character or a
// non-ASCII byte), or len(b): it reads 8 bytes at a time. In a word w, a
// byte of w^'"' or w^'\\' is zero, or a byte of w is under 0x20, exactly
// where a subtraction sets a byte's high bit without a borrow; a borrow
// sets high bits only above such a byte, so the lowest high bit set names
// the first one.
func plainRun(b []byte, j int) int {
	for ; j+8 <= len(b); j += 8 {
		w := binary.LittleEndian.Uint64(b[j:])
		q, bs := w^(lowBits*'"'), w^(lowBits*'\\')
		if m := ((q-lowBits)&^q | (bs-lowBits)&^bs | (w - lowBits*0x20) | w) & highBits; m != 0 {
			return j + bits.TrailingZeros64(m)/8
		}
	}
	for ; j < len(b); j++ {
		if c := b[j]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return j
		}
	}
	return j
}

// escape returns the length of the escape sequence at b[j] ('\\').
func escape(b []byte, j int) (int, error) {
	if j+1 >= len(b) {
		return 0, syntax(j, "unterminated escape")
	}
	switch b[j+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		if j+6 > len(b) {
			return 0, syntax(j, "short \\u escape")
		}
		for _, h := range b[j+2 : j+6] {
			if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
				return 0, syntax(j, "bad \\u escape")
			}
		}
		return 6, nil
	}
	return 0, syntax(j, "bad escape")
}

func literal(b []byte, i int, lit string) (int, error) {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return i, syntax(i, "want "+lit)
	}
	return i + len(lit), nil
}

// number returns the index after the JSON number at b[i].
func number(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, syntax(start, "bad number")
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(b, i+1); j > i+1 {
			i = j
		} else {
			return i, syntax(start, "bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return i, syntax(start, "bad number")
		}
		i = j
	}
	return i, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// ValidValue reports whether b is one JSON value (of any kind), with
// nothing but white space around it: what json.Valid reports.
func ValidValue(b []byte) bool {
	i := skipSpace(b, 0)
	end, err := skipValue(b, i, 0)
	return err == nil && skipSpace(b, end) == len(b)
}

// AppendObject appends the JSON object of the entries of m, keys sorted
// (as encoding/json writes a map) and escaped as JSON strings, values
// copied as they are with surrounding white space trimmed. It returns an
// error, appending nothing, when a value is not valid JSON.
func AppendObject(dst []byte, m map[string]json.RawMessage) ([]byte, error) {
	var small [8]string // a session's few keys sort without an allocation
	keys := small[:0]
	n := 2
	for k, v := range m {
		if !ValidValue(v) {
			return dst, fmt.Errorf("jsonobj: the value of %q is not valid JSON", k)
		}
		keys = append(keys, k)
		n += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	dst = slices.Grow(dst, n)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, k)
		dst = append(dst, ':')
		dst = append(dst, bytes.TrimSpace(m[k])...)
	}
	return append(dst, '}'), nil
}

// AppendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, and invalid UTF-8 replaced by U+FFFD, as
// encoding/json does (without its HTML escaping, which changes no value).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(append(dst, s[start:i]...), escapeASCII(c)...)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(dst, s[start:]...), '"')
}

// escapeASCII is the JSON escape of an ASCII character that needs one.
func escapeASCII(c byte) string {
	switch c {
	case '"':
		return `\"`
	case '\\':
		return `\\`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	const hex = "0123456789abcdef"
	return string([]byte{'\\', 'u', '0', '0', hex[c>>4], hex[c&0xf]})
}
