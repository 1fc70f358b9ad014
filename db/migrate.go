// Package db holds sqlsession's schema: the goose migrations for PostgreSQL
// and SQLite (embedded), the sqlc query files, and Migrate, which applies
// the migrations. The sqlc-generated accessors live in internal/pgdb and
// internal/sqlitedb.
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
	"math"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// VersionTable is the table in which goose records which of sqlsession's
// migrations have been applied. Pass it to the goose CLI with -table.
const VersionTable = "sqlsession_goose_version"

// TableName is the table that holds the sessions.
const TableName = "http_sessions"

// RetiredTableName is the table that holds the ids Regenerate retired
// (migration 00004), for the grace window and reuse detection.
const RetiredTableName = "http_sessions_retired"

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

// ErrPooler is returned (wrapped) by Migrate and MigrateDown on Postgres
// when the connection goes through a connection pooler such as PgBouncer:
// the advisory lock that keeps concurrent migrations apart is held by a
// server session, which a transaction pooler hands to other clients
// between transactions. Migrate over a direct connection to PostgreSQL.
var ErrPooler = errors.New("the connection goes through a connection pooler (such as PgBouncer); " +
	"migrate over a direct connection to PostgreSQL")

// Migrate applies every pending migration of the dialect to conn, each in
// its own transaction, statement by statement (as goose does), and records
// it in VersionTable exactly as goose does. It is safe to call on every
// start: a database that is up to date is left as it is. On Postgres it
// holds an advisory lock while it runs, so processes that start together
// migrate once. Pass a *sql.DB opened with a Postgres driver such as
// github.com/jackc/pgx/v5/stdlib, or with a SQLite driver.
//
// Through a connection pooler (PgBouncer and the like) it refuses with an
// error wrapping ErrPooler, before changing anything: run it over a direct
// connection (the application itself may then use the pooler). On Citus it
// runs on the coordinator only (through a worker it refuses with
// ErrCitusWorker), so its advisory lock, taken there, serialises every
// migrating process; Distribute then distributes the table.
func Migrate(ctx context.Context, conn *sql.DB, d Dialect) error {
	return run(ctx, conn, d, "migrate", to(math.MaxInt64))
}

// MigrateTo brings the database to a version of sqlsession's migrations:
// it applies the pending ones up to version, or rolls back those above it
// (as goose's up-to and down-to do), under the same lock as Migrate. It is
// for staged upgrades and for tests of an upgrade; Migrate is what a
// service calls on start.
func MigrateTo(ctx context.Context, conn *sql.DB, d Dialect, version int64) error {
	return run(ctx, conn, d, "migrate to "+strconv.FormatInt(version, 10), to(version))
}

// MigrateDown rolls every sqlsession migration back, dropping the
// http_sessions table and all sessions in it. It is meant for tests and for
// uninstalling; the version table itself is kept, as goose does.
func MigrateDown(ctx context.Context, conn *sql.DB, d Dialect) error {
	return run(ctx, conn, d, "migrate down", to(0))
}

// run checks its arguments, takes one connection (on Postgres: a direct
// one, not to a Citus worker, and the migration lock) and calls step.
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
	if d == Postgres {
		if err := checkDirect(ctx, c); err != nil {
			return fmt.Errorf("db: %s %s: %w", what, d, err)
		}
		if r.citus, err = citusNode(ctx, c); err != nil {
			return fmt.Errorf("db: %s %s: %w", what, d, err)
		}
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return fmt.Errorf("db: %s %s: %w", what, d, err)
	}
	defer func() { err = errors.Join(err, unlock()) }()
	if err := step(ctx, r); err != nil {
		return fmt.Errorf("db: %s %s: %w", what, d, err)
	}
	return nil
}

// checkDirect returns an error wrapping ErrPooler when conn does not reach
// a PostgreSQL backend directly: the session must stay the same across two
// statements and, with pgx, be the backend whose pid the server announced
// at connect (BackendKeyData), where a pooler announces one of its own.
func checkDirect(ctx context.Context, c *sql.Conn) error {
	var announced, first, second uint32
	err := c.Raw(func(driverConn any) error {
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
		return err
	}
	if first != second || announced != first {
		return fmt.Errorf("%w (backend pid %d, then %d; %d announced at connect)", ErrPooler, first, second, announced)
	}
	return nil
}

const backendPID = "SELECT pg_backend_pid()"

var errNotPgx = errors.New("not a pgx connection")
