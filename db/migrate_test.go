package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/internal/testsql"
)

func TestMigratePostgres(t *testing.T) {
	e := pgtest.New(t)
	ctx := context.Background()

	// The application's own goose table, which we must never touch.
	if _, err := e.DB.Exec(`CREATE TABLE goose_db_version (id serial primary key, version_id bigint not null, is_applied boolean not null, tstamp timestamp default now());
		INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (20240101, true)`); err != nil {
		t.Fatal(err)
	}

	rep, err := db.MigrateReport(ctx, e.DB, db.Postgres)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	if fmt.Sprint(rep.Applied) != "[1 2 3 4]" || rep.Version != 4 {
		t.Errorf("first MigrateReport = %+v, want versions [1 2 3 4] applied, at 4", rep)
	}
	rep, err = db.MigrateReport(ctx, e.DB, db.Postgres)
	if err != nil {
		t.Fatalf("second Migrate (must be a no-op): %v", err)
	}
	if len(rep.Applied) != 0 || rep.Version != 4 {
		t.Errorf("second MigrateReport = %+v, want nothing applied, at 4", rep)
	}
	assertPostgresSchema(t, e)

	var appVersions int
	if err := e.DB.QueryRow(`SELECT count(*) FROM goose_db_version`).Scan(&appVersions); err != nil {
		t.Fatal(err)
	}
	if appVersions != 2 {
		t.Errorf("application's goose_db_version has %d rows, want the 2 it had", appVersions)
	}
	var applied int
	if err := e.DB.QueryRow(`SELECT count(*) FROM sqlsession_goose_version WHERE version_id IN (1, 2, 3) AND is_applied`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 3 {
		t.Errorf("sqlsession_goose_version records versions 1 to 3 %d times, want once each", applied)
	}

	if err := db.MigrateReset(ctx, e.DB, db.Postgres); err != nil {
		t.Fatalf("MigrateReset: %v", err)
	}
	if got := testsql.Strings(t, e.DB, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'http_sessions'`, e.Schema); len(got) != 0 {
		t.Fatalf("http_sessions still exists after down")
	}
	if err := db.Migrate(ctx, e.DB, db.Postgres); err != nil {
		t.Fatalf("Migrate after down: %v", err)
	}
	assertPostgresSchema(t, e)
}

func assertPostgresSchema(t *testing.T, e *pgtest.Env) {
	t.Helper()
	want := map[string]string{
		"id_hash":    "bytea NO",
		"data":       "jsonb NO",
		"expires_at": "timestamp with time zone NO",
		"created_at": "timestamp with time zone NO",
		"user_id":    "text YES",
		// 00002: generated, indexed instead of expires_at so touches are HOT.
		"expires_bucket": "timestamp with time zone NO",
		// 00003: the device a session was last seen on (RecordDevice).
		"last_seen_at": "timestamp with time zone YES",
		"ip":           "text YES",
		"user_agent":   "text YES",
	}
	cols := testsql.Strings(t, e.DB, `SELECT column_name || ' ' || data_type || ' ' || is_nullable
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'http_sessions'`, e.Schema)
	if len(cols) != len(want) {
		t.Fatalf("http_sessions columns = %v, want %d columns", cols, len(want))
	}
	for _, c := range cols {
		name, rest, _ := strings.Cut(c, " ")
		if want[name] != rest {
			t.Errorf("column %s: got %q, want %q", name, rest, want[name])
		}
	}
	pk := testsql.Strings(t, e.DB, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = (quote_ident($1) || '.http_sessions')::regclass AND i.indisprimary`, e.Schema)
	if len(pk) != 1 || pk[0] != "id_hash" {
		t.Errorf("primary key = %v, want [id_hash]", pk)
	}
	idx := testsql.Strings(t, e.DB, `SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'http_sessions' ORDER BY indexname`, e.Schema)
	joined := strings.Join(idx, "\n")
	if !strings.Contains(joined, "http_sessions_expires_bucket_idx: CREATE INDEX http_sessions_expires_bucket_idx ON "+e.Schema+".http_sessions USING btree (expires_bucket)") {
		t.Errorf("expires_bucket index missing:\n%s", joined)
	}
	if strings.Contains(joined, "(expires_at)") {
		t.Errorf("expires_at is still indexed (touches could not be HOT):\n%s", joined)
	}
	if !strings.Contains(joined, "USING btree (user_id) WHERE (user_id IS NOT NULL)") {
		t.Errorf("partial user_id index missing:\n%s", joined)
	}
}

func TestMigrateRejectsBadInput(t *testing.T) {
	if err := db.Migrate(context.Background(), nil, db.Postgres); err == nil {
		t.Error("Migrate(nil db) = nil, want error")
	}
	// sql.Open does not connect, and the dialect is checked first.
	conn, err := sql.Open("pgx", "postgres://127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = db.Migrate(context.Background(), conn, db.Dialect("mysql"))
	if err == nil || !strings.Contains(err.Error(), `unknown dialect "mysql"`) {
		t.Errorf("Migrate(mysql) = %v, want unknown dialect error", err)
	}
}

func TestMigrationsMatchAcrossDialects(t *testing.T) {
	for _, d := range []db.Dialect{db.Postgres, db.SQLite} {
		fsys, err := db.Migrations(d)
		if err != nil {
			t.Fatal(err)
		}
		names, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(names, ",") != "00001_create_http_sessions.sql,00002_expires_bucket.sql,00003_device.sql,00004_retired_ids.sql" {
			t.Errorf("%s migrations = %v", d, names)
		}
	}
}
