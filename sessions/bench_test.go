package sessions_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the middleware rather than httptest.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkMiddlewareRead is the middleware's own cost on a default-
// configured read (an in-memory store, one Get), against the bare handler.
func BenchmarkMiddlewareRead(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	m, err := sessions.New(memstore.NewWithOptions(memstore.Options{Logger: quiet}), sessions.Options{Secrets: []string{secret}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	login := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Set("user", "alice")
	}))
	rec := httptest.NewRecorder()
	login.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookie, _, _ := strings.Cut(rec.Header().Get("Set-Cookie"), ";")
	var user string
	read := func(w http.ResponseWriter, r *http.Request) {
		if s := sessions.FromContext(r.Context()); s != nil {
			_, _ = s.Get("user", &user)
		}
		_, _ = w.Write([]byte("ok"))
	}
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"bare", http.HandlerFunc(read)}, {"sessions", m.Handler(http.HandlerFunc(read))}} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Cookie", cookie)
			serveEach(b, c.h, r)
		})
	}
}

// createDiscarder is memstore with a Create that keeps nothing, so that a
// login benchmark's sessions do not pile up in memory over b.N logins.
type createDiscarder struct{ *memstore.Store }

func (createDiscarder) Create(context.Context, sessionstore.IDHash, sessionstore.Record, time.Time) error {
	return nil
}

// BenchmarkMiddlewareWrite is the middleware's own cost on the two other
// requests of BenchmarkPeers, on an in-memory store: a login (a new
// session with one value; the store keeps nothing) and a write (a stored
// session's value read and changed), against the bare handler.
func BenchmarkMiddlewareWrite(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	store := memstore.NewWithOptions(memstore.Options{Logger: quiet})
	m, err := sessions.New(store, sessions.Options{Secrets: []string{secret}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	forgetful, err := sessions.New(createDiscarder{store}, sessions.Options{Secrets: []string{secret}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	login := func(w http.ResponseWriter, r *http.Request) {
		if s := sessions.FromContext(r.Context()); s != nil {
			_ = s.Set("user", "u")
		}
	}
	write := func(w http.ResponseWriter, r *http.Request) {
		if s := sessions.FromContext(r.Context()); s != nil {
			var n int
			_, _ = s.Get("n", &n)
			_ = s.Set("n", n+1)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(login)).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookie, _, _ := strings.Cut(rec.Header().Get("Set-Cookie"), ";")
	for _, c := range []struct {
		name   string
		h      http.Handler
		cookie string
	}{
		{"login/bare", http.HandlerFunc(login), ""}, {"login/sessions", forgetful.Handler(http.HandlerFunc(login)), ""},
		{"write/bare", http.HandlerFunc(write), cookie}, {"write/sessions", m.Handler(http.HandlerFunc(write)), cookie},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			if c.cookie != "" {
				r.Header.Set("Cookie", c.cookie)
			}
			serveEach(b, c.h, r)
		})
	}
}

// serveEach has h serve r in every iteration, into a writer that keeps
// nothing, and reports allocations and the process's CPU time per
// request: unlike ns/op, it does not grow while other processes keep this
// machine's 2 cores busy.
func serveEach(b *testing.B, h http.Handler, r *http.Request) {
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkSetMany is one request that sets 8,000 small keys: each Set
// costs the size of its own value (a running total), not a rescan of the
// session, so this grows linearly (issue #13: 8,000 Sets took 5-14 s when
// every Set rescanned every key).
func BenchmarkSetMany(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	m, err := sessions.New(memstore.NewWithOptions(memstore.Options{Logger: quiet}), sessions.Options{Secrets: []string{secret}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		for i := range 8000 {
			if err := s.Set("k"+strconv.Itoa(i), i); err != nil {
				b.Fatal(err)
			}
		}
	}))
	for b.Loop() {
		h.ServeHTTP(&discardWriter{h: http.Header{}}, httptest.NewRequest("GET", "/", nil))
	}
}

// cpuTime is the CPU time (user + system) this process has used, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
