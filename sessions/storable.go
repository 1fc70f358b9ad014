package sessions

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors for values no store can keep the same on Postgres and SQLite.
var (
	errNUL        = errors.New(`holds a NUL character (\u0000), which PostgreSQL cannot store`)
	errInvalidUTF = errors.New("is not valid UTF-8")
	errSurrogate  = errors.New("holds an unpaired UTF-16 surrogate escape, which PostgreSQL cannot store")
	errNumeric    = errors.New("is beyond what PostgreSQL's numeric keeps (131,072 digits before the decimal point, 16,383 after)")
)

// PostgreSQL's numeric, which jsonb stores numbers as, keeps at most this
// many digits before and after the decimal point.
const (
	maxWholeDigits    = 131072
	maxFractionDigits = 16383
)

// checkKey refuses a key no store can keep alike.
func checkKey(key string) error {
	switch {
	case !utf8.ValidString(key):
		return fmt.Errorf("key %w", errInvalidUTF)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("key %w", errNUL)
	}
	return nil
}

// storable checks a JSON value for what a store cannot keep (NUL, invalid
// UTF-8, unpaired surrogates) and returns it in the form every store keeps
// (numbers written with an exponent spelled out, as PostgreSQL's jsonb
// prints them), so the size Set checks is the size stored. A number whose
// spelled-out form would exceed limit bytes is refused.
func storable(v []byte, limit int) ([]byte, error) {
	if !utf8.Valid(v) {
		return nil, fmt.Errorf("value %w", errInvalidUTF)
	}
	var out []byte // nil until a number is rewritten
	last := 0
	for i := 0; i < len(v); {
		switch c := v[i]; {
		case c == '"':
			j, err := skipString(v, i)
			if err != nil {
				return nil, fmt.Errorf("value %w", err)
			}
			i = j
		case c == '-' || c >= '0' && c <= '9':
			j := i
			for j < len(v) && strings.IndexByte("+-.eE0123456789", v[j]) >= 0 {
				j++
			}
			tok := string(v[i:j])
			if strings.ContainsAny(tok, "eE") {
				plain, err := plainDecimal(tok, limit)
				if err != nil {
					return nil, err
				}
				out = append(append(out, v[last:i]...), plain...)
				last = j
			} else if err := checkNumeric(tok); err != nil {
				return nil, err
			}
			i = j
		default:
			i++
		}
	}
	if out == nil {
		return v, nil
	}
	return append(out, v[last:]...), nil
}

// skipString returns the index after the JSON string starting at v[i],
// refusing \u0000 and unpaired surrogate escapes.
func skipString(v []byte, i int) (int, error) {
	for j := i + 1; j < len(v); j++ {
		switch v[j] {
		case '"':
			return j + 1, nil
		case '\\':
			if j+5 < len(v) && v[j+1] == 'u' {
				r, _ := strconv.ParseUint(string(v[j+2:j+6]), 16, 32)
				switch {
				case r == 0:
					return 0, errNUL
				case r >= 0xDC00 && r <= 0xDFFF:
					return 0, errSurrogate
				case r >= 0xD800 && r <= 0xDBFF:
					if j+11 >= len(v) || v[j+6] != '\\' || v[j+7] != 'u' {
						return 0, errSurrogate
					}
					lo, _ := strconv.ParseUint(string(v[j+8:j+12]), 16, 32)
					if lo < 0xDC00 || lo > 0xDFFF {
						return 0, errSurrogate
					}
					j += 6
				}
				j += 4
			}
			j++
		}
	}
	return len(v), nil
}

// plainDecimal spells out a JSON number written with an exponent the way
// PostgreSQL's numeric prints it: 1e3 is 1000, 1.50e1 is 15.0, 1.5e-7 is
// 0.00000015.
func plainDecimal(tok string, limit int) (string, error) {
	mant, expText, _ := strings.Cut(strings.ToLower(tok), "e")
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	intDigits, fracDigits, _ := strings.Cut(mant, ".")
	exp, err := strconv.Atoi(strings.TrimPrefix(expText, "+"))
	point := len(intDigits) + exp
	if err != nil || point > limit || len(fracDigits)-exp > limit {
		return "", fmt.Errorf("number %.40s would be %w when stored written out", tok, ErrTooLarge)
	}
	if point > maxWholeDigits || len(fracDigits)-exp > maxFractionDigits {
		return "", fmt.Errorf("number %.40s %w", tok, errNumeric)
	}
	all := intDigits + fracDigits
	var whole, frac string
	switch {
	case point >= len(all):
		whole = all + strings.Repeat("0", point-len(all))
	case point <= 0:
		whole, frac = "0", strings.Repeat("0", -point)+all
	default:
		whole, frac = all[:point], all[point:]
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	if len(whole) > maxWholeDigits || len(frac) > maxFractionDigits {
		return "", fmt.Errorf("number %.40s %w", tok, errNumeric)
	}
	s := whole
	if frac != "" {
		s += "." + frac
	}
	if neg && strings.Trim(all, "0") != "" {
		s = "-" + s
	}
	return s, nil
}

// checkNumeric refuses a number written without an exponent that
// PostgreSQL's numeric cannot keep.
func checkNumeric(tok string) error {
	whole, frac, _ := strings.Cut(strings.TrimPrefix(tok, "-"), ".")
	if len(strings.TrimLeft(whole, "0")) > maxWholeDigits || len(frac) > maxFractionDigits {
		return fmt.Errorf("number %.40s %w", tok, errNumeric)
	}
	return nil
}
