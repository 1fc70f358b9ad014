package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// TestTouchesAreHOT touches sessions the way a busy site moves expiries
// and reads pg_stat_user_tables: at least 90% of the updates must be HOT
// (no index entry written). As a control, the same run on schema version 1
// (expires_at indexed, as in schema 1) is almost never HOT.
//
// The touched rows are one per heap page or fewer, so each page's free
// On Citus (make test-citus) the table is distributed and the statistics
// are read where the rows live, each shard's on its worker: the touches
// run with citus.max_cached_conns_per_worker=0, so each worker backend
// exits (and flushes its statistics) after its statement, and the stride
// is the shard count times larger, so that each shard's pages hold as
// few touched rows as the one table's do.
//
// The touched rows are one per heap page or fewer, so each page's free
// space (fillfactor) holds the new versions without pruning: pruning
// waits for every older transaction on the server to end, which other
// tests running at the same time could delay, making the count flaky.
func TestTouchesAreHOT(t *testing.T) {
	for _, tc := range []struct {
		name    string
		control string // SQL run after migrating, for the control
		check   func(hot, upd int64) bool
		want    string
	}{
		{"schema", "", func(hot, upd int64) bool { return hot*10 >= upd*9 }, ">= 90%"},
		{"control: expires_at indexed, as in schema 1", "CREATE INDEX ON http_sessions (expires_at)",
			func(hot, upd int64) bool { return hot*10 < upd }, "< 10%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := pgtest.New(t)
			if err := db.Migrate(context.Background(), e.DB, db.Postgres); err != nil {
				t.Fatal(err)
			}
			if tc.control != "" {
				if _, err := e.DB.Exec(tc.control); err != nil {
					t.Fatal(err)
				}
			}
			citus := pgtest.IsCitus(t, e)
			stride, params := 40, map[string]string{}
			if citus {
				if err := db.Distribute(context.Background(), e.DB); err != nil {
					t.Fatal(err)
				}
				stride *= pgtest.CitusShardCount
				params["citus.max_cached_conns_per_worker"] = "0"
			}
			pool := singleConnPool(t, e.DSN, params)
			touches := touchRun(t, pool, 20_000, stride, 3)
			hot, upd := hotUpdates(t, pool, touches, citus)
			t.Logf("%s: %d of %d updates HOT", tc.name, hot, upd)
			if upd != touches || !tc.check(hot, upd) {
				t.Errorf("%s: %d of %d updates HOT (%d touches); want %s", tc.name, hot, upd, touches, tc.want)
			}
		})
	}
}

// singleConnPool is a one-connection pool, so that the statistics of every
// statement are this backend's, flushed on demand.
func singleConnPool(t testing.TB, dsn string, params map[string]string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	// Commits need not wait for the disk here; HOT or not is the same.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	for k, v := range params {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// touchRun creates n sessions of about 300 bytes expiring 5 minutes into a
// 15-minute bucket, then touches every stride-th one rounds times, each
// time a second later. It returns the number of touches.
func touchRun(t testing.TB, pool *pgxpool.Pool, n, stride, rounds int) int64 {
	t.Helper()
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	expires := now.Truncate(15 * time.Minute).Add(time.Hour + 5*time.Minute)
	if _, err := pool.Exec(ctx, `INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT sha256(('hot-' || i)::bytea),
		       jsonb_build_object('cookie', jsonb_build_object('originalMaxAge', 3600000, 'expires', '2026-01-01T00:00:00.000Z', 'httpOnly', true, 'path', '/'),
		                          'user', 'someone' || i || '@example.com', 'cart', '[101, 202, 303]'::jsonb),
		       $1::timestamptz, $2::timestamptz
		FROM generate_series(0, $3 - 1) i`, expires, now, n); err != nil {
		t.Fatal(err)
	}
	flushStats(t, pool)
	s := pgstore.New(pool)
	var touches int64
	for r := 1; r <= rounds; r++ {
		for i := 0; i < n; i += stride {
			if err := s.Touch(ctx, sessions.HashID(fmt.Sprint("hot-", i)), expires.Add(time.Duration(r)*time.Second), nil, now); err != nil {
				t.Fatal(err)
			}
			touches++
		}
	}
	return touches
}

// flushStats makes this backend's pending table statistics visible: the
// flush happens when the statement's transaction ends.
func flushStats(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
}

// hotUpdates returns n_tup_hot_upd and n_tup_upd of http_sessions (on
// Citus: summed over its shards, read on the workers) after the
// statistics of want updates have arrived (or after 10 s).
func hotUpdates(t testing.TB, pool *pgxpool.Pool, want int64, citus bool) (hot, upd int64) {
	t.Helper()
	flushStats(t, pool)
	query := `SELECT pg_stat_clear_snapshot()::text, n_tup_hot_upd, n_tup_upd
		FROM pg_stat_user_tables WHERE relid = 'http_sessions'::regclass`
	if citus {
		query = `SELECT '', coalesce(sum(split_part(result, ',', 1)::bigint), 0), coalesce(sum(split_part(result, ',', 2)::bigint), 0)
			FROM run_command_on_shards('http_sessions', $$SELECT n_tup_hot_upd || ',' || n_tup_upd FROM pg_stat_user_tables WHERE relid = '%s'::regclass$$)
			WHERE success`
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := pool.QueryRow(context.Background(), query).Scan(new(string), &hot, &upd)
		if err != nil {
			t.Fatal(err)
		}
		if upd >= want || time.Now().After(deadline) {
			return hot, upd
		}
		time.Sleep(100 * time.Millisecond)
	}
}
