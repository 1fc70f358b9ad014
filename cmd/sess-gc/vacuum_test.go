package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgtest"
)

// -vacuum gives the space of reaped rows back: the SQLite file shrinks.
func TestVacuumSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	seedSQLiteBig(t, path, 50_000, 100)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	r := runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-once")
	if r.code != 0 || strings.Contains(r.stdout, "vacuumed") || size() < before {
		t.Fatalf("without -vacuum: exit %d %q, file %d -> %d bytes", r.code, r.stdout, before, size())
	}
	seedSQLiteBig(t, path, 50_000, 0)
	before = size()
	r = runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-once", "-vacuum")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "deleted=50000 ") || !strings.HasSuffix(r.stdout, " vacuumed=true\n") {
		t.Fatalf("-vacuum: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if after := size(); after > before/4 {
		t.Errorf("-vacuum: file %d -> %d bytes, want it to shrink to the live rows", before, after)
	}
}

// On Postgres -vacuum runs a plain VACUUM of the table after reaping (and
// never with -dry-run).
func TestVacuumPostgres(t *testing.T) {
	e := pgtest.Migrated(t)
	if _, err := e.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT sha256(i::text::bytea), '{}', now() - interval '1 hour', now() - interval '2 hours' FROM generate_series(1, 500) i`); err != nil {
		t.Fatal(err)
	}
	r := runGC(t, nil, "-driver", "postgres", "-dsn", e.DSN, "-dry-run", "-vacuum")
	if r.code != 0 || strings.Contains(r.stdout, "vacuumed") {
		t.Errorf("-dry-run -vacuum: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runGC(t, nil, "-driver", "postgres", "-dsn", e.DSN, "-once", "-vacuum", "-json")
	if r.code != 0 || !strings.Contains(r.stdout, `"deleted":500`) || !strings.Contains(r.stdout, `"vacuumed":true`) {
		t.Fatalf("-vacuum: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	var vacuumed bool
	if err := e.DB.QueryRow(`SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relid = '` + db.TableName + `'::regclass`).Scan(&vacuumed); err != nil || !vacuumed {
		t.Errorf("pg_stat_user_tables.last_vacuum not set after -vacuum (err %v)", err)
	}
}

// Without -batch, sess-gc deletes 250 rows per statement on SQLite (other
// processes' writes wait for one batch) and 1,000 on Postgres.
func TestDefaultBatchPerDriver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	seedSQLiteBig(t, path, 600, 10)
	r := runGC(t, nil, "-driver", "sqlite", "-dsn", path)
	if d, b := parseDeleted(t, r.stdout); d != 600 || b != 3 {
		t.Errorf("sqlite: deleted=%d batches=%d, want 600 in 3 batches of 250", d, b)
	}
	e := pgtest.Migrated(t)
	if _, err := e.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT sha256(i::text::bytea), '{}', now() - interval '1 hour', now() - interval '2 hours' FROM generate_series(1, 1500) i`); err != nil {
		t.Fatal(err)
	}
	r = runGC(t, nil, "-driver", "postgres", "-dsn", e.DSN)
	if d, b := parseDeleted(t, r.stdout); d != 1500 || b != 2 {
		t.Errorf("postgres: deleted=%d batches=%d, want 1500 in 2 batches of 1000", d, b)
	}
}
