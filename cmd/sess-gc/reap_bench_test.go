package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/internal/pgdb"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// The realistic table: realRows sessions of ~360 bytes whose expiries are
// spread over realSpan, starting realPast before the benchmark's clock, so
// a third of them are expired. Row i expires at offset(i): consecutive rows
// expire hours apart, so expired rows are scattered through the heap, and a
// quarter of the rows are then updated (moved) once, as a long-lived table's
// are.
const (
	realRows = 2_000_000
	realSpan = 48 * time.Hour
	realPast = 16 * time.Hour
	// Each sub-benchmark reaps the next realSlice of expiries (1/12 of the
	// table: ~167,000 rows).
	realSlice = 4 * time.Hour
	// Live traffic: trafficWorkers goroutines, each doing Load+Touch of a
	// random live session every trafficEvery.
	trafficWorkers = 4
	trafficEvery   = 5 * time.Millisecond
	idleWindow     = 3 * time.Second
)

func offset(i int) time.Duration {
	return time.Duration(i*7919%int(realSpan/time.Second))*time.Second - realPast
}

// BenchmarkReapRealistic reaps a realistic 2,000,000-row table (expired
// rows scattered through the heap, see realRows) with several batch sizes,
// the reaper session's wal_compression and a WAL budget
// (sessions.ReapOptions.WALRate), see reapConfigs, while live traffic
// (Load+Touch) runs, and reports the reaper's rows/s, WAL per reaped row,
// and the traffic's p50/p99 while idle and while reaping; it logs what the
// live backends waited for in both windows (pg_stat_activity sampled every
// millisecond). Each run starts after a CHECKPOINT (so every page the
// reaper changes costs a full-page image, the worst case). Seeding (about
// a minute) is not timed. It also times sess-gc's table probe and the
// admin-only Count scan on that table. Run it alone:
//
//	SQLSESSION_TEST_POSTGRES_DSN=... go test -run '^$' -bench ReapRealistic -benchtime 1x -timeout 30m ./cmd/sess-gc
func BenchmarkReapRealistic(b *testing.B) {
	e := pgtest.Migrated(b)
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	seedRealistic(b, e.Pool, now)
	live := liveStore(b, e.DSN)
	// What sess-gc's table probe costs, and what the admin-only Count scan
	// costs, on this table.
	b.Run("probe", func(b *testing.B) {
		for b.Loop() {
			if err := pgdb.New(e.Pool).ProbeTable(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("count", func(b *testing.B) {
		for b.Loop() {
			if _, err := pgdb.New(e.Pool).CountLive(ctx, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	cut := now.Add(-realPast)
	for _, c := range reapConfigs(b) {
		b.Run(c.name(), func(b *testing.B) {
			pool := reaperPool(b, e.DSN, c.walCompression, c.syncCommit)
			for b.Loop() {
				cut = cut.Add(realSlice)
				logPages(b, e.Pool, cut)
				if _, err := e.Pool.Exec(ctx, `CHECKPOINT`); err != nil {
					b.Fatal(err)
				}
				r := reapUnderTraffic(b, pool, live, cut, c, now)
				b.ReportMetric(r.rowsPerSec, "rows/s")
				b.ReportMetric(r.walPerRow, "WAL-B/row")
				b.ReportMetric(float64(r.idle.p50.Microseconds()), "idle-p50-µs")
				b.ReportMetric(float64(r.idle.p99.Microseconds()), "idle-p99-µs")
				b.ReportMetric(float64(r.reap.p50.Microseconds()), "reap-p50-µs")
				b.ReportMetric(float64(r.reap.p99.Microseconds()), "reap-p99-µs")
				b.ReportMetric(float64(r.reap.p99)/float64(r.idle.p99), "p99-ratio")
			}
		})
	}
}

// reapConfig is one run of BenchmarkReapRealistic.
type reapConfig struct {
	batch          int
	walCompression string // the reaper session's wal_compression
	walRate        int64  // sessions.ReapOptions.WALRate, bytes/s; 0: unpaced
	syncCommit     string // the reaper session's synchronous_commit; "" for the server's
}

func (c reapConfig) name() string {
	name := fmt.Sprintf("batch=%d/wal_compression=%s/wal_rate=%dMB", c.batch, c.walCompression, c.walRate>>20)
	if c.syncCommit != "" {
		name += "/synchronous_commit=" + c.syncCommit
	}
	return name
}

// defaultReapConfigs are the runs of BenchmarkReapRealistic, each on the
// next slice of expiries (at most 9 fit before the traffic's sessions).
var defaultReapConfigs = []reapConfig{
	{1000, "off", 0, ""}, {1000, "lz4", 0, ""}, {1000, "lz4", 32 << 20, ""}, {1000, "lz4", 16 << 20, ""}, {100, "off", 0, ""},
	{1000, "off", 0, ""}, {1000, "lz4", 0, ""}, {1000, "lz4", 32 << 20, ""}, {1000, "lz4", 16 << 20, ""},
}

// reapConfigs are defaultReapConfigs, or those SQLSESSION_REAP_CONFIGS
// lists ("batch/wal_compression/wal_rate_MB[/synchronous_commit]"
// separated by spaces, e.g. "1000/off/0 100/lz4/96/off"; at most 9).
func reapConfigs(b *testing.B) []reapConfig {
	spec := os.Getenv("SQLSESSION_REAP_CONFIGS")
	if spec == "" {
		return defaultReapConfigs
	}
	var out []reapConfig
	for _, f := range strings.Fields(spec) {
		var c reapConfig
		var mb int64
		parts := strings.Split(f, "/")
		if len(parts) == 4 {
			c.syncCommit = parts[3]
			parts = parts[:3]
		}
		if _, err := fmt.Sscanf(strings.Join(parts, " "), "%d %s %d", &c.batch, &c.walCompression, &mb); err != nil {
			b.Fatalf("SQLSESSION_REAP_CONFIGS: %q: %v", f, err)
		}
		c.walRate = mb << 20
		out = append(out, c)
	}
	if len(out) > 9 {
		b.Fatalf("SQLSESSION_REAP_CONFIGS: %d runs, at most 9 fit", len(out))
	}
	return out
}

// reaperPool is sess-gc's connection, with wal_compression set for its
// session (a superuser, or a role granted SET on it, may do that), and
// synchronous_commit when syncCommit is not empty.
func reaperPool(b *testing.B, dsn, walCompression, syncCommit string) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["wal_compression"] = walCompression
	if syncCommit != "" {
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = syncCommit
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// logPages logs how many rows expire by cut and on how many heap pages
// they are: each page costs one full-page image after a checkpoint,
// whatever order its rows are deleted in.
func logPages(b *testing.B, pool *pgxpool.Pool, cut time.Time) {
	b.Helper()
	var rows, pages int64
	if err := pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT (ctid::text::point)[0])
		FROM http_sessions WHERE expires_at <= $1`, cut).Scan(&rows, &pages); err != nil {
		b.Fatal(err)
	}
	b.Logf("expired by the cut: %d rows on %d heap pages (%.2f rows per page)", rows, pages, float64(rows)/float64(pages))
}

func seedRealistic(b *testing.B, pool *pgxpool.Pool, now time.Time) {
	b.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
		 SELECT sha256(('s' || i)::bytea),
		        jsonb_build_object('cookie', jsonb_build_object('originalMaxAge', 86400000, 'expires', '2026-01-01T00:00:00.000Z', 'httpOnly', true, 'path', '/', 'sameSite', 'lax'),
		                           'user', 'user' || i || '@example.com', 'csrf', md5(i::text), 'flash', repeat('x', 120)),
		        $1::timestamptz + ((i::bigint * 7919) % $2) * interval '1 second' - $3 * interval '1 second',
		        $1::timestamptz - interval '2 days', CASE WHEN i % 3 = 0 THEN 'user' || i END
		 FROM generate_series(0, $4 - 1) i`,
		// A quarter of the rows are written again (their new versions land
		// elsewhere in the heap), expiry unchanged.
		`UPDATE http_sessions SET data = data || '{"visits": 2}' WHERE get_byte(id_hash, 0) < 64`,
		`VACUUM ANALYZE http_sessions`,
	} {
		var args []any
		if strings.HasPrefix(q, "INSERT") {
			args = []any{now, int(realSpan / time.Second), int(realPast / time.Second), realRows}
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
}

// liveStore is the application's store: its own pool, so that the reaper
// and the traffic do not queue for the same connections.
func liveStore(b *testing.B, dsn string) sessions.Store {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = trafficWorkers
	cfg.ConnConfig.RuntimeParams["application_name"] = "live"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pgstore.New(pool)
}

type latencies struct{ p50, p99 time.Duration }

type reapRun struct {
	rowsPerSec, walPerRow float64
	idle, reap            latencies
}

// reapUnderTraffic measures the traffic for idleWindow, then reaps every
// row expiring by cut while the traffic goes on.
func reapUnderTraffic(b *testing.B, pool *pgxpool.Pool, live sessions.Store, cut time.Time, c reapConfig, now time.Time) reapRun {
	b.Helper()
	reaper := pgstore.New(pool)
	ctx, stop := context.WithCancel(context.Background())
	var (
		mu      sync.Mutex
		reaping bool
		idle    []time.Duration
		during  []time.Duration
		wg      sync.WaitGroup
	)
	record := func(d time.Duration) {
		mu.Lock()
		if reaping {
			during = append(during, d)
		} else {
			idle = append(idle, d)
		}
		mu.Unlock()
	}
	for w := range trafficWorkers {
		wg.Go(func() { traffic(ctx, b, live, w, now, record) })
	}
	idleWaits := sampleWaits(pool)
	time.Sleep(idleWindow)
	b.Logf("what the live backends waited for while idle (samples, by statement): %v", idleWaits())
	lsn0, ckpt0 := walLSN(b, pool), checkpoints(b, pool)
	mu.Lock()
	reaping = true
	mu.Unlock()
	waits := sampleWaits(pool)
	res, err := sessions.Reap(context.Background(), reaper, cut, sessions.ReapOptions{BatchSize: c.batch, WALRate: c.walRate})
	b.Logf("what the live backends waited for while reaping (samples, by statement): %v; batches %d, paused %s, checkpoints begun %d",
		waits(), res.Batches, res.Paused.Round(time.Millisecond), checkpoints(b, pool)-ckpt0)
	stop()
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	if res.Deleted < realRows/20 {
		b.Fatalf("reaped only %d rows", res.Deleted)
	}
	return reapRun{
		rowsPerSec: float64(res.Deleted) / res.Took.Seconds(),
		walPerRow:  float64(walLSN(b, pool)-lsn0) / float64(res.Deleted),
		idle:       percentiles(idle), reap: percentiles(during),
	}
}

// traffic loads and touches live sessions (ones expiring after the
// benchmark) every trafficEvery until ctx ends, recording each pair's time.
func traffic(ctx context.Context, b *testing.B, s sessions.Store, worker int, now time.Time, record func(time.Duration)) {
	t := time.NewTicker(trafficEvery)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		i := (worker*1_000_003 + n*7_777) % realRows
		for offset(i) < 20*time.Hour { // live for the whole benchmark
			i = (i + 1) % realRows
		}
		h := sessions.HashID(fmt.Sprint("s", i))
		start := time.Now()
		if _, err := s.Load(context.Background(), h, now); err != nil {
			b.Errorf("live Load: %v", err)
			return
		}
		if err := s.Touch(context.Background(), h, now.Add(offset(i)+time.Duration(n+1)*time.Millisecond), nil, now); err != nil {
			b.Errorf("live Touch: %v", err)
			return
		}
		record(time.Since(start))
	}
}

func percentiles(d []time.Duration) latencies {
	if len(d) == 0 {
		return latencies{}
	}
	slices.Sort(d)
	return latencies{p50: d[len(d)/2], p99: d[len(d)*99/100]}
}

// checkpoints is how many checkpoints the server has begun (timed or
// requested, by anyone: a checkpoint during a run makes pages changed
// again after it cost a second full-page image).
func checkpoints(b *testing.B, pool *pgxpool.Pool) int64 {
	b.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

func walLSN(b *testing.B, pool *pgxpool.Pool) int64 {
	b.Helper()
	var lsn int64
	if err := pool.QueryRow(context.Background(), `SELECT pg_current_wal_lsn() - '0/0'`).Scan(&lsn); err != nil {
		b.Fatal(err)
	}
	return lsn
}

// sampleWaits samples, every millisecond, what the live traffic's active
// backends wait for, by statement (the sqlc query's name, from
// pg_stat_activity.query) and wait_event ("cpu" when running),
// until the returned function is called, which returns the counts.
func sampleWaits(pool *pgxpool.Pool) func() map[string]int {
	ctx, cancel := context.WithCancel(context.Background())
	counts := map[string]int{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			rows, err := pool.Query(ctx, `SELECT coalesce(substring(query from '-- name: (\w+)'), 'other') || ' ' || coalesce(wait_event_type || ':' || wait_event, 'cpu')
				FROM pg_stat_activity WHERE application_name = 'live' AND state = 'active'`)
			if err != nil {
				return
			}
			for rows.Next() {
				var w string
				if rows.Scan(&w) == nil {
					counts[w]++
				}
			}
			rows.Close()
			time.Sleep(time.Millisecond)
		}
	})
	return func() map[string]int { cancel(); wg.Wait(); return counts }
}
