package main

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// citusRows is the size of BenchmarkReapCitus's table: a third of it is
// expired (offset), scattered over the shards and their heaps.
const citusRows = 1_000_000

// BenchmarkReapCitus reaps a 1,000,000-row table distributed over Citus's
// default 32 shards (2 workers) with the Citus reaper (delete by primary
// key, DeleteExpiredBatchByKey), one 4-hour slice of expiries (~83,000
// rows) per run and batch size, and reports rows/s. Seeding (a few
// minutes) is not timed. Needs a cluster:
//
//	SQLSESSION_TEST_CITUS_DSN=... go test -run '^$' -bench ReapCitus -benchtime 1x -timeout 30m ./cmd/sess-gc
func BenchmarkReapCitus(b *testing.B) {
	e := pgtest.NewOn(b, pgtest.CitusDSN(b))
	ctx := context.Background()
	u, err := url.Parse(e.DSN)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("citus.shard_count", "32") // Citus's default, not the tests' 4
	u.RawQuery = q.Encode()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	if err := db.Migrate(ctx, sqlDB, db.Postgres); err != nil {
		b.Fatal(err)
	}
	if err := db.Distribute(ctx, sqlDB); err != nil {
		b.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	start := time.Now()
	if _, err := pool.Exec(ctx, `INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
		 SELECT sha256(('s' || i)::bytea),
		        jsonb_build_object('cookie', jsonb_build_object('originalMaxAge', 86400000, 'expires', '2026-01-01T00:00:00.000Z', 'httpOnly', true, 'path', '/', 'sameSite', 'lax'),
		                           'user', 'user' || i || '@example.com', 'csrf', md5(i::text), 'flash', repeat('x', 120)),
		        $1::timestamptz + ((i::bigint * 7919) % $2) * interval '1 second' - $3 * interval '1 second',
		        $1::timestamptz - interval '2 days', CASE WHEN i % 3 = 0 THEN 'user' || i END
		 FROM generate_series(0, $4 - 1) i`,
		now, int64(realSpan/time.Second), int64(realPast/time.Second), citusRows); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE http_sessions`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d distributed rows in %s", citusRows, time.Since(start).Round(time.Second))
	store := pgstore.New(pool)
	cut := now.Add(-realPast)
	for _, batch := range []int{1000, 1000, 5000, 5000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			for b.Loop() {
				cut = cut.Add(realSlice)
				res, err := sessions.ReapExpired(ctx, store, cut, batch)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(res.Deleted), "rows")
				b.ReportMetric(float64(res.Deleted)/res.Took.Seconds(), "rows/s")
			}
		})
	}
}
