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

	"github.com/jackc/pgx/v5"
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

// ErrPooler is returned (wrapped) by Migrate and MigrateDown on Postgres
// when the connection goes through a connection pooler such as PgBouncer:
// the advisory lock that keeps concurrent migrations apart is held by a
// server session, which a transaction pooler hands to other clients
// between transactions. Migrate over a direct connection to PostgreSQL.
var ErrPooler = errors.New("the connection goes through a connection pooler (such as PgBouncer); " +
	"migrate over a direct connection to PostgreSQL")

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
//
// Through a connection pooler (PgBouncer and the like) it refuses with an
// error wrapping ErrPooler, before changing anything: run it over a direct
// connection (the application itself may then use the pooler).
func Migrate(ctx context.Context, conn *sql.DB, d Dialect) error {
	p, err := newProvider(ctx, conn, d)
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
	p, err := newProvider(ctx, conn, d)
	if err != nil {
		return err
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		return fmt.Errorf("db: migrate down %s: %w", d, err)
	}
	return nil
}

func newProvider(ctx context.Context, conn *sql.DB, d Dialect) (*goose.Provider, error) {
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
		if err := checkDirect(ctx, conn); err != nil {
			return nil, err
		}
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

// checkDirect returns an error wrapping ErrPooler when conn does not reach
// a PostgreSQL backend directly: the session must stay the same across two
// statements and, with pgx, be the backend whose pid the server announced
// at connect (BackendKeyData), where a pooler announces one of its own.
func checkDirect(ctx context.Context, conn *sql.DB) error {
	c, err := conn.Conn(ctx)
	if err != nil {
		return fmt.Errorf("db: migrate postgres: %w", err)
	}
	defer c.Close()
	var announced, first, second uint32
	err = c.Raw(func(driverConn any) error {
		pc, ok := driverConn.(interface{ Conn() *pgx.Conn })
		if !ok {
			return errNotPgx
		}
		announced = pc.Conn().PgConn().PID()
		for _, dst := range []*uint32{&first, &second} {
			// The simple protocol, so that no prepared statement is
			// involved, whatever default_query_exec_mode says.
			if err := pc.Conn().QueryRow(ctx, backendPID, pgx.QueryExecModeSimpleProtocol).Scan(dst); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errNotPgx) {
		err = c.QueryRowContext(ctx, backendPID).Scan(&first)
		if err == nil {
			err = c.QueryRowContext(ctx, backendPID).Scan(&second)
		}
		announced = first
	}
	if err != nil {
		return fmt.Errorf("db: migrate postgres: %w", err)
	}
	if first != second || announced != first {
		return fmt.Errorf("db: migrate postgres: %w (backend pid %d, then %d; %d announced at connect)",
			ErrPooler, first, second, announced)
	}
	return nil
}

const backendPID = "SELECT pg_backend_pid()"

var errNotPgx = errors.New("not a pgx connection")
