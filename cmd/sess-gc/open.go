package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgdb"
	"github.com/sqlsession/sqlsession/internal/sqlitedb"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

// target is an open database: its Store, how to give freed space back
// (-vacuum), and how to close it.
type target struct {
	store    sessions.Store
	vacuum   func(context.Context) error
	close    func()
	migrated *db.Report // what -migrate did; nil without -migrate
}

// open connects, migrates when asked, and checks that the table exists
// (ProbeTable reads no row, so the check costs the same on any table size).
func open(ctx context.Context, c config) (target, error) {
	if c.driver == "postgres" {
		return openPostgres(ctx, c)
	}
	return openSQLite(ctx, c)
}

func openPostgres(ctx context.Context, c config) (target, error) {
	cfg, err := pgxpool.ParseConfig(c.dsn)
	if err != nil {
		return target{}, dsnError(err)
	}
	compressWAL(cfg, c.walCompression)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return target{}, connectError(&cfg.ConnConfig.Config, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return target{}, connectError(&cfg.ConnConfig.Config, err)
	}
	var migrated *db.Report
	if c.migrate {
		sqlDB := stdlib.OpenDBFromPool(pool)
		rep, err := db.MigrateReport(ctx, sqlDB, db.Postgres)
		if err == nil {
			err = db.Distribute(ctx, sqlDB) // a no-op without Citus
		}
		_ = sqlDB.Close()
		if err != nil {
			pool.Close()
			return target{}, err
		}
		migrated = &rep
	}
	store := pgstore.New(pool)
	if err := explain(pgdb.New(pool).ProbeTable(ctx)); err != nil {
		pool.Close()
		return target{}, err
	}
	vacuum := func(ctx context.Context) error {
		// Plain VACUUM: marks the reaped rows' space reusable and gives
		// empty pages at the end of the table back; it does not block
		// reads or writes (VACUUM FULL would, so it is never run).
		_, err := pool.Exec(ctx, "VACUUM (ANALYZE) "+db.TableName)
		return err
	}
	return target{store: dbClock{Store: store, pool: pool}, vacuum: vacuum, close: pool.Close, migrated: migrated}, nil
}

func openSQLite(ctx context.Context, c config) (target, error) {
	dsn := c.dsn
	if !strings.HasPrefix(dsn, "file:") {
		dsn = sqlitestore.DSN(dsn)
		if !c.migrate {
			dsn += "&mode=rw" // a mistyped path is an error, not a new empty database
		}
	}
	conn, err := sql.Open(sqlitestore.DriverName, dsn)
	if err != nil {
		return target{}, fmt.Errorf("open sqlite: %w", err)
	}
	closeConn := func() { _ = conn.Close() }
	if err := conn.PingContext(ctx); err != nil {
		closeConn()
		return target{}, fmt.Errorf("open sqlite %s: %w", c.dsn, err)
	}
	var migrated *db.Report
	if c.migrate {
		rep, err := db.MigrateReport(ctx, conn, db.SQLite)
		if err != nil {
			closeConn()
			return target{}, err
		}
		migrated = &rep
	}
	store := sqlitestore.New(conn)
	if err := explain(sqlitedb.New(conn).ProbeTable(ctx)); err != nil {
		closeConn()
		return target{}, err
	}
	vacuum := func(ctx context.Context) error { return vacuumSQLite(ctx, conn) }
	return target{store: store, vacuum: vacuum, close: closeConn, migrated: migrated}, nil
}

// compressWAL makes sess-gc's connections set wal_compression to method
// for their own session (-wal-compression), when the server lets its role
// (a superuser, or one granted SET on wal_compression, PostgreSQL 15+):
// reaping a large table logs about one full-page image per deleted row,
// which lz4 makes ~5× smaller (BENCHMARKS.md). A refusal (permission
// denied, or a method the server was built without) leaves the setting
// as it was; a wal_compression in the DSN wins.
func compressWAL(cfg *pgxpool.Config, method string) {
	if method == "" || method == "off" {
		return
	}
	if _, set := cfg.ConnConfig.RuntimeParams["wal_compression"]; set {
		return
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "SELECT set_config('wal_compression', $1, false)", method)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "42501" || pgErr.Code == "22023") {
			return nil // insufficient_privilege, invalid_parameter_value
		}
		if err != nil {
			return fmt.Errorf("set wal_compression: %w", err)
		}
		return nil
	}
}

// explain turns "no such table" errors, and those of a table that is not
// sqlsession's (a missing column, or one of another type), into advice.
func explain(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	isPG := errors.As(err, &pgErr)
	switch {
	case isPG && pgErr.Code == "42P01" || strings.Contains(err.Error(), "no such table"):
		return fmt.Errorf("table %s not found: create it with sess-gc -migrate or db.Migrate (%w)", db.TableName, err)
	case isPG && (pgErr.Code == "42703" || pgErr.Code == "42883") || strings.Contains(err.Error(), "no such column"):
		return fmt.Errorf("table %s is not sqlsession's session table, or is not migrated to this version (run sess-gc -migrate): %w", db.TableName, err)
	}
	return err
}

// vacuumSQLite gives the free pages of a SQLite file back to the file
// system: PRAGMA incremental_vacuum when the database has
// auto_vacuum=INCREMENTAL, otherwise VACUUM, which rewrites the whole file
// (writers wait while it runs; it needs as much free disk as the file).
func vacuumSQLite(ctx context.Context, conn *sql.DB) error {
	var mode int
	if err := conn.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	stmt := "VACUUM"
	if mode == 2 { // INCREMENTAL
		stmt = "PRAGMA incremental_vacuum"
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	_, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}
