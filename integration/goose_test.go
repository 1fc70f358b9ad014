package integration

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

// db.Migrate does not import goose, but it must keep goose's books: a team
// that runs the goose CLI (or library) on db.Migrations, with -table
// sqlsession_goose_version, and services that call db.Migrate must agree on
// what is applied.
func TestGooseInterop(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		gooseInterop(t, testpg.Migrated(t).DB, db.Postgres, goose.DialectPostgres)
	})
	t.Run("sqlite", func(t *testing.T) {
		conn, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if err := db.Migrate(context.Background(), conn, db.SQLite); err != nil {
			t.Fatal(err)
		}
		gooseInterop(t, conn, db.SQLite, goose.DialectSQLite3)
	})
}

// gooseInterop starts from a database that db.Migrate has migrated.
func gooseInterop(t *testing.T, conn *sql.DB, d db.Dialect, gd goose.Dialect) {
	ctx := context.Background()
	fsys, err := db.Migrations(d)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(gd, conn, fsys, goose.WithTableName(db.VersionTable), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migration files: %v %v", files, err)
	}
	latest := int64(len(files)) // 00001 … 0000N, numbered without gaps
	assertGoose := func(when string, wantVersion int64) {
		t.Helper()
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			t.Fatalf("%s: goose GetDBVersion: %v", when, err)
		}
		pending, err := p.HasPending(ctx)
		if err != nil {
			t.Fatalf("%s: goose HasPending: %v", when, err)
		}
		if v != wantVersion || pending != (wantVersion < latest) {
			t.Errorf("%s: goose sees version %d (pending %v), want %d", when, v, pending, wantVersion)
		}
	}
	assertGoose("after db.Migrate", latest)

	// goose rolls back what db.Migrate applied; db.Migrate applies it again.
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("goose down: %v", err)
	}
	assertGoose("after goose down", 0)
	if err := db.Migrate(ctx, conn, d); err != nil {
		t.Fatalf("db.Migrate after goose down: %v", err)
	}
	assertGoose("after db.Migrate again", latest)

	// db.MigrateDownTo one step, goose sees it; db.MigrateReset, then
	// goose up, then db.Migrate is a no-op.
	if rep, err := db.MigrateDownTo(ctx, conn, d, latest-1); err != nil || len(rep.RolledBack) != 1 {
		t.Fatalf("db.MigrateDownTo(%d) = %+v, %v; want one version rolled back", latest-1, rep, err)
	}
	assertGoose("after db.MigrateDownTo", latest-1)
	if err := db.MigrateReset(ctx, conn, d); err != nil {
		t.Fatalf("db.MigrateReset: %v", err)
	}
	assertGoose("after db.MigrateReset", 0)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("goose up: %v", err)
	}
	if rep, err := db.MigrateReport(ctx, conn, d); err != nil || len(rep.Applied) != 0 || rep.Version != latest {
		t.Fatalf("db.MigrateReport after goose up = %+v, %v; want nothing applied, version %d", rep, err, latest)
	}
	assertGoose("after goose up and db.Migrate", latest)
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM `+db.TableName).Scan(&n); err != nil {
		t.Fatalf("%s missing at the end: %v", db.TableName, err)
	}
}
