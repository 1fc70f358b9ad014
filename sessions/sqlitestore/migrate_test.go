package sqlitestore_test

// The SQLite half of db's migration tests lives here, in the module that
// may depend on a SQLite driver, so that the root module (and every
// Postgres service that imports it) never downloads one.

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/testsql"
)

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestMigrateSQLite(t *testing.T) {
	conn := openSQLite(t)
	ctx := context.Background()
	if _, err := conn.Exec(`CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL);
		INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1), (7, 1)`); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := db.Migrate(ctx, conn, db.SQLite); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	assertSQLiteSchema(t, conn)
	if got := testsql.Strings(t, conn, `SELECT CAST(count(*) AS TEXT) FROM goose_db_version`); got[0] != "2" {
		t.Errorf("application's goose_db_version has %s rows, want 2", got[0])
	}
	if got := testsql.Strings(t, conn, `SELECT CAST(count(*) AS TEXT) FROM sqlsession_goose_version WHERE version_id = 1`); got[0] != "1" {
		t.Errorf("sqlsession_goose_version records version 1 %s times, want once", got[0])
	}
	if err := db.MigrateReset(ctx, conn, db.SQLite); err != nil {
		t.Fatalf("MigrateReset: %v", err)
	}
	if got := testsql.Strings(t, conn, `SELECT name FROM sqlite_master WHERE name LIKE 'http_sessions%'`); len(got) != 0 {
		t.Fatalf("after down, still present: %v", got)
	}
	if err := db.Migrate(ctx, conn, db.SQLite); err != nil {
		t.Fatalf("Migrate after down: %v", err)
	}
	assertSQLiteSchema(t, conn)
}

// MigrateReport says what it applied; MigrateDownTo rolls back only the
// versions above its argument and keeps the table and its rows; only
// MigrateReset (or MigrateDownTo 0) drops the table.
func TestMigrateReportAndDownTo(t *testing.T) {
	conn := openSQLite(t)
	ctx := context.Background()
	rep, err := db.MigrateReport(ctx, conn, db.SQLite)
	if err != nil || fmt.Sprint(rep.Applied) != "[1 2 3 4]" || len(rep.RolledBack) != 0 || rep.Version != 4 {
		t.Fatalf("MigrateReport on an empty database = %+v, %v; want [1 2 3 4] applied, at 4", rep, err)
	}
	if rep, err = db.MigrateReport(ctx, conn, db.SQLite); err != nil || len(rep.Applied) != 0 || rep.Version != 4 {
		t.Fatalf("MigrateReport when up to date = %+v, %v; want nothing applied, at 4", rep, err)
	}
	if _, err := conn.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at) VALUES (randomblob(32), '{}', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	if rep, err = db.MigrateDownTo(ctx, conn, db.SQLite, 2); err != nil || fmt.Sprint(rep.RolledBack) != "[4 3]" || len(rep.Applied) != 0 || rep.Version != 2 {
		t.Fatalf("MigrateDownTo(2) = %+v, %v; want [4 3] rolled back, at 2", rep, err)
	}
	if got := testsql.Strings(t, conn, `SELECT CAST(count(*) AS TEXT) FROM http_sessions`); got[0] != "1" {
		t.Fatalf("after MigrateDownTo(2), http_sessions has %s rows, want the 1 it had", got[0])
	}
	if rep, err = db.MigrateDownTo(ctx, conn, db.SQLite, 3); err != nil || len(rep.RolledBack)+len(rep.Applied) != 0 || rep.Version != 2 {
		t.Fatalf("MigrateDownTo(3) at version 2 = %+v, %v; want no change (it never applies)", rep, err)
	}
	if _, err := db.MigrateDownTo(ctx, conn, db.SQLite, -1); err == nil || !strings.Contains(err.Error(), "version must be 0 or more") {
		t.Fatalf("MigrateDownTo(-1) error = %v, want a clear refusal", err)
	}
	if err := db.MigrateTo(ctx, conn, db.SQLite, -1); err == nil {
		t.Fatal("MigrateTo(-1) succeeded, want an error")
	}
	if rep, err = db.MigrateDownTo(ctx, conn, db.SQLite, 0); err != nil || fmt.Sprint(rep.RolledBack) != "[2 1]" || rep.Version != 0 {
		t.Fatalf("MigrateDownTo(0) = %+v, %v; want [2 1] rolled back, at 0", rep, err)
	}
	if got := testsql.Strings(t, conn, `SELECT name FROM sqlite_master WHERE name = 'http_sessions'`); len(got) != 0 {
		t.Fatal("http_sessions still exists after MigrateDownTo(0)")
	}
}

func assertSQLiteSchema(t *testing.T, conn *sql.DB) {
	t.Helper()
	want := map[string]string{
		"id_hash":    "BLOB notnull=1 pk=1",
		"data":       "TEXT notnull=1 pk=0",
		"expires_at": "INTEGER notnull=1 pk=0",
		"created_at": "INTEGER notnull=1 pk=0",
		"user_id":    "TEXT notnull=0 pk=0",
		// 00003: the device a session was last seen on (RecordDevice).
		"last_seen_at": "INTEGER notnull=0 pk=0",
		"ip":           "TEXT notnull=0 pk=0",
		"user_agent":   "TEXT notnull=0 pk=0",
	}
	cols := testsql.Strings(t, conn, `SELECT name || ' ' || type || ' notnull=' || "notnull" || ' pk=' || pk FROM pragma_table_info('http_sessions')`)
	if len(cols) != len(want) {
		t.Fatalf("columns = %v", cols)
	}
	for _, c := range cols {
		name, rest, _ := strings.Cut(c, " ")
		if want[name] != rest {
			t.Errorf("column %s: got %q, want %q", name, rest, want[name])
		}
	}
	idx := strings.Join(testsql.Strings(t, conn, `SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'http_sessions' AND sql IS NOT NULL ORDER BY name`), "\n")
	if !strings.Contains(idx, "http_sessions_expires_at_idx ON http_sessions (expires_at)") {
		t.Errorf("expires_at index missing:\n%s", idx)
	}
	if !strings.Contains(idx, "http_sessions_user_id_idx ON http_sessions (user_id) WHERE user_id IS NOT NULL") {
		t.Errorf("partial user_id index missing:\n%s", idx)
	}
}

// Migration 00003 (device columns) up and down on a SQLite table written
// under schema 2: every row is kept and still loads.
func TestUpgradeDeviceSQLite(t *testing.T) {
	conn := openSQLite(t)
	ctx := context.Background()
	if err := db.MigrateTo(ctx, conn, db.SQLite, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 49)
		INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
		SELECT randomblob(32), json_object('i', i), 4102444800000, 1700000000000, 'u' FROM n`); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		return strings.Join(testsql.Strings(t, conn, `SELECT hex(id_hash) || data || expires_at || created_at || user_id FROM http_sessions ORDER BY id_hash`), ";")
	}
	before := snapshot()
	if err := db.Migrate(ctx, conn, db.SQLite); err != nil {
		t.Fatalf("migrate to 00003 with rows: %v", err)
	}
	if snapshot() != before {
		t.Fatal("rows changed by the migration")
	}
	if got := testsql.Strings(t, conn, `SELECT CAST(count(*) AS TEXT) FROM http_sessions WHERE last_seen_at IS NULL AND ip IS NULL`); got[0] != "50" {
		t.Errorf("%s rows with empty device columns, want 50", got[0])
	}
	if err := db.MigrateTo(ctx, conn, db.SQLite, 2); err != nil {
		t.Fatalf("down to 00002: %v", err)
	}
	if snapshot() != before {
		t.Error("rows changed by the down migration")
	}
}
