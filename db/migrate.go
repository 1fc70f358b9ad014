// Package db holds sqlsession's schema: the goose migrations for PostgreSQL
// and SQLite (embedded), the sqlc query files, and Migrate, which applies
// the migrations. The sqlc-generated accessors live in db/pgdb and
// db/sqlitedb.
//
// The migrations create one table, http_sessions, and record their version
// in the table sqlsession_goose_version, so they never mix with an
// application's own goose_db_version.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
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

// Migrations returns the goose migration files of the dialect, for use with
// goose directly (for example goose.NewProvider).
func Migrations(d Dialect) (fs.FS, error) {
	switch d {
	case Postgres, SQLite:
		return fs.Sub(migrations, "migrations/"+string(d))
	default:
		return nil, fmt.Errorf("db: unknown dialect %q (want %q or %q)", d, Postgres, SQLite)
	}
}

// Migrate applies every pending migration of the dialect to conn, using
// goose's Provider and the version table VersionTable. It is safe to call
// on every start: a database that is up to date is left as it is. On
// Postgres it holds an advisory lock while it runs, so processes that start
// together migrate once. Pass a *sql.DB opened with a Postgres driver such
// as github.com/jackc/pgx/v5/stdlib, or with a SQLite driver.
func Migrate(ctx context.Context, conn *sql.DB, d Dialect) error {
	p, err := newProvider(conn, d)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("db: migrate %s: %w", d, err)
	}
	return nil
}

// MigrateDown rolls every sqlsession migration back, dropping the
// http_sessions table and all sessions in it. It is meant for tests and for
// uninstalling; the version table itself is kept, as goose does.
func MigrateDown(ctx context.Context, conn *sql.DB, d Dialect) error {
	p, err := newProvider(conn, d)
	if err != nil {
		return err
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		return fmt.Errorf("db: migrate down %s: %w", d, err)
	}
	return nil
}

func newProvider(conn *sql.DB, d Dialect) (*goose.Provider, error) {
	if conn == nil {
		return nil, errors.New("db: migrate: nil *sql.DB")
	}
	fsys, err := Migrations(d)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(VersionTable),
		goose.WithDisableGlobalRegistry(true),
	}
	dialect := goose.DialectSQLite3
	if d == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
		if err != nil {
			return nil, fmt.Errorf("db: migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, conn, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("db: migrate %s: %w", d, err)
	}
	return p, nil
}
