// Package db holds sqlsession's schema: the goose migrations for PostgreSQL
// and SQLite (embedded), the sqlc query files, and Migrate, which applies
// the migrations. The sqlc-generated accessors live in db/pgdb and
// db/sqlitedb.
//
// The migrations create one table, http_sessions, and record their version
// in the table sqlsession_goose_version, so they never mix with an
// application's own goose_db_version.
//
// The files are in goose's format and Migrate keeps goose's version table,
// so the goose CLI or library and Migrate can take turns on one database.
// Migrate itself does not import goose: goose's module brings the drivers
// of a dozen databases (and a SQLite engine with its tests), which a
// service that only wants its sessions table should not have to download.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
)

// VersionTable is the table in which goose records which of sqlsession's
// migrations have been applied. Pass it to the goose CLI with -table.
const VersionTable = "sqlsession_goose_version"

// TableName is the table that holds the sessions.
const TableName = "http_sessions"

// migrationLockID is the Postgres advisory lock held while migrating, so
// that several processes starting at once apply each migration once. It is
// not goose's default lock id, so an application's own goose run and ours
// never wait for each other.
const migrationLockID int64 = 0x5e55_1071 // "sessio(n)"

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// Dialect names a supported SQL database.
type Dialect string

// The supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Migrations returns the goose migration files of the dialect
// (00001_create_http_sessions.sql, …) at the root of an fs.FS, ready for
// goose.NewProvider or for copying out (sess-gc migrations -dump DIR). Run
// them with the version table VersionTable. It fails only for an unknown
// dialect.
func Migrations(d Dialect) (fs.FS, error) {
	switch d {
	case Postgres, SQLite:
		return fs.Sub(migrations, "migrations/"+string(d))
	default:
		return nil, fmt.Errorf("db: unknown dialect %q (want %q or %q)", d, Postgres, SQLite)
	}
}

// Migrate applies every pending migration of the dialect to conn, each in
// its own transaction, and records it in VersionTable exactly as goose
// does. It is safe to call on every start: a database that is up to date
// is left as it is. On Postgres it holds an advisory lock while it runs, so
// processes that start together migrate once. Pass a *sql.DB opened with a
// Postgres driver such as github.com/jackc/pgx/v5/stdlib, or with a SQLite
// driver.
func Migrate(ctx context.Context, conn *sql.DB, d Dialect) error {
	return run(ctx, conn, d, "migrate", up)
}

// MigrateDown rolls every sqlsession migration back, dropping the
// http_sessions table and all sessions in it. It is meant for tests and for
// uninstalling; the version table itself is kept, as goose does.
func MigrateDown(ctx context.Context, conn *sql.DB, d Dialect) error {
	return run(ctx, conn, d, "migrate down", down)
}

// run checks its arguments, takes one connection (and on Postgres the
// migration lock), makes sure the version table exists and calls step.
func run(ctx context.Context, conn *sql.DB, d Dialect, what string, step func(context.Context, *runner) error) (err error) {
	if conn == nil {
		return errors.New("db: " + what + ": nil *sql.DB")
	}
	files, err := loadMigrations(d)
	if err != nil {
		return err
	}
	c, err := conn.Conn(ctx)
	if err != nil {
		return fmt.Errorf("db: %s %s: %w", what, d, err)
	}
	defer c.Close()
	r := &runner{conn: c, dialect: d, files: files}
	unlock, err := r.lock(ctx)
	if err != nil {
		return fmt.Errorf("db: %s %s: %w", what, d, err)
	}
	defer func() { err = errors.Join(err, unlock()) }()
	if err := r.ensureVersionTable(ctx); err != nil {
		return fmt.Errorf("db: %s %s: %w", what, d, err)
	}
	if err := step(ctx, r); err != nil {
		return fmt.Errorf("db: %s %s: %w", what, d, err)
	}
	return nil
}
