package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/cookiesig"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// scaleConfig is the shape of one BenchmarkScaleCurve run, from the
// environment.
type scaleConfig struct {
	config           // BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (2), BENCH_WORKERS (16)
	sizes   []int    // BENCH_SCALE_ROWS: the table sizes, comma-separated
	seeders int      // BENCH_SEED_WORKERS: INSERT … SELECT chunks seeded at once
	cookies int      // signed cookies of seeded sessions the read and write routes cycle through
	lock    string   // BENCH_LOCK: a file to flock while measuring (not while seeding)
	chunk   int64    // rows per seeding statement
	routes  []string // measured, in this order
}

func loadScaleConfig(b *testing.B) scaleConfig {
	b.Helper()
	cfg := scaleConfig{
		config: config{
			rounds:  int(envNumber("BENCH_ROUNDS", 3)),
			measure: time.Duration(envNumber("BENCH_SECONDS", 5) * float64(time.Second)),
			warmup:  time.Duration(envNumber("BENCH_WARMUP_SECONDS", 2) * float64(time.Second)),
			workers: int(envNumber("BENCH_WORKERS", 16)),
		},
		seeders: int(envNumber("BENCH_SEED_WORKERS", 2)),
		// More than a run's reads and writes: on tables of 1M rows and more the
		// cycle never wraps, so a write seldom finds a session written earlier in the run.
		cookies: 1_000_000,
		lock:    os.Getenv("BENCH_LOCK"),
		chunk:   250_000,
		routes:  []string{routeRead, routeWrite, routeNewSession},
	}
	sizes := cmp.Or(os.Getenv("BENCH_SCALE_ROWS"), "10000,1000000,10000000")
	for f := range strings.SplitSeq(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(f, "_", "")))
		if err != nil || n < 100 {
			b.Fatalf("BENCH_SCALE_ROWS=%q: %q is not a row count of at least 100", sizes, f)
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	return cfg
}

// Seeded sessions. Session i has the id scaleID(i), so the client can sign
// a cookie for any of them; its row is what express-session and this
// package store for a browser that has been around: the cookie JSON
// (maxAge 14 days), a CSRF token, a few preferences, a return path and a
// flash message (about 360 bytes of JSON text), and a user (data key and
// user_id column) on every third session. Each was last saved within the
// last 12 days — it expires 2 to 14 days after the seed, spread — and
// created up to a week before that. So none expires during the run, and a
// new session (DefaultTTL: one day) expires before every seeded one: the
// rows the new route adds are deleted before each measurement
// (scaleTable.trim), as the reaper would, and each table keeps its size.
const (
	scaleSecret = "bench secret: 32 bytes or more!!"
	scaleMaxAge = 14 * 24 * time.Hour // the seeded cookies' maxAge
	scaleFirst  = 2 * 24 * time.Hour  // the soonest seeded expiry, after the seed
	scaleSpread = scaleMaxAge - scaleFirst
	scaleSeed   = `INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
SELECT sha256(convert_to(id, 'UTF8')),
       jsonb_build_object(
           'cookie', jsonb_build_object('originalMaxAge', $6::bigint * 1000,
               'expires', to_char(exp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
               'secure', true, 'httpOnly', true, 'path', '/', 'sameSite', 'lax'),
           'csrf', md5(id), 'theme', 'dark', 'lang', 'en-GB',
           'returnTo', '/account/orders?page=' || i % 50 || '&sort=date',
           'flash', jsonb_build_object('info', 'Your preferences were saved. ' || repeat('.', (i % 40)::integer)))
         || CASE WHEN i % 3 = 0 THEN jsonb_build_object('user', 'user' || i || '@example.com') ELSE '{}' END,
       exp, exp - $6 * interval '1 second' - (i * 104729 % 604800) * interval '1 second',
       CASE WHEN i % 3 = 0 THEN 'user' || i END
FROM (SELECT i, 'scale' || lpad(i::text, 27, '0') AS id,
             $3::timestamptz + $4 * interval '1 second' + (i * 7919 % $5) * interval '1 second' AS exp
      FROM generate_series($1::bigint, $2::bigint - 1) i) s`
)

// scaleID is the id of seeded session i: 32 characters, as long as a
// generated one.
func scaleID(i int) string { return fmt.Sprintf("scale%027d", i) }

// scaleTable is one table size of BenchmarkScaleCurve: a private schema
// seeded with rows sessions, served by sqlsession + pgstore over HTTP.
type scaleTable struct {
	rows   int
	env    *pgtest.Env
	peer   peer
	seeded time.Time // the clock of the seed: every seeded row expires after seeded + scaleFirst
	// What seeding took: the INSERTs, the index builds, VACUUM ANALYZE and CHECKPOINT.
	insert, index, vacuum time.Duration
	// Sizes after seeding: table (heap, free space and visibility maps) and
	// indexes, in bytes, and the buffers one id lookup touches (the
	// primary key's levels plus the heap page).
	tableBytes, indexBytes int64
	lookupPages            int
}

// newScaleTable seeds a table of rows sessions (untimed) and serves it.
func newScaleTable(b *testing.B, rows int, cfg scaleConfig) *scaleTable {
	b.Helper()
	t := &scaleTable{rows: rows, env: testpg.Migrated(b), seeded: time.Now().Truncate(time.Second)}
	t.seed(b, cfg)
	t.measureSize(b)
	t.peer = serve(b, scaleStack(b, t.env))
	t.peer.client = benchClient(cfg.workers)
	t.peer.cookies = scaleCookies(min(rows, cfg.cookies), rows)
	t.peer.cursor = new(atomic.Int64) // each load continues where the last ended: the warm-up does not pre-load the measured rows
	b.Logf("%s rows: seeded in %v (insert %v, indexes %v, vacuum+checkpoint %v); table %s MB, indexes %s MB, %d buffers per lookup",
		num(float64(rows), 0), (t.insert + t.index + t.vacuum).Round(time.Second), t.insert.Round(time.Second),
		t.index.Round(time.Second), t.vacuum.Round(time.Second), mb(t.tableBytes), mb(t.indexBytes), t.lookupPages)
	return t
}

// seed fills the table as fast as Postgres allows without changing how it
// is stored (a logged table, its own fillfactor): the indexes are dropped,
// cfg.seeders connections insert chunks of generate_series, the indexes are
// rebuilt as they were, then VACUUM ANALYZE (visibility map, hint bits and
// statistics, as on a long-lived table) and a CHECKPOINT, so that the
// measurements do not write the seed's pages.
func (t *scaleTable) seed(b *testing.B, cfg scaleConfig) {
	b.Helper()
	ctx := context.Background()
	pool := t.env.Pool
	drop, create, err := indexDDL(ctx, pool)
	if err != nil {
		b.Fatalf("seed: %v", err)
	}
	for _, q := range drop {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatalf("seed: %s: %v", q, err)
		}
	}
	start := time.Now()
	if err := insertChunks(ctx, pool, t.rows, cfg, t.seeded); err != nil {
		b.Fatalf("seed: %v", err)
	}
	t.insert = time.Since(start)
	start = time.Now()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatalf("seed: %v", err)
	}
	defer conn.Release()
	// Session settings only: the server's configuration is not touched.
	for _, q := range append([]string{"SET maintenance_work_mem = '1GB'"}, create...) {
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatalf("seed: %s: %v", q, err)
		}
	}
	t.index = time.Since(start)
	start = time.Now()
	for _, q := range []string{"RESET maintenance_work_mem", "VACUUM ANALYZE http_sessions", "CHECKPOINT"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatalf("seed: %s: %v", q, err)
		}
	}
	t.vacuum = time.Since(start)
}

// indexDDL returns statements that drop every index of http_sessions (the
// primary key's constraint included) and statements that recreate them as
// they were, read from the catalog so that they follow the migrations.
func indexDDL(ctx context.Context, pool *pgxpool.Pool) (drop, create []string, err error) {
	rows, err := pool.Query(ctx, `SELECT c.relname, pg_get_indexdef(i.indexrelid), con.conname, pg_get_constraintdef(con.oid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
		WHERE i.indrelid = 'http_sessions'::regclass`)
	if err != nil {
		return nil, nil, fmt.Errorf("list indexes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var index, indexDef string
		var con, conDef *string
		if err := rows.Scan(&index, &indexDef, &con, &conDef); err != nil {
			return nil, nil, fmt.Errorf("list indexes: %w", err)
		}
		if con != nil {
			name := pgx.Identifier{*con}.Sanitize()
			drop = append(drop, "ALTER TABLE http_sessions DROP CONSTRAINT "+name)
			create = append(create, "ALTER TABLE http_sessions ADD CONSTRAINT "+name+" "+*conDef)
			continue
		}
		drop = append(drop, "DROP INDEX "+pgx.Identifier{index}.Sanitize())
		create = append(create, indexDef)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list indexes: %w", err)
	}
	return drop, create, nil
}

// insertChunks runs scaleSeed over [0, rows) in chunks of cfg.chunk rows,
// cfg.seeders at a time, each chunk its own transaction.
func insertChunks(ctx context.Context, pool *pgxpool.Pool, rows int, cfg scaleConfig, now time.Time) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	chunks := make(chan int64)
	var wg sync.WaitGroup
	for range max(cfg.seeders, 1) {
		wg.Go(func() {
			for lo := range chunks {
				hi := min(lo+cfg.chunk, int64(rows))
				if _, err := pool.Exec(ctx, scaleSeed, lo, hi, now,
					int64(scaleFirst/time.Second), int64(scaleSpread/time.Second), int64(scaleMaxAge/time.Second)); err != nil {
					cancel(fmt.Errorf("insert rows %d to %d: %w", lo, hi-1, err))
				}
			}
		})
	}
	for lo := int64(0); lo < int64(rows) && ctx.Err() == nil; lo += cfg.chunk {
		select {
		case chunks <- lo:
		case <-ctx.Done():
		}
	}
	close(chunks)
	wg.Wait()
	return context.Cause(ctx)
}

// measureSize reads the table's and its indexes' sizes and counts the
// buffers a lookup of one seeded session touches (EXPLAIN BUFFERS).
func (t *scaleTable) measureSize(b *testing.B) {
	b.Helper()
	ctx := context.Background()
	if err := t.env.Pool.QueryRow(ctx, `SELECT pg_table_size('http_sessions'), pg_indexes_size('http_sessions')`).
		Scan(&t.tableBytes, &t.indexBytes); err != nil {
		b.Fatalf("sizes: %v", err)
	}
	var plan []struct {
		Plan struct {
			Hit  int `json:"Shared Hit Blocks"`
			Read int `json:"Shared Read Blocks"`
		}
	}
	// The id is a literal of digits (scaleID): nothing to escape.
	q := fmt.Sprintf(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT data FROM http_sessions
		WHERE id_hash = sha256(convert_to('%s', 'UTF8')) AND expires_at > now()`, scaleID(t.rows/2))
	var out []byte
	if err := t.env.Pool.QueryRow(ctx, q).Scan(&out); err != nil {
		b.Fatalf("explain: %v", err)
	}
	if err := json.Unmarshal(out, &plan); err != nil || len(plan) != 1 {
		b.Fatalf("explain: %v: %s", err, out)
	}
	t.lookupPages = plan[0].Plan.Hit + plan[0].Plan.Read
}

// scaleStack is sqlsession + pgstore with default options on the seeded
// schema. The read and write routes answer 500 when the request's session
// is not a seeded one (every seeded session has a "csrf" value): a cookie
// that did not load would otherwise be measured as a cheap new session.
//
// The read is Passive: the load alone, one statement at every size. With
// the defaults, a session last saved more than TouchAfter (a minute) ago is
// also touched on its first read — its expiry moved, like the write's — and
// the seeded sessions, drawn at random from millions, always are: without
// Passive the read would measure the touch at 1M and 10M rows and not at
// 10k, where the same sessions come back within the minute (BenchmarkPeers'
// read is the load alone for that reason).
func scaleStack(b *testing.B, e *pgtest.Env) goStack {
	b.Helper()
	pool, c := newPool(b, e)
	m, err := sessions.New(pgstore.New(pool), sessions.Options{Secrets: []string{scaleSecret}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	seeded := func(w http.ResponseWriter, r *http.Request) (*sessions.Session, bool) {
		s := sessions.FromContext(r.Context())
		var csrf string
		if ok, err := s.Get("csrf", &csrf); !ok || err != nil {
			http.Error(w, fmt.Sprintf("not a seeded session (%v)", err), http.StatusInternalServerError)
			return nil, false
		}
		return s, true
	}
	return goStack{name: "sqlsession + pgstore", stmts: c, pool: pool, tables: []string{"http_sessions"}, routes: map[string]http.Handler{
		routeRead: m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s, ok := seeded(w, r); ok {
				s.Passive()
				var u string
				_, _ = s.Get("user", &u)
				_, _ = w.Write([]byte(u))
			}
		})),
		routeWrite: m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s, ok := seeded(w, r); ok {
				var n int
				_, _ = s.Get("n", &n)
				_ = s.Set("n", n+1)
			}
		})),
		routeNewSession: m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = sessions.FromContext(r.Context()).Set("user", "u")
		})),
	}}
}

// scaleCookies signs, as sessions.Manager does, the cookies of n seeded
// sessions drawn at random from the whole table, so that the reads and
// writes land all over the heap and the indexes.
func scaleCookies(n, rows int) []string {
	signer := cookiesig.NewSigner(scaleSecret)
	rng := rand.New(rand.NewPCG(uint64(rows), 21))
	out := make([]string, n)
	for k := range out {
		out[k] = sessions.DefaultName + "=" + url.QueryEscape("s:"+signer.Sign(scaleID(rng.IntN(rows))))
	}
	return out
}

// trim deletes the sessions the new route created (each expires before
// every seeded one; the expiry bucket's index finds them), as a reaper
// would, so that the table keeps its size from one measurement to the next.
func (t *scaleTable) trim(b *testing.B) {
	b.Helper()
	if _, err := t.env.Pool.Exec(context.Background(), `DELETE FROM http_sessions WHERE expires_bucket < $1`,
		t.seeded.Add(scaleFirst-time.Hour)); err != nil {
		b.Fatalf("trim: %v", err)
	}
}

// tableStats are the shared_buffers hits and misses (blocks read from the
// operating system: its page cache or the disk) of the table and its
// indexes so far, from pg_statio_user_tables, and its updates and HOT
// updates, from pg_stat_user_tables.
type tableStats struct{ hit, read, upd, hot int64 }

func (t *scaleTable) stats(b *testing.B) tableStats {
	b.Helper()
	var s tableStats
	if err := t.env.Pool.QueryRow(context.Background(), `SELECT coalesce(io.heap_blks_hit, 0) + coalesce(io.idx_blks_hit, 0),
		coalesce(io.heap_blks_read, 0) + coalesce(io.idx_blks_read, 0), st.n_tup_upd, st.n_tup_hot_upd
		FROM pg_statio_user_tables io JOIN pg_stat_user_tables st USING (relid) WHERE relid = 'http_sessions'::regclass`).
		Scan(&s.hit, &s.read, &s.upd, &s.hot); err != nil {
		b.Fatalf("table statistics: %v", err)
	}
	return s
}

// statsFlush is how long a backend may keep its statistics before they
// reach pg_statio (PostgreSQL 15 flushes them at most once a second, and
// within a second of going idle).
const statsFlush = 2 * time.Second

// scaleSample is one measurement of one route on one table size.
type scaleSample struct {
	sample
	hitPct, missesPerReq float64 // shared_buffers hit ratio (%), misses per request
	hotPct               float64 // HOT updates of all updates (%); -1: no update
}

// measure trims and settles the table, warms up, then loads route for
// cfg.measure, with the table statistics of the measured requests.
func (t *scaleTable) measure(b *testing.B, route string, cfg scaleConfig) scaleSample {
	b.Helper()
	t.trim(b)
	t.peer.settle(b)
	t.peer.load(b, route, cfg.workers, cfg.warmup)
	time.Sleep(statsFlush)
	s0 := t.stats(b)
	s := t.peer.run(b, route, cfg.config)
	time.Sleep(statsFlush)
	s1 := t.stats(b)
	n := s.rps * cfg.measure.Seconds() // requests, near enough for a per-request figure
	hit, read := float64(s1.hit-s0.hit), float64(s1.read-s0.read)
	hot := -1.0
	if upd := s1.upd - s0.upd; upd > 0 {
		hot = 100 * float64(s1.hot-s0.hot) / float64(upd)
	}
	return scaleSample{sample: s, hitPct: 100 * hit / max(hit+read, 1), missesPerReq: read / max(n, 1), hotPct: hot}
}

// lockBench waits for an exclusive flock on path (BENCH_LOCK), held until
// the benchmark ends, so that benchmarks sharing a machine never measure at
// the same time. No path: no lock.
func lockBench(b *testing.B, path string) {
	b.Helper()
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		b.Fatalf("BENCH_LOCK: %v", err)
	}
	b.Logf("waiting for the lock %s", path)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		b.Fatalf("BENCH_LOCK: flock %s: %v", path, err)
	}
	b.Cleanup(func() { _ = f.Close() }) // closing releases the lock
}

// loadAverage is the first field of /proc/loadavg, or "?".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f, _, _ := strings.Cut(string(data), " ")
	return f
}

// BenchmarkScaleCurve is `make bench-scale`: what a read (a session loaded,
// unchanged), a write (one key changed) and a new session (login) cost
// through sqlsession + pgstore over real HTTP as the table grows — 10,000,
// 1,000,000 and 10,000,000 sessions by default (BENCH_SCALE_ROWS). Each
// size is its own schema, seeded server-side before anything is measured
// (10M rows take about 5 GB and a few minutes); the sizes are then measured
// interleaved, round by round and route by route, the order rotating each
// round, so machine noise hits them alike. Reads and writes pick seeded
// sessions at random across the whole table. It prints Markdown tables of
// the medians; the schemas are dropped at the end. Run it with -benchtime
// 1x; BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (2),
// BENCH_WORKERS (16), BENCH_SEED_WORKERS (2) and BENCH_LOCK tune it.
func BenchmarkScaleCurve(b *testing.B) {
	cfg := loadScaleConfig(b)
	tables := make([]*scaleTable, len(cfg.sizes))
	for i, n := range cfg.sizes {
		tables[i] = newScaleTable(b, n, cfg)
	}
	lockBench(b, cfg.lock)
	load0 := loadAverage()
	for _, route := range cfg.routes { // first load of every route (pools, plans), not measured
		for _, t := range tables {
			t.peer.load(b, route, cfg.workers, cfg.warmup)
		}
	}
	res := make(map[string][][]scaleSample, len(cfg.routes)) // route → size → rounds
	for _, route := range cfg.routes {
		res[route] = make([][]scaleSample, len(tables))
	}
	for b.Loop() {
		for round := range cfg.rounds {
			for _, route := range cfg.routes {
				for k := range tables {
					i := (k + round) % len(tables)
					res[route][i] = append(res[route][i], tables[i].measure(b, route, cfg))
				}
			}
		}
	}
	reportScale(os.Stdout, b, cfg, tables, res, load0+" at the start, "+loadAverage()+" at the end")
}
