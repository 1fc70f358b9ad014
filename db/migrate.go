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

// ErrPooler is returned (wrapped) by Migrate and the other Migrate functions on Postgres
// when the connection goes through a connection pooler such as PgBouncer:
// the advisory lock that keeps concurrent migrations apart is held by a
// server session, which a transaction pooler hands to other clients
// between transactions. Migrate over a direct connection to PostgreSQL.
var ErrPooler = errors.New("the connection goes through a connection pooler (such as PgBouncer); " +
	"migrate over a direct connection to PostgreSQL")

// Report says what a migration run changed.
type Report struct {
	// Applied lists the versions the run applied, oldest first; empty when
	// the database was already up to date.
	Applied []int64
	// RolledBack lists the versions the run rolled back, newest first.
	RolledBack []int64
	// Version is the database's version afterwards: the highest applied
	// sqlsession migration (0: none).
	Version int64
}

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
// migrating process; Distribute then distributes the tables.
//
// MigrateReport does the same and says which versions it applied.
func Migrate(ctx context.Context, conn *sql.DB, d Dialect) error {
	_, err := MigrateReport(ctx, conn, d)
	return err
}

// MigrateReport is Migrate, and reports which versions it applied (none
// when the database was up to date) and the version the database is at.
// The Report is valid up to the failure when err is not nil.
func MigrateReport(ctx context.Context, conn *sql.DB, d Dialect) (Report, error) {
	return run(ctx, conn, d, "migrate", to(math.MaxInt64))
}

// MigrateTo brings the database to a version of sqlsession's migrations:
// it applies the pending ones up to version, or rolls back those above it
// (as goose's up-to and down-to do), under the same lock as Migrate. It is
// for staged upgrades and for tests of an upgrade; Migrate is what a
// service calls on start.
func MigrateTo(ctx context.Context, conn *sql.DB, d Dialect, version int64) error {
	if version < 0 {
		return fmt.Errorf("db: migrate to %d: version must be 0 or more", version)
	}
	_, err := run(ctx, conn, d, "migrate to "+strconv.FormatInt(version, 10), to(version))
	return err
}

// MigrateDownTo rolls back the applied migrations above version, newest
// first (goose's down-to), and applies nothing. Rolling back migration 1
// drops http_sessions with every session in it; MigrateDownTo(ctx, conn,
// d, 0) is MigrateReset. It returns what it rolled back.
func MigrateDownTo(ctx context.Context, conn *sql.DB, d Dialect, version int64) (Report, error) {
	if version < 0 {
		return Report{}, fmt.Errorf("db: migrate down to %d: version must be 0 or more", version)
	}
	return run(ctx, conn, d, "migrate down to "+strconv.FormatInt(version, 10), downToStep(version))
}

// MigrateReset rolls every sqlsession migration back: it DROPS the
// http_sessions table and every session in it. It is meant for tests and
// for uninstalling; the version table itself is kept, as goose does. To go
// back one step, use MigrateDownTo with the version before the current one.
func MigrateReset(ctx context.Context, conn *sql.DB, d Dialect) error {
	_, err := run(ctx, conn, d, "migrate reset", downToStep(0))
	return err
}

// downToStep is downTo as a run step.
func downToStep(version int64) func(context.Context, *runner) error {
	return func(ctx context.Context, r *runner) error { return downTo(ctx, r, version) }
}

// run checks its arguments, takes one connection (on Postgres: a direct
// one, not to a Citus worker, and the migration lock), makes sure the
// version table exists, calls step and reports what it changed.
func run(ctx context.Context, conn *sql.DB, d Dialect, what string, step func(context.Context, *runner) error) (rep Report, err error) {
	if conn == nil {
		return rep, errors.New("db: " + what + ": nil *sql.DB")
	}
	files, err := loadMigrations(d)
	if err != nil {
		return rep, err
	}
	c, err := conn.Conn(ctx)
	if err != nil {
		return rep, fmt.Errorf("db: %s %s: %w", what, d, err)
	}
	defer c.Close()
	r := &runner{conn: c, dialect: d, files: files}
	if d == Postgres {
		if err := checkDirect(ctx, c); err != nil {
			return rep, fmt.Errorf("db: %s %s: %w", what, d, err)
		}
		if r.citus, err = citusNode(ctx, c); err != nil {
			return rep, fmt.Errorf("db: %s %s: %w", what, d, err)
		}
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return rep, fmt.Errorf("db: %s %s: %w", what, d, err)
	}
	defer func() { err = errors.Join(err, unlock()) }()
	if err := r.ensureVersionTable(ctx); err != nil {
		return rep, fmt.Errorf("db: %s %s: %w", what, d, err)
	}
	err = step(ctx, r)
	if err == nil {
		err = r.current(ctx)
	}
	if err != nil {
		return r.report, fmt.Errorf("db: %s %s: %w", what, d, err)
	}
	return r.report, nil
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
