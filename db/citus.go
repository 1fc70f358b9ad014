package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrCitusWorker is returned (wrapped) by Migrate, MigrateTo, MigrateDownTo, MigrateReset
// and Distribute when the connection reaches a Citus worker node: the
// schema of a Citus cluster is changed on its coordinator, which
// propagates it to the workers. A worker would keep a version table of
// its own and fail on the shell tables the coordinator made there.
var ErrCitusWorker = errors.New("the connection reaches a Citus worker node; " +
	"migrate and distribute through the Citus coordinator")

// citusNode tells whether the database has the Citus extension, and
// returns an error wrapping ErrCitusWorker when it is a worker node (its
// group id is not the coordinator's 0).
func citusNode(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (bool, error) {
	var citus bool
	if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil {
		return false, fmt.Errorf("look for the citus extension: %w", err)
	}
	if !citus {
		return false, nil
	}
	var group int
	if err := q.QueryRowContext(ctx, `SELECT groupid FROM pg_catalog.pg_dist_local_group`).Scan(&group); err != nil {
		return true, fmt.Errorf("read the citus node's group: %w", err)
	}
	if group != 0 {
		return true, fmt.Errorf("%w (group %d)", ErrCitusWorker, group)
	}
	return true, nil
}

// Distribute makes http_sessions (and http_sessions_retired, colocated
// with it) Citus distributed tables, sharded by id_hash, so that every per-session statement of pgstore is routed to one
// shard. Run it on the coordinator, after Migrate. It is idempotent and
// safe to call on every start: without the Citus extension, or when the
// table is already distributed, it does nothing. Rows already in the table
// are copied to the shards and the coordinator's local copy is truncated.
// It takes the migration lock, so concurrent calls distribute once.
//
// The number of shards is Citus's citus.shard_count (default 32) of the
// connection. Through a worker node it fails with ErrCitusWorker; through a
// pooler with ErrPooler.
func Distribute(ctx context.Context, conn *sql.DB) error {
	_, err := run(ctx, conn, Postgres, "distribute", distribute)
	return err
}

// distribute is Distribute's step, under the migration lock: http_sessions,
// then the retired ids' table, colocated with it (both by id_hash), so that
// Rekey's transaction stays on the shards of the two ids it names.
func distribute(ctx context.Context, r *runner) error {
	if !r.citus {
		return nil
	}
	if err := distributeTable(ctx, r, TableName, "default", true); err != nil {
		return err
	}
	// Before migration 00004 there is no retired ids' table: the next
	// Distribute (sess-gc -migrate runs one after every Migrate) does it.
	return distributeTable(ctx, r, RetiredTableName, TableName, false)
}

// distributeTable distributes table by id_hash, colocated with colocate,
// unless it is distributed already; a missing table is an error when
// required, else nothing to do.
func distributeTable(ctx context.Context, r *runner, table, colocate string, required bool) error {
	var exists, done bool
	err := r.conn.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL,
		EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = to_regclass($1))`, table).Scan(&exists, &done)
	if err != nil {
		return fmt.Errorf("look for %s: %w", table, err)
	}
	switch {
	case !exists && required:
		return fmt.Errorf("table %s not found: run Migrate first", table)
	case !exists, done:
		return nil
	}
	if _, err := r.conn.ExecContext(ctx, `SELECT create_distributed_table($1, 'id_hash', colocate_with => $2)`, table, colocate); err != nil {
		return fmt.Errorf("create_distributed_table(%s): %w", table, err)
	}
	if _, err := r.conn.ExecContext(ctx, `SELECT truncate_local_data_after_distributing_table($1)`, table); err != nil {
		return fmt.Errorf("truncate the coordinator's copy of %s: %w", table, err)
	}
	return nil
}
