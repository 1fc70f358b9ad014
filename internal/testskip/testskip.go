// Package testskip skips tests whose component is missing (a PostgreSQL
// server, PgBouncer, Node.js, …) and records what was skipped, so that
// `make test` can end with one line per untested group instead of a green
// run that silently never touched Postgres.
//
// The Makefile sets SQLSESSION_SKIP_REPORT to a file; each skip appends
// one line "group<TAB>reason" to it, and make prints a summary of the
// groups at the end. Without the variable nothing is recorded. When the
// group's "require" variable is 1 (CI sets SQLSESSION_REQUIRE_POSTGRES,
// …_PGBOUNCER, …_NODE), the test fails instead of skipping.
package testskip

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// EnvReport names the variable holding the file skips are recorded in.
const EnvReport = "SQLSESSION_SKIP_REPORT"

// The groups `make test` reports. Tests may use other names; each
// distinct name gets its own summary line.
const (
	Postgres  = "Postgres"
	PgBouncer = "PgBouncer"
	Node      = "Node"
)

// Skip fails t when the variable requireEnv is "1" (the component is
// required, as in CI), and otherwise records group and reason and skips
// t. requireEnv may be empty: then the test always skips.
func Skip(t testing.TB, group, requireEnv, reason string) {
	t.Helper()
	if requireEnv != "" && os.Getenv(requireEnv) == "1" {
		t.Fatalf("%s required (%s=1) but unavailable: %s", group, requireEnv, reason)
	}
	Record(group, reason)
	t.Skipf("%s unavailable: %s", group, reason)
}

// Record appends "group<TAB>reason" to the file named by
// SQLSESSION_SKIP_REPORT, if it is set. It is for callers that skip in
// their own way (benchmarks, helper processes); errors are ignored: the
// report is a courtesy, never a reason for a test to fail.
func Record(group, reason string) {
	path := os.Getenv(EnvReport)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	line := fmt.Sprintf("%s\t%s\n", oneLine(group), oneLine(reason))
	_, _ = f.WriteString(line) // one write of a short line: appends are not interleaved
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\t", " ")), " ")
}
