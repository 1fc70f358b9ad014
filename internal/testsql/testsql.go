// Package testsql holds small database/sql helpers shared by the tests of
// several modules of this repository.
package testsql

import (
	"database/sql"
	"testing"
)

// Strings runs q and returns its one text column, failing t on any error.
func Strings(t testing.TB, conn *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
