package sessions_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// secret signs the tests' cookies: express's "keyboard cat", made long
// enough for New (RecommendedSecretBytes).
const secret = "keyboard cat keyboard cat keyboard cat"

// oldSecret and newSecret are a rotation: newSecret first signs, both verify.
const (
	oldSecret = "old secret: 32 bytes or more, from env"
	newSecret = "new secret: 32 bytes or more, from env"
)

// spyStore wraps memstore, counts calls and can fail them.
type spyStore struct {
	*memstore.Store
	mu     sync.Mutex
	calls  map[string]int
	failOn map[string]error
}

func newSpy() *spyStore {
	return &spyStore{
		Store:  memstore.NewWithOptions(memstore.Options{Logger: slog.New(slog.DiscardHandler)}),
		calls:  map[string]int{},
		failOn: map[string]error{},
	}
}

func (s *spyStore) hit(op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	return s.failOn[op]
}

func (s *spyStore) count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *spyStore) fail(op string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOn[op] = err
}

func (s *spyStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
}

func (s *spyStore) Load(ctx context.Context, h sessions.IDHash, now time.Time) (sessionstore.Record, error) {
	if err := s.hit("Load"); err != nil {
		return sessionstore.Record{}, err
	}
	return s.Store.Load(ctx, h, now)
}

func (s *spyStore) Create(ctx context.Context, h sessions.IDHash, r sessionstore.Record, now time.Time) error {
	if err := s.hit("Create"); err != nil {
		return err
	}
	return s.Store.Create(ctx, h, r, now)
}

func (s *spyStore) Update(ctx context.Context, h sessions.IDHash, c sessionstore.Change, now time.Time) error {
	if err := s.hit("Update"); err != nil {
		return err
	}
	return s.Store.Update(ctx, h, c, now)
}

func (s *spyStore) Touch(ctx context.Context, h sessions.IDHash, exp time.Time, d *sessionstore.Device, now time.Time) error {
	if err := s.hit("Touch"); err != nil {
		return err
	}
	return s.Store.Touch(ctx, h, exp, d, now)
}

func (s *spyStore) Destroy(ctx context.Context, h sessions.IDHash, now time.Time) (bool, error) {
	if err := s.hit("Destroy"); err != nil {
		return false, err
	}
	return s.Store.Destroy(ctx, h, now)
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type harness struct {
	t     *testing.T
	store *spyStore
	clock *clock
	m     *sessions.Manager
	h     http.Handler
	logs  *bytes.Buffer
}

// newHarness builds a Manager on a spy store with a fixed clock; handler
// runs inside it.
func newHarness(t *testing.T, opts sessions.Options, handler http.HandlerFunc) *harness {
	t.Helper()
	hs := &harness{t: t, store: newSpy(), clock: newClock(), logs: &bytes.Buffer{}}
	if opts.Secrets == nil {
		opts.Secrets = []string{secret}
	}
	opts.Now = hs.clock.Now
	opts.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: hs.logs}, nil))
	m, err := sessions.New(hs.store, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs.m = m
	hs.h = m.Handler(handler)
	return hs
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do sends a request with the given Cookie header ("" for none).
func (hs *harness) do(method, target, cookie string, mod ...func(*http.Request)) *http.Response {
	hs.t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	for _, f := range mod {
		f(r)
	}
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, r)
	return w.Result()
}

func (hs *harness) get(cookie string) *http.Response { return hs.do("GET", "/", cookie) }

// sessionCookie returns the Set-Cookie header for the session cookie, or "".
func sessionCookie(res *http.Response, name string) string {
	for _, v := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, name+"=") {
			return v
		}
	}
	return ""
}

// cookiePair turns a Set-Cookie header into a Cookie request header.
func cookiePair(setCookie string) string {
	pair, _, _ := strings.Cut(setCookie, ";")
	return pair
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func setKey(key string, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Set(key, v); err != nil {
			http.Error(w, err.Error(), 500)
		}
	}
}

func noop(w http.ResponseWriter, r *http.Request) {}

var errBoom = errors.New("boom")

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// httpGet sends a GET with the given headers over real HTTP and returns the
// response and its body.
func httpGet(t *testing.T, u string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}
