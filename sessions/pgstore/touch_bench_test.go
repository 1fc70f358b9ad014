package pgstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// BenchmarkTouchWAL touches random sessions of a 100,000-row table and
// reports the WAL written per touch (pg_current_wal_lsn before and after;
// the server's other traffic counts too, so run it on a quiet server),
// and the share of HOT updates, on today's schema (expires_bucket indexed)
// and on it with expires_at indexed as schema version 1 had it.
//
//	SQLSESSION_TEST_POSTGRES_DSN=... go test -run '^$' -bench TouchWAL -benchtime 20000x ./sessions/pgstore
func BenchmarkTouchWAL(b *testing.B) {
	for _, index := range []string{"expires_bucket", "expires_at"} {
		b.Run("indexed="+index, func(b *testing.B) {
			e := pgtest.New(b)
			if err := db.Migrate(context.Background(), e.DB, db.Postgres); err != nil {
				b.Fatal(err)
			}
			if index == "expires_at" {
				if _, err := e.DB.Exec(`CREATE INDEX ON http_sessions (expires_at)`); err != nil {
					b.Fatal(err)
				}
			}
			pool := singleConnPool(b, e.DSN, nil)
			ctx := context.Background()
			const n = 100_000
			base := time.Now().Truncate(15 * time.Minute).Add(24 * time.Hour)
			// About 360 bytes of data per row, as a logged-in session holds.
			if _, err := pool.Exec(ctx, `INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
				SELECT sha256(('touch-' || i)::bytea),
				       jsonb_build_object('cookie', jsonb_build_object('originalMaxAge', 86400000, 'expires', '2026-01-01T00:00:00.000Z', 'httpOnly', true, 'path', '/', 'sameSite', 'lax'),
				                          'user', 'user' || i || '@example.com', 'csrf', md5(i::text), 'flash', repeat('x', 120)),
				       $1::timestamptz, now(), 'user' || i
				FROM generate_series(0, $2 - 1) i`, base, n); err != nil {
				b.Fatal(err)
			}
			if _, err := pool.Exec(ctx, `VACUUM ANALYZE http_sessions`); err != nil {
				b.Fatal(err)
			}
			s := pgstore.New(pool)
			rng := rand.New(rand.NewPCG(1, 2))
			hot0, upd0 := hotUpdates(b, pool, 0, false)
			var lsn0, lsn1 int64
			if err := pool.QueryRow(ctx, `SELECT pg_current_wal_lsn() - '0/0'`).Scan(&lsn0); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				h := sessions.HashID(fmt.Sprint("touch-", rng.IntN(n)))
				if err := s.Touch(ctx, h, base.Add(time.Duration(i+1)*time.Millisecond), nil, base.Add(-time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := pool.QueryRow(ctx, `SELECT pg_current_wal_lsn() - '0/0'`).Scan(&lsn1); err != nil {
				b.Fatal(err)
			}
			hot, upd := hotUpdates(b, pool, upd0+int64(b.N), false)
			b.ReportMetric(float64(lsn1-lsn0)/float64(b.N), "WAL-B/touch")
			b.ReportMetric(100*float64(hot-hot0)/float64(upd-upd0), "%HOT")
		})
	}
}
