package testpg_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/internal/testskip"
)

func TestMigratedSchemaIsPrivate(t *testing.T) {
	a, b := testpg.Migrated(t), testpg.Migrated(t)
	if a.Schema == b.Schema {
		t.Fatal("two tests share a schema")
	}
	if _, err := a.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at) VALUES (sha256('x'), '{}', now(), now())`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.DB.QueryRow(`SELECT count(*) FROM http_sessions`).Scan(&n); err != nil || n != 0 {
		t.Errorf("schema b sees %d rows of schema a (%v)", n, err)
	}
}

// Without a DSN or Docker, the tests skip with one line, or fail when
// Postgres is required. Runs this package's own test in a child process.
func TestNoServerSkipsOrFails(t *testing.T) {
	if os.Getenv("TESTPG_CHILD") == "1" {
		testpg.ServerDSN(t)
		return
	}
	if _, err := os.Stat("/var/run/docker.sock"); err == nil || os.Getenv("DOCKER_HOST") != "" {
		t.Skip("a Docker engine may answer here; this test checks the no-Docker path")
	}
	run := func(require string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoServerSkipsOrFails$", "-test.v")
		// The child's skip is expected: it must not reach make test's report.
		cmd.Env = append(os.Environ(), "TESTPG_CHILD=1", pgtest.EnvDSN+"=", pgtest.EnvRequire+"="+require, testskip.EnvReport+"=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("")
	if err != nil || !strings.Contains(out, "--- SKIP") || !strings.Contains(out, "Postgres unavailable: no Docker engine") {
		t.Errorf("without SQLSESSION_REQUIRE_POSTGRES: err %v, output:\n%s", err, out)
	}
	out, err = run("1")
	if err == nil || !strings.Contains(out, "--- FAIL") || !strings.Contains(out, "Postgres required") {
		t.Errorf("with SQLSESSION_REQUIRE_POSTGRES=1: err %v, output:\n%s", err, out)
	}
}
