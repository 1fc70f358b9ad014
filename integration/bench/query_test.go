package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
)

// readVariant is one way of reading a live session row by id_hash.
type readVariant struct {
	name string
	sql  string
	now  bool // the statement takes the clock as $2 (a timestamptz parameter)
	scan func(row pgx.Row) error
}

// sqlcGetSession is db/queries' GetSession as generated at the time of #11
// (copied, so that this comparison does not change when the query does).
const sqlcGetSession = `SELECT data, expires_at, created_at, user_id
FROM http_sessions
WHERE id_hash = $1 AND expires_at > $2
`

func readVariants() []readVariant {
	var (
		data         []byte
		exp, created time.Time
		user         *string
		userText     pgtype.Text
	)
	return []readVariant{
		{"sqlc-GetSession", sqlcGetSession, true, func(r pgx.Row) error { return r.Scan(&data, &exp, &created, &user) }},
		{"lean", `SELECT data, expires_at FROM http_sessions WHERE id_hash = $1 AND expires_at > now()`, false,
			func(r pgx.Row) error { return r.Scan(&data, &exp) }},
		{"lean+param-now", `SELECT data, expires_at FROM http_sessions WHERE id_hash = $1 AND expires_at > $2`, true,
			func(r pgx.Row) error { return r.Scan(&data, &exp) }},
		{"lean+created_at", `SELECT data, expires_at, created_at FROM http_sessions WHERE id_hash = $1 AND expires_at > now()`, false,
			func(r pgx.Row) error { return r.Scan(&data, &exp, &created) }},
		{"lean+user_id-ptr", `SELECT data, expires_at, user_id FROM http_sessions WHERE id_hash = $1 AND expires_at > now()`, false,
			func(r pgx.Row) error { return r.Scan(&data, &exp, &user) }},
		{"lean+user_id-pgtype", `SELECT data, expires_at, user_id FROM http_sessions WHERE id_hash = $1 AND expires_at > now()`, false,
			func(r pgx.Row) error { return r.Scan(&data, &exp, &userText) }},
		{"4cols-db-now", `SELECT data, expires_at, created_at, user_id FROM http_sessions WHERE id_hash = $1 AND expires_at > now()`, false,
			func(r pgx.Row) error { return r.Scan(&data, &exp, &created, &user) }},
		{"data-only", `SELECT data FROM http_sessions WHERE id_hash = $1 AND expires_at > now()`, false,
			func(r pgx.Row) error { return r.Scan(&data) }},
	}
}

// BenchmarkReadQuery compares sqlc's GetSession with the lean read and with
// each of their differences alone (columns, the timestamptz parameter, the
// scan target of user_id), on a migrated http_sessions table of 64 rows as
// sqlsession writes them (a logged-in user: user_id set). Like
// BenchmarkPeers it interleaves: each round runs every variant in turn
// (8 goroutines on an 8-connection pool for BENCH_QUERY_SECONDS, then one
// goroutine for a third of that), and prints the medians as Markdown,
// with the CPU time per query of the 8 server processes (/proc/PID/schedstat)
// and of this process (getrusage).
// Run it with -benchtime 1x.
func BenchmarkReadQuery(b *testing.B) {
	pool, hashes, pids := readQuerySetup(b)
	rounds := int(envNumber("BENCH_ROUNDS", 9))
	d := time.Duration(envNumber("BENCH_QUERY_SECONDS", 1) * float64(time.Second))
	vs := readVariants()
	par := make([][]throughput, len(vs))
	ser := make([][]float64, len(vs))
	for b.Loop() {
		for round := range rounds {
			for k := range vs {
				i := (k + round) % len(vs)
				par[i] = append(par[i], queriesPerSecond(b, pool, hashes, pids, vs[i], 8, d))
				ser[i] = append(ser[i], 1e6/queriesPerSecond(b, pool, hashes, pids, vs[i], 1, d/3).qps)
			}
		}
	}
	lean := slices.IndexFunc(vs, func(v readVariant) bool { return v.name == "lean" })
	fmt.Printf("\n<!-- BenchmarkReadQuery output, %s; %d rounds of %v -->\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), rounds, d)
	fmt.Println("| variant | queries/s, 8 parallel | × lean | server CPU µs/query | Go CPU µs/query | serial µs/query | allocs/call | B/call |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for i, v := range vs {
		allocs, bytes := perCall(b, pool, hashes, v)
		ratios := make([]float64, len(par[i]))
		for r := range par[i] {
			ratios[r] = par[i][r].qps / par[lean][r].qps
		}
		pick := func(f func(throughput) float64) float64 {
			xs := make([]float64, len(par[i]))
			for r, t := range par[i] {
				xs[r] = f(t)
			}
			return median(xs)
		}
		fmt.Printf("| %s | %s | %.2f | %.1f | %.1f | %.1f | %.0f | %.0f |\n", v.name,
			num(pick(func(t throughput) float64 { return t.qps }), 0), median(ratios),
			pick(func(t throughput) float64 { return t.pgCPU }), pick(func(t throughput) float64 { return t.goCPU }),
			median(ser[i]), allocs, bytes)
	}
}

func readQuerySetup(b *testing.B) (*pgxpool.Pool, [][]byte, []int) {
	b.Helper()
	e := testpg.Migrated(b)
	cfg, err := pgxpool.ParseConfig(e.DSN)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns, cfg.MinConns = 8, 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	pids := backendPIDs(b, pool)
	hashes := make([][]byte, 64)
	for i := range hashes {
		h := sha256.Sum256(fmt.Appendf(nil, "session %d", i))
		hashes[i] = h[:]
		if _, err := pool.Exec(context.Background(), `INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
			VALUES ($1, '{"user":"alice","cookie":{"originalMaxAge":86400000,"expires":"2030-01-01T00:00:00.000Z","httpOnly":true,"path":"/"}}',
			now() + interval '1 day', now(), 'alice')`, h[:]); err != nil {
			b.Fatal(err)
		}
	}
	return pool, hashes, pids
}

// backendPIDs holds all 8 of the pool's connections at once and returns
// their server processes, whose CPU time cpuNanos reads.
func backendPIDs(b *testing.B, pool *pgxpool.Pool) []int {
	b.Helper()
	var pids []int
	for range 8 {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Release()
		var pid int
		if err := c.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			b.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// cpuNanos is the CPU time the server processes pids have used (Linux
// /proc/PID/schedstat; 0 when unreadable, e.g. a server on another host),
// and the CPU time of this process.
func cpuNanos(pids []int) (server, self int64) {
	for _, pid := range pids {
		server += schedNanos(fmt.Sprintf("/proc/%d/schedstat", pid))
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return server, ru.Utime.Nano() + ru.Stime.Nano()
}

func (v readVariant) query(ctx context.Context, pool *pgxpool.Pool, h []byte) error {
	if v.now {
		return v.scan(pool.QueryRow(ctx, v.sql, h, time.Now()))
	}
	return v.scan(pool.QueryRow(ctx, v.sql, h))
}

// throughput is one measurement of a variant.
type throughput struct {
	qps, pgCPU, goCPU float64 // queries/s; µs of server and of Go CPU per query
}

// queriesPerSecond runs v from workers goroutines for d.
func queriesPerSecond(b *testing.B, pool *pgxpool.Pool, hashes [][]byte, pids []int, v readVariant, workers int, d time.Duration) throughput {
	b.Helper()
	var total atomic.Int64
	pg0, go0 := cpuNanos(pids)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			n := 0
			for time.Now().Before(deadline) {
				if err := v.query(context.Background(), pool, hashes[(w*7+n)%len(hashes)]); err != nil {
					b.Errorf("%s: %v", v.name, err)
					return
				}
				n++
			}
			total.Add(int64(n))
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	pg1, go1 := cpuNanos(pids)
	n := float64(total.Load())
	return throughput{qps: n / elapsed.Seconds(), pgCPU: float64(pg1-pg0) / n / 1e3, goCPU: float64(go1-go0) / n / 1e3}
}

// perCall is the allocations and bytes of one call, serially, over 2,000.
func perCall(b *testing.B, pool *pgxpool.Pool, hashes [][]byte, v readVariant) (allocs, bytes float64) {
	b.Helper()
	const n = 2000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		if err := v.query(context.Background(), pool, hashes[i%len(hashes)]); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / n, float64(after.TotalAlloc-before.TotalAlloc) / n
}
