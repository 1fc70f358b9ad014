package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/internal/pgdb"
)

// Options configure a Store made by NewWithOptions. The zero value is New's
// configuration.
type Options struct {
	// AllowStandby lets the Store run on a server in recovery (a hot
	// standby or read replica), which it otherwise refuses with ErrStandby.
	//
	// Set it only when stale sessions are acceptable: a replica replays the
	// primary's WAL some time after the primary committed it, so a session
	// created, changed or revoked on the primary is read from the replica
	// as it was before. In particular a logged-out or revoked session
	// (Destroy, DestroyUser) still loads from a lagging replica until the
	// replica has replayed the delete. Writes on a standby fail
	// (SQLSTATE 25006, read-only transaction) whatever this says.
	AllowStandby bool
}

// ErrStandby is returned (wrapped, by every method) when the pool's server
// is in recovery, pg_is_in_recovery() is true, and Options.AllowStandby is
// not set: sessions read there may be stale (a revoked session could come
// back) and writes would fail.
var ErrStandby = errors.New("the PostgreSQL server is a standby in recovery (pg_is_in_recovery() is true): " +
	"sessions must be read and written on the primary; connect with target_session_attrs=read-write, " +
	"or set pgstore.Options.AllowStandby to accept stale reads")

// NewWithOptions returns a Store on pool, whose schema db.Migrate has
// created, configured by opts.
//
// Unless opts.AllowStandby is set, the Store asks the server once whether
// it is in recovery (SELECT pg_is_in_recovery()), on its first call, and
// refuses a standby with ErrStandby. It asks again only after an error that
// may mean the pool reconnected, possibly elsewhere (a lost connection, a
// server shutting down, a read-only transaction): every other call runs
// its statement alone. The check sees one of the pool's connections; a
// DSN with target_session_attrs=read-write makes pgx check every new
// connection as well.
func NewWithOptions(pool *pgxpool.Pool, opts Options) *Store {
	g := &guardedPool{pool: pool, allowStandby: opts.AllowStandby}
	return &Store{pool: g, q: pgdb.New(g)}
}

// guardedPool runs statements on a pool once its server is known not to be
// in recovery. It implements pgdb.DBTX and Begin (for pgx.BeginFunc).
type guardedPool struct {
	pool         *pgxpool.Pool
	allowStandby bool
	// primary is set when the last check found a primary, and cleared by
	// an error that may mean the pool reconnected (see mayReconnect).
	primary atomic.Bool
}

// ready checks the server once; afterwards it costs one atomic load.
// While the server is a standby nothing is remembered, so a standby that
// is promoted is used at the next call.
func (g *guardedPool) ready(ctx context.Context) error {
	if g.allowStandby || g.primary.Load() {
		return nil
	}
	var inRecovery bool
	err := g.pool.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42883":
		// No such function: not PostgreSQL's recovery, so not a standby.
	case err != nil:
		return fmt.Errorf("checking the server is not a standby: %w", err)
	case inRecovery:
		return ErrStandby
	}
	g.primary.Store(true)
	return nil
}

// observe clears the check after an error that may mean the pool will
// reconnect, so the next call asks the server again.
func (g *guardedPool) observe(err error) {
	if err != nil && !g.allowStandby && mayReconnect(err) {
		g.primary.Store(false)
	}
}

// mayReconnect reports errors after which the pool may be talking to
// another server: anything the server did not report itself (a broken
// connection, a timeout, a failed connect), the server going away
// (SQLSTATE class 08, 57P01-57P03) and a write refused as read-only
// (25006, a primary that became a standby).
func mayReconnect(err error) bool {
	if errors.Is(err, pgx.ErrNoRows) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "25006"
}

// Exec implements pgdb.DBTX.
func (g *guardedPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := g.ready(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := g.pool.Exec(ctx, sql, args...)
	g.observe(err)
	return tag, err
}

// Query implements pgdb.DBTX.
func (g *guardedPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := g.ready(ctx); err != nil {
		return nil, err
	}
	rows, err := g.pool.Query(ctx, sql, args...)
	if err != nil {
		g.observe(err)
		return nil, err
	}
	return guardedRows{Rows: rows, g: g}, nil
}

// QueryRow implements pgdb.DBTX.
func (g *guardedPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := g.ready(ctx); err != nil {
		return errRow{err}
	}
	return guardedRow{row: g.pool.QueryRow(ctx, sql, args...), g: g}
}

// Begin starts a transaction on the pool (for pgx.BeginFunc), whose
// statements' errors are observed like the pool's.
func (g *guardedPool) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := g.ready(ctx); err != nil {
		return nil, err
	}
	tx, err := g.pool.Begin(ctx)
	if err != nil {
		g.observe(err)
		return nil, err
	}
	return guardedTx{Tx: tx, g: g}, nil
}

// guardedTx is a transaction whose statements' errors are observed. The
// methods sqlc's WithTx uses (pgdb.DBTX) and Commit are wrapped.
type guardedTx struct {
	pgx.Tx
	g *guardedPool
}

// Exec runs a statement in the transaction.
func (t guardedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.Tx.Exec(ctx, sql, args...)
	t.g.observe(err)
	return tag, err
}

// Query runs a query in the transaction.
func (t guardedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := t.Tx.Query(ctx, sql, args...)
	if err != nil {
		t.g.observe(err)
		return nil, err
	}
	return guardedRows{Rows: rows, g: t.g}, nil
}

// QueryRow runs a one-row query in the transaction.
func (t guardedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return guardedRow{row: t.Tx.QueryRow(ctx, sql, args...), g: t.g}
}

// Commit commits the transaction.
func (t guardedTx) Commit(ctx context.Context) error {
	err := t.Tx.Commit(ctx)
	t.g.observe(err)
	return err
}

// guardedRow is a pool row whose Scan error is observed.
type guardedRow struct {
	row pgx.Row
	g   *guardedPool
}

// Scan implements pgx.Row.
func (r guardedRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	r.g.observe(err)
	return err
}

// guardedRows are pool rows whose final error is observed.
type guardedRows struct {
	pgx.Rows
	g *guardedPool
}

// Err implements pgx.Rows.
func (r guardedRows) Err() error {
	err := r.Rows.Err()
	r.g.observe(err)
	return err
}

// errRow is the row of a statement that was not run.
type errRow struct{ err error }

// Scan implements pgx.Row.
func (r errRow) Scan(...any) error { return r.err }
