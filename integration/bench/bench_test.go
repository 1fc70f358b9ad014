package bench

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	scsmem "github.com/alexedwards/scs/v2/memstore"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
)

// cookiesFor creates n sessions through the stack's login route and
// returns their Cookie headers.
func cookiesFor(b *testing.B, s stack, n int) []string {
	b.Helper()
	out := make([]string, 0, n)
	for range n {
		w := httptest.NewRecorder()
		s.handlers[routeNewSession].ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		sc := w.Header().Get("Set-Cookie")
		if w.Code != 200 || sc == "" {
			b.Fatalf("%s: login: status %d, Set-Cookie %q, body %q", s.name, w.Code, sc, w.Body.String())
		}
		pair, _, _ := strings.Cut(sc, ";")
		out = append(out, pair)
	}
	return out
}

// BenchmarkStacks runs every route on every stack, under concurrent load
// (RunParallel, 4 goroutines per CPU), spreading requests over 64 sessions.
// Besides ns/op and allocs/op it reports req/s, p50 and p99 latency, and
// SQL statements per request.
func BenchmarkStacks(b *testing.B) {
	for _, s := range allStacks(b) {
		cookies := cookiesFor(b, s, 64)
		for _, route := range routes {
			b.Run(strings.NewReplacer(" ", "", "(", "", ")", "", "/", "_", "+", "_").Replace(s.name)+"/"+route, func(b *testing.B) {
				h := s.handlers[route]
				settle(b, s.pool)
				warmUp(h, cookies)
				var next atomic.Int64
				var mu sync.Mutex
				var lat []time.Duration
				b.SetParallelism(4)
				b.ReportAllocs()
				s.stmts.n.Store(0)
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					local := make([]time.Duration, 0, 1024)
					for pb.Next() {
						r := httptest.NewRequest("GET", "/", nil)
						if route != routeNewSession {
							r.Header.Set("Cookie", cookies[next.Add(1)%int64(len(cookies))])
						}
						w := httptest.NewRecorder()
						t0 := time.Now()
						h.ServeHTTP(w, r)
						local = append(local, time.Since(t0))
						if w.Code != 200 {
							b.Errorf("status %d: %s", w.Code, w.Body.String())
							return
						}
					}
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
				})
				elapsed := time.Since(start)
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				}
				b.ReportMetric(float64(s.stmts.n.Load())/float64(b.N), "sql/req")
			})
		}
	}
}

// BenchmarkMiddlewareMemory is the middleware's own overhead: a session
// read on an in-memory store, sqlsession vs scs.
func BenchmarkMiddlewareMemory(b *testing.B) {
	read := func(get func(r *http.Request) string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(get(r)[:1])) }
	}
	quiet := slog.New(slog.DiscardHandler)
	m, err := sessions.New(memstore.NewWithOptions(memstore.Options{Logger: quiet}), sessions.Options{Secrets: []string{"s"}, Logger: quiet, TouchAfter: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	sqlsessionLogin := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = sessions.FromContext(r.Context()).Set("user", "u") }))
	sqlsessionRead := m.Handler(read(func(r *http.Request) string {
		var u string
		_, _ = sessions.FromContext(r.Context()).Get("user", &u)
		return u
	}))
	sm := scs.New()
	sm.Store = scsmem.NewWithCleanupInterval(0)
	sm.Cookie.Name = "sid"
	scsLogin := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sm.Put(r.Context(), "user", "u") }))
	scsRead := sm.LoadAndSave(read(func(r *http.Request) string { return sm.GetString(r.Context(), "user") }))

	for _, c := range []struct {
		name        string
		login, read http.Handler
	}{{"sqlsession", sqlsessionLogin, sqlsessionRead}, {"scs", scsLogin, scsRead}} {
		b.Run(c.name, func(b *testing.B) {
			w := httptest.NewRecorder()
			c.login.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			cookie, _, _ := strings.Cut(w.Header().Get("Set-Cookie"), ";")
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Cookie", cookie)
				w := httptest.NewRecorder()
				c.read.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// warmUp fills the pool's connections before measuring.
func warmUp(h http.Handler, cookies []string) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 8 {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Cookie", cookies[(i*8+j)%len(cookies)])
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
	wg.Wait()
}

// settle flushes what earlier benchmarks left behind (dead rows, dirty
// pages), so that one stack's writes do not pay for another's.
func settle(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	for _, sql := range []string{"VACUUM", "CHECKPOINT"} {
		if _, err := pool.Exec(context.Background(), sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
}
