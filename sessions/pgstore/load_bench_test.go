package pgstore_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// BenchmarkLoad is one Load of a live session at a time, on the store's
// default configuration (with its standby check): the cost of the hot read
// path, allocations included.
func BenchmarkLoad(b *testing.B) {
	e := pgtest.Migrated(b)
	s := pgstore.New(e.Pool)
	ctx := context.Background()
	h := sessions.HashID("bench-load")
	now := time.Now()
	rec := sessionstore.Record{Data: map[string]json.RawMessage{"user": json.RawMessage(`"alice"`)}, CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserID: "alice"}
	if err := s.Create(ctx, h, rec, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, h, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequest is one request through sessions.Manager on this
// store, serially, for each route of make bench: read (a Get of one value,
// default configuration), write (one value changed) and new (a login: a
// new session with one value). The middleware, the store and pgx together,
// without HTTP: profile it with -cpuprofile or -memprofile to see what a
// request costs beyond its round trips.
func BenchmarkRequest(b *testing.B) {
	e := pgtest.Migrated(b)
	quiet := slog.New(slog.DiscardHandler)
	m, err := sessions.New(pgstore.New(e.Pool), sessions.Options{Secrets: []string{"a-benchmark-secret-of-32-bytes!!"}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	login := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("user", "alice")
		_ = s.Set("cart", []int{1, 2, 3})
		_ = s.Set("theme", "dark")
	}))
	rec := httptest.NewRecorder()
	login.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookie, _, _ := strings.Cut(rec.Header().Get("Set-Cookie"), ";")
	var user string
	n := 0
	routes := []struct {
		name   string
		cookie string
		h      func(s *sessions.Session) error
	}{
		{"read", cookie, func(s *sessions.Session) error { _, err := s.Get("user", &user); return err }},
		{"write", cookie, func(s *sessions.Session) error { n++; return s.Set("n", n) }},
		{"new", "", func(s *sessions.Session) error { return s.Set("user", "bob") }},
	}
	for _, route := range routes {
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := route.h(sessions.FromContext(r.Context())); err != nil {
				b.Fatal(err)
			}
		}))
		b.Run(route.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			if route.cookie != "" {
				r.Header.Set("Cookie", route.cookie)
			}
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}

type discard struct{ h http.Header }

func (w *discard) Header() http.Header         { return w.h }
func (w *discard) Write(p []byte) (int, error) { return len(p), nil }
func (w *discard) WriteHeader(int)             {}
