package main

import (
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/internal/pgtest"
)

// A Postgres schema without the table: the O(1) probe reports it with the
// fix, and sess-gc exits 1.
func TestPostgresMissingTable(t *testing.T) {
	e := pgtest.New(t)
	r := runGC(t, nil, "-driver", "postgres", "-dsn", e.DSN, "-once")
	if r.code != exitFailure || !strings.Contains(r.stderr, "table http_sessions not found: create it with sess-gc -migrate") {
		t.Errorf("no table: exit %d, stderr %q", r.code, r.stderr)
	}
}
