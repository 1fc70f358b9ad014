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

// BenchmarkReadRequest is one default-configured read request (a Get of
// one value) through sessions.Manager on this store, serially: the
// middleware, the store and pgx together, without HTTP. Profile it with
// -cpuprofile to see what a read costs beyond the round trip.
func BenchmarkReadRequest(b *testing.B) {
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
	read := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, err := sessions.FromContext(r.Context()).Get("user", &user); !ok || err != nil {
			b.Fatalf("Get: %v, %v", ok, err)
		}
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", cookie)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		read.ServeHTTP(w, r)
	}
}

type discard struct{ h http.Header }

func (w *discard) Header() http.Header         { return w.h }
func (w *discard) Write(p []byte) (int, error) { return len(p), nil }
func (w *discard) WriteHeader(int)             {}
