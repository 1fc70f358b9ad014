package integration

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
)

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// lifetimeApp serves the routes of the lifetime tests; /slow?key=K blocks
// after the load (reached, release), then sets K, as a slow request would.
type lifetimeApp struct {
	srv              *httptest.Server
	clock            *testClock
	reached, release chan struct{}
}

func newLifetimeApp(t *testing.T, store sessions.Store, rolling bool) *lifetimeApp {
	t.Helper()
	a := &lifetimeApp{clock: &testClock{now: time.Now().UTC().Truncate(time.Second)}, reached: make(chan struct{}, 1), release: make(chan struct{})}
	m, err := sessions.New(store, sessions.Options{
		Secrets: []string{secret}, Logger: slog.New(slog.DiscardHandler), Now: a.clock.Now,
		Rolling: rolling, TouchAfter: sessions.TouchEveryRequest, PassivePaths: []string{"/poll"},
		Cookie: sessions.CookieOptions{MaxAge: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Set("flash", "saved")
	})
	mux.HandleFunc("/remember", func(w http.ResponseWriter, r *http.Request) {
		sessions.FromContext(r.Context()).SetMaxAge(30 * 24 * time.Hour)
	})
	mux.HandleFunc("/forget", func(w http.ResponseWriter, r *http.Request) {
		sessions.FromContext(r.Context()).SetMaxAge(0)
	})
	mux.HandleFunc("/visit", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		a.reached <- struct{}{}
		<-a.release
		_ = sessions.FromContext(r.Context()).Set(r.URL.Query().Get("key"), 1)
	})
	mux.HandleFunc("/poll", func(w http.ResponseWriter, r *http.Request) { // pops the flash
		s := sessions.FromContext(r.Context())
		a.reached <- struct{}{}
		<-a.release
		var flash string
		_, _ = s.Get("flash", &flash)
		s.Delete("flash")
		_, _ = w.Write([]byte(flash))
	})
	a.srv = httptest.NewServer(m.Handler(mux))
	t.Cleanup(a.srv.Close)
	return a
}

// race runs path in the background until its handler blocks, then first,
// then lets path finish; it returns path's response.
func (a *lifetimeApp) race(c *client, path string, first func()) *http.Response {
	done := make(chan *http.Response, 1)
	go func() { _, _, res := c.do("GET", path, nil); done <- res }()
	<-a.reached
	first()
	a.release <- struct{}{}
	return <-done
}

// Lifetime changes are saved and sent like data: SetMaxAge(0) sends a
// browser-session cookie; a slower concurrent request that saves another
// key does not undo SetMaxAge, and no save moves the expiry back (#19
// item 5).
func TestLifetimeChangesAreKept(t *testing.T) {
	everyStore(t, func(t *testing.T, store sessions.Store) {
		a := newLifetimeApp(t, store, false)
		c := newClient(t, a.srv)
		c.do("GET", "/start", nil)
		_, _, res := c.do("GET", "/forget", nil)
		sc := res.Header.Get("Set-Cookie")
		if sc == "" || strings.Contains(sc, "Max-Age") || strings.Contains(sc, "Expires") {
			t.Errorf("SetMaxAge(0) sent Set-Cookie %q, want a browser-session cookie", sc)
		}

		a.race(c, "/slow?key=cart", func() {
			a.clock.Add(time.Minute)
			c.do("GET", "/remember", nil)
		})
		maxAge, expires := storedCookie(t, store, c)
		if want := float64((30 * 24 * time.Hour).Milliseconds()); maxAge != want {
			t.Errorf("after a slower request saved another key, the stored lifetime is %v ms, want %v (SetMaxAge(30 days))", maxAge, want)
		}
		if min := a.clock.Now().Add(29 * 24 * time.Hour); expires.Before(min) {
			t.Errorf("after a slower request saved another key, the session expires %v, want after %v", expires, min)
		}
	})
}

// A passive request that saves (pops a flash) leaves the expiry a
// concurrent request extended, and re-sends no Rolling cookie (#19 item 6).
func TestPassiveRequestUndoesNothing(t *testing.T) {
	everyStore(t, func(t *testing.T, store sessions.Store) {
		a := newLifetimeApp(t, store, true)
		c := newClient(t, a.srv)
		c.do("GET", "/start", nil)
		res := a.race(c, "/poll", func() {
			a.clock.Add(10 * time.Minute)
			c.do("GET", "/visit", nil) // extends the session to now + 1 h
		})
		if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("the passive request sent Set-Cookie %q, want none", sc)
		}
		rec, err := store.Load(context.Background(), hashOf(c.sessionID()), a.clock.Now())
		rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
		if err != nil {
			t.Fatal(err)
		}
		if want := a.clock.Now().Add(time.Hour); !rec.ExpiresAt.Equal(want) {
			t.Errorf("after the passive save the session expires %v, want %v (the concurrent extension)", rec.ExpiresAt, want)
		}
		if _, ok := rec.Data["flash"]; ok {
			t.Errorf("the passive request's pop was not saved")
		}
	})
}
