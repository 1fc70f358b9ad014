package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// BenchmarkReap1M reaps 1,000,000 expired rows (plus 10,000 live ones that
// must survive) on Postgres with several batch sizes. Seeding is not timed.
//
//	SQLSESSION_TEST_POSTGRES_DSN=... go test -run '^$' -bench Reap1M -benchtime 1x ./cmd/sess-gc
func BenchmarkReap1M(b *testing.B) {
	const dead, live = 1_000_000, 10_000
	e := pgtest.Migrated(b)
	store := pgstore.New(e.Pool)
	ctx := context.Background()
	for _, batch := range []int{100, 1000, 5000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var deleted int
			var took time.Duration
			for b.Loop() {
				b.StopTimer()
				if _, err := e.Pool.Exec(ctx, `TRUNCATE http_sessions`); err != nil {
					b.Fatal(err)
				}
				if _, err := e.Pool.Exec(ctx, `INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
					SELECT sha256(i::text::bytea), '{"cookie":{"originalMaxAge":null,"path":"/"},"user":"someone"}',
					       now() - (i % 86400) * interval '1 second', now() - interval '2 days'
					FROM generate_series(1, $1) i`, dead); err != nil {
					b.Fatal(err)
				}
				if _, err := e.Pool.Exec(ctx, `INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
					SELECT sha256(('live' || i)::bytea), '{}', now() + interval '1 day', now() FROM generate_series(1, $1) i`, live); err != nil {
					b.Fatal(err)
				}
				if _, err := e.Pool.Exec(ctx, `VACUUM ANALYZE http_sessions`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := sessions.ReapExpired(ctx, store, time.Now(), batch)
				if err != nil {
					b.Fatal(err)
				}
				deleted, took = res.Deleted, res.Took
			}
			if deleted != dead {
				b.Fatalf("deleted %d rows, want %d", deleted, dead)
			}
			var n int
			if err := e.Pool.QueryRow(ctx, `SELECT count(*) FROM http_sessions`).Scan(&n); err != nil || n != live {
				b.Fatalf("%d live rows left, want %d", n, live)
			}
			b.ReportMetric(float64(deleted)/took.Seconds(), "rows/s")
			b.ReportMetric(float64(took.Milliseconds())/float64(deleted/batch), "ms/batch")
		})
	}
}
