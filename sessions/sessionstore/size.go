package sessionstore

// TextSize returns the length of the JSON text b as PostgreSQL's jsonb
// prints it: without insignificant whitespace, with one space after each
// ',' and ':' that separates elements ({"a": 1, "b": [1, 2]}). It is the
// measure of Record.MaxBytes and Change.MaxBytes on every bundled store, so
// that one limit means the same on Postgres (octet_length(data::text)) and
// on SQLite and memstore, which keep compact JSON. Strings count as
// written (escapes included).
func TextSize(b []byte) int {
	n := 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			n++
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case c == ',' || c == ':':
			n += 2
		default:
			n++
			inString = c == '"'
		}
	}
	return n
}
