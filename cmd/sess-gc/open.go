package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/db/pgdb"
	"github.com/sqlsession/sqlsession/db/sqlitedb"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

// open connects, migrates when asked, and checks that the table exists and
// has sqlsession's shape (ProbeTable reads no row, so the check costs the
// same on any table size). On Postgres the cutoff is capped by the
// database's clock (dbClock).
func open(ctx context.Context, c config) (sessions.Store, func(), error) {
	switch c.driver {
	case "postgres":
		cfg, err := pgxpool.ParseConfig(c.dsn)
		if err != nil {
			return nil, nil, usageError{fmt.Sprintf("bad postgres DSN: %v", err)}
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to postgres: %w", err)
		}
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return nil, nil, fmt.Errorf("connect to postgres %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
		}
		if c.migrate {
			sqlDB := stdlib.OpenDBFromPool(pool)
			err := db.Migrate(ctx, sqlDB, db.Postgres)
			_ = sqlDB.Close()
			if err != nil {
				pool.Close()
				return nil, nil, err
			}
		}
		if err := explain(pgdb.New(pool).ProbeTable(ctx)); err != nil {
			pool.Close()
			return nil, nil, err
		}
		return dbClock{Store: pgstore.New(pool), pool: pool}, pool.Close, nil
	default: // sqlite
		dsn := c.dsn
		if !strings.HasPrefix(dsn, "file:") {
			dsn = sqlitestore.DSN(dsn)
			if !c.migrate {
				dsn += "&mode=rw" // a mistyped path is an error, not a new empty database
			}
		}
		conn, err := sql.Open(sqlitestore.DriverName, dsn)
		if err != nil {
			return nil, nil, fmt.Errorf("open sqlite: %w", err)
		}
		closeConn := func() { _ = conn.Close() }
		if err := conn.PingContext(ctx); err != nil {
			closeConn()
			return nil, nil, fmt.Errorf("open sqlite %s: %w", c.dsn, err)
		}
		if c.migrate {
			if err := db.Migrate(ctx, conn, db.SQLite); err != nil {
				closeConn()
				return nil, nil, err
			}
		}
		store := sqlitestore.New(conn)
		if err := explain(sqlitedb.New(conn).ProbeTable(ctx)); err != nil {
			closeConn()
			return nil, nil, err
		}
		return store, closeConn, nil
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
