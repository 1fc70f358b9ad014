package pgstore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// sessionstore.TextSize, the measure SQLite and memstore enforce MaxBytes
// with, is what Postgres enforces: octet_length(data::text).
func TestTextSizeIsPostgresSize(t *testing.T) {
	e := pgtest.New(t)
	docs := []any{
		map[string]any{},
		map[string]any{"a": 1, "b": []any{1, 2.5, map[string]any{"c": nil}}, "d": "x, y: z"},
		map[string]any{"quote\"key": "back\\slash\n\ttab", "ünï": "ç∂ß", "e": []any{}, "f": map[string]any{}},
		map[string]any{"cart": []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, "flag": true, "n": -12.75},
		map[string]any{"big": strings.Repeat("x", 5000), "list": strings.Split(strings.Repeat("a,", 300), ",")},
	}
	for _, d := range docs {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var pg int
		if err := e.Pool.QueryRow(context.Background(), `SELECT octet_length($1::jsonb::text)`, string(b)).Scan(&pg); err != nil {
			t.Fatal(err)
		}
		if got := sessionstore.TextSize(b); got != pg {
			t.Errorf("TextSize(%.80s…) = %d, Postgres says %d", b, got, pg)
		}
	}
}
