package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
)

// config is the shape of one BenchmarkPeers run, from the environment.
type config struct {
	rounds   int           // BENCH_ROUNDS: interleaved rounds
	measure  time.Duration // BENCH_SECONDS: measured time per route, stack and round
	warmup   time.Duration // BENCH_WARMUP_SECONDS: unmeasured load before each measurement
	workers  int           // BENCH_WORKERS: concurrent clients, one keep-alive connection each
	sessions int           // sessions the read and write routes spread over
}

func envNumber(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		return v
	}
	return def
}

func loadConfig() config {
	return config{
		rounds:   int(envNumber("BENCH_ROUNDS", 9)),
		measure:  time.Duration(envNumber("BENCH_SECONDS", 1) * float64(time.Second)),
		warmup:   time.Duration(envNumber("BENCH_WARMUP_SECONDS", 0.25) * float64(time.Second)),
		workers:  int(envNumber("BENCH_WORKERS", 16)),
		sessions: 64,
	}
}

// peer is one stack as the load generator sees it: a base URL over real
// HTTP, a statement count, and the tables to VACUUM between measurements.
type peer struct {
	name       string
	base       string
	inproc     http.Handler // the Go stacks' mux, for allocation counts; nil for node
	statements func() int64
	admin      *pgxpool.Pool
	tables     []string
	client     *http.Client
	cookies    []string
	app        string // application_name of its Postgres connections
	proc       int    // its server process when not this one (node), else 0
	// cursor, when set, is where the next load continues in cookies;
	// otherwise every load starts again at the first.
	cursor *atomic.Int64
}

// serve puts a Go stack's routes on a loopback http.Server.
func serve(b *testing.B, s goStack) peer {
	b.Helper()
	mux := http.NewServeMux()
	for route, h := range s.routes {
		mux.Handle("GET /"+route, h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	goLabelled(s.name, func() { _ = srv.Serve(ln) }) // its connections' CPU is told apart (servercpu_test.go)
	b.Cleanup(func() { _ = srv.Close() })
	var app string
	if err := s.pool.QueryRow(context.Background(), "SELECT current_setting('application_name')").Scan(&app); err != nil {
		b.Fatal(err)
	}
	return peer{name: s.name, base: "http://" + ln.Addr().String(), inproc: mux,
		statements: s.stmts.n.Load, admin: s.pool, tables: s.tables, app: app}
}

// login creates n sessions through the peer's /new route and keeps their
// Cookie header values.
func (p *peer) login(b *testing.B, n int) {
	b.Helper()
	for range n {
		resp, err := p.client.Get(p.base + "/new")
		if err != nil {
			b.Fatalf("%s: login: %v", p.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sc := resp.Header.Get("Set-Cookie")
		if resp.StatusCode != http.StatusOK || sc == "" {
			b.Fatalf("%s: login: status %d, Set-Cookie %q, body %q", p.name, resp.StatusCode, sc, body)
		}
		pair, _, _ := strings.Cut(sc, ";")
		p.cookies = append(p.cookies, pair)
	}
}

// settle flushes what earlier measurements left behind (dead rows, dirty
// pages), so that one stack's writes do not pay for another's.
func (p *peer) settle(b *testing.B) {
	b.Helper()
	for _, sql := range append(slices.Clone(p.tables), "") {
		stmt := "CHECKPOINT"
		if sql != "" {
			stmt = "VACUUM " + sql
		}
		if _, err := p.admin.Exec(context.Background(), stmt); err != nil {
			b.Fatalf("%s: %s: %v", p.name, stmt, err)
		}
	}
}

// sample is one measurement of one route on one stack.
type sample struct {
	rps, p50, p99, sql float64 // req/s, µs, µs, statements per request
	pgCPU, appCPU      float64 // µs of CPU per request: Postgres; the stack and the client
	srvCPU             float64 // µs of CPU per request of a Go stack's server goroutines; -1: not measured
}

// measure settles, warms up, then loads route for cfg.measure.
func (p *peer) measure(b *testing.B, route string, cfg config) sample {
	b.Helper()
	p.settle(b)
	p.load(b, route, cfg.workers, cfg.warmup)
	return p.run(b, route, cfg)
}

// run loads route for cfg.measure and measures it: throughput, latency,
// statements and CPU per request.
func (p *peer) run(b *testing.B, route string, cfg config) sample {
	b.Helper()
	s0 := p.statements()
	pids := p.backends(b)
	var sc serverCPU
	if p.inproc != nil {
		sc.start()
	}
	c0 := p.cpu(pids)
	n, elapsed, lat := p.load(b, route, cfg.workers, cfg.measure)
	c1 := p.cpu(pids)
	srv := -1.0
	if p.inproc != nil {
		if ns := sc.stop(p.name); ns >= 0 {
			srv = ns / float64(n) / 1e3
		}
	}
	sql := p.statements() - s0
	return sample{
		pgCPU:  float64(c1.pg-c0.pg) / float64(n) / 1e3,
		appCPU: float64(c1.app-c0.app) / float64(n) / 1e3,
		srvCPU: srv,
		rps:    float64(n) / elapsed.Seconds(),
		p50:    float64(lat[len(lat)/2].Nanoseconds()) / 1e3,
		p99:    float64(lat[len(lat)*99/100].Nanoseconds()) / 1e3,
		sql:    float64(sql) / float64(n),
	}
}

// load runs workers concurrent clients against route for d: each starts
// requests until d has passed; every request started is completed and
// counted. It returns the count, the time until the last one ended, and
// the sorted latencies.
func (p *peer) load(b *testing.B, route string, workers int, d time.Duration) (int, time.Duration, []time.Duration) {
	b.Helper()
	next := p.cursor
	if next == nil {
		next = new(atomic.Int64)
	}
	var mu sync.Mutex
	var all []time.Duration
	var failed atomic.Value
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) && failed.Load() == nil {
				t0 := time.Now()
				if err := p.get(route, p.cookies[next.Add(1)%int64(len(p.cookies))]); err != nil {
					failed.Store(err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := failed.Load(); err != nil {
		b.Fatalf("%s /%s: %v", p.name, route, err)
	}
	slices.Sort(all)
	return len(all), elapsed, all
}

func (p *peer) get(route, cookie string) error {
	req, err := http.NewRequest(http.MethodGet, p.base+"/"+route, nil)
	if err != nil {
		return err
	}
	if route != routeNewSession {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return nil
}

// discardWriter is a ResponseWriter that keeps nothing but the status.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// allocsPerRequest is what a Go stack allocates serving route in-process
// (its handler, the middleware and pgx; not net/http's request parsing),
// serially, averaged over 200 requests. Every request is a fresh copy of
// one template (gorilla caches the session in the request it is given); the
// copy's own allocations are measured alone and subtracted.
func (p *peer) allocsPerRequest(b *testing.B, route string) float64 {
	b.Helper()
	tmpl := httptest.NewRequest(http.MethodGet, "/"+route, nil)
	if route != routeNewSession {
		tmpl.Header.Set("Cookie", p.cookies[0])
	}
	w := &discardWriter{h: http.Header{}}
	serve := true
	run := func() {
		r := new(http.Request)
		*r = *tmpl
		if serve {
			clear(w.h)
			w.code = http.StatusOK
			p.inproc.ServeHTTP(w, r)
		}
	}
	total := testing.AllocsPerRun(200, run)
	if w.code != http.StatusOK {
		b.Fatalf("%s /%s in-process: status %d", p.name, route, w.code)
	}
	serve = false
	return total - testing.AllocsPerRun(200, run)
}

// benchClient is the load generator's HTTP client: one keep-alive
// connection per worker.
func benchClient(workers int) *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers, DisableCompression: true}}
}

// BenchmarkPeers is `make bench`: every stack over real HTTP on loopback,
// interleaved — round by round, route by route, each stack in turn (the
// order rotating each round) — so machine noise hits all stacks alike. It
// prints Markdown tables of the medians and the #21 targets. Run it with
// -benchtime 1x; BENCH_ROUNDS, BENCH_SECONDS, BENCH_WORKERS tune it.
func BenchmarkPeers(b *testing.B) {
	cfg := loadConfig()
	peers := []peer{serve(b, ceilingStack(b)), serve(b, sqlsessionStack(b)), serve(b, scsStack(b)), serve(b, gorillaStack(b)), serve(b, ownSQLStack(b))}
	if p, ok := expressStack(b); ok {
		peers = append(peers, p)
	}
	for i := range peers {
		peers[i].client = benchClient(cfg.workers)
		peers[i].login(b, cfg.sessions)
	}
	for _, route := range routes { // first load of every route (pools, JIT), not measured
		for i := range peers {
			peers[i].load(b, route, cfg.workers, 2*cfg.warmup)
		}
	}
	res := make(map[string][][]sample, len(routes)) // route → peer → rounds
	for _, route := range routes {
		res[route] = make([][]sample, len(peers))
	}
	for b.Loop() {
		for round := range cfg.rounds {
			for _, route := range routes {
				for k := range peers {
					i := (k + round) % len(peers)
					res[route][i] = append(res[route][i], peers[i].measure(b, route, cfg))
				}
			}
		}
	}
	allocs := map[string][]float64{}
	for _, route := range routes {
		for i := range peers {
			a := -1.0
			if peers[i].inproc != nil {
				a = peers[i].allocsPerRequest(b, route)
			}
			allocs[route] = append(allocs[route], a)
		}
	}
	report(os.Stdout, b, cfg, peers, res, allocs)
}

func machine(b *testing.B) string {
	cpu := "?"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	var pg string
	dsn := testpg.ServerDSN(b)
	if c, err := pgxpool.New(context.Background(), dsn); err == nil {
		_ = c.QueryRow(context.Background(), "SHOW server_version").Scan(&pg)
		c.Close()
	}
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS %d), %s, PostgreSQL %s on the same host (TCP 127.0.0.1)",
		cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), pg)
}
