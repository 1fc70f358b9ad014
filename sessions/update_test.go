package sessions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
)

// SwapValue counts the spy's swaps and can fail them.
func (s *spyStore) SwapValue(ctx context.Context, h sessions.IDHash, key string, old, new json.RawMessage, maxBytes int, now time.Time) (json.RawMessage, bool, error) {
	if err := s.hit("swap"); err != nil {
		return nil, false, err
	}
	return s.Store.SwapValue(ctx, h, key, old, new, maxBytes, now)
}

// increment is the handler of the Update tests: views+1, answered in the body.
func increment(w http.ResponseWriter, r *http.Request) {
	n, err := sessions.Update(r.Context(), sessions.FromContext(r.Context()), "views", func(old int, _ bool) (int, error) { return old + 1, nil })
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	fmt.Fprint(w, n)
}

// stored returns the JSON stored under key for the session of cookie.
func (hs *harness) stored(cookie, key string) string {
	hs.t.Helper()
	id, _, _ := strings.Cut(strings.TrimPrefix(cookie, "sid=s%3A"), ".")
	rec, err := hs.store.Load(context.Background(), sessions.HashID(id), hs.clock.Now())
	if err != nil {
		hs.t.Fatalf("Load: %v", err)
	}
	v, _, err := rec.Value(key)
	if err != nil {
		hs.t.Fatalf("Load: %v", err)
	}
	return string(v)
}

// Update stores at once: a new session is created with the value, later
// requests add to it, and the value is in the store before the response.
func TestUpdateCounts(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, increment)
	res := hs.get("")
	set := sessionCookie(res, "sid")
	if b := body(t, res); res.StatusCode != 200 || b != "1" || set == "" {
		t.Fatalf("first Update: %d %q, Set-Cookie %q; want 200 1 and a cookie", res.StatusCode, b, set)
	}
	cookie := cookiePair(set)
	for want := 2; want <= 3; want++ {
		if res := hs.get(cookie); body(t, res) != strconv.Itoa(want) {
			t.Fatalf("Update %d answered %q", want, body(t, res))
		}
	}
	if got := hs.stored(cookie, "views"); got != "3" {
		t.Errorf("stored views = %s, want 3", got)
	}
	if n := hs.store.count("swap"); n != 3 {
		t.Errorf("%d swaps for 3 uncontended Updates, want 3 (one statement each)", n)
	}
}

// N concurrent requests that each Update the counter once add exactly N,
// where Get then Set loses increments (real HTTP, memstore).
func TestUpdateConcurrentRequests(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, increment)
	srv := httptest.NewServer(hs.h)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if res, err := c.Get(srv.URL); err != nil || res.StatusCode != 200 {
		t.Fatalf("first request: %v", err)
	}
	const workers, each = 10, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range workers {
		wg.Go(func() {
			for range each {
				res, err := c.Get(srv.URL)
				if err == nil && res.StatusCode != 200 {
					err = fmt.Errorf("status %d", res.StatusCode)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
				if res != nil {
					res.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed: %v", len(failures), workers*each, failures[0])
	}
	u, _ := url.Parse(srv.URL)
	cookie := jar.Cookies(u)[0]
	if got := hs.stored("sid="+cookie.Value, "views"); got != strconv.Itoa(1+workers*each) {
		t.Errorf("views = %s after %d concurrent increments and 1 before, want %d", got, workers*each, 1+workers*each)
	}
}

// A request's commit neither writes the updated value again nor puts back
// a stale one over a later concurrent Update; a Set after Update wins.
func TestUpdateAndTheCommit(t *testing.T) {
	var after func(s *sessions.Session, h sessions.IDHash) // runs after the request's Update
	hs := newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if _, err := sessions.Update(r.Context(), s, "views", func(old int, _ bool) (int, error) { return old + 1, nil }); err != nil {
			t.Errorf("Update: %v", err)
		}
		if after != nil {
			after(s, s.IDHash())
		}
	})
	cookie := cookiePair(sessionCookie(hs.get(""), "sid"))

	// Another request swaps 2 → 10 after this one's Update, before its commit.
	after = func(_ *sessions.Session, h sessions.IDHash) {
		if _, ok, err := hs.store.Store.SwapValue(context.Background(), h, "views", json.RawMessage("2"), json.RawMessage("10"), 0, hs.clock.Now()); !ok || err != nil {
			t.Fatalf("concurrent swap: %v, %v", ok, err)
		}
	}
	hs.store.reset()
	hs.get(cookie)
	if got := hs.stored(cookie, "views"); got != "10" {
		t.Errorf("views = %s after a concurrent swap to 10 that followed this request's Update; the commit wrote a stale value", got)
	}

	after = func(s *sessions.Session, _ sessions.IDHash) { _ = s.Set("views", 42) }
	hs.get(cookie)
	if got := hs.stored(cookie, "views"); got != "42" {
		t.Errorf("views = %s after Update then Set(42) in one request, want 42", got)
	}
}

// fn sees the stored value: an earlier unsaved Set of the key is replaced.
func TestUpdateReplacesUnsavedSet(t *testing.T) {
	var saw int
	hs := newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if r.URL.Query().Has("set") {
			_ = s.Set("views", 100)
		}
		_, _ = sessions.Update(r.Context(), s, "views", func(old int, _ bool) (int, error) { saw = old; return old + 1, nil })
	})
	cookie := cookiePair(sessionCookie(hs.get(""), "sid"))
	hs.do("GET", "/?set", cookie)
	if saw != 1 {
		t.Errorf("fn saw %d, want the stored 1 (not the unsaved 100)", saw)
	}
	if got := hs.stored(cookie, "views"); got != "2" {
		t.Errorf("views = %s, want 2", got)
	}
}

// conflictStore's swaps never apply: another writer always got there first.
type conflictStore struct {
	*spyStore
	n int
}

func (c *conflictStore) SwapValue(ctx context.Context, h sessions.IDHash, key string, old, new json.RawMessage, maxBytes int, now time.Time) (json.RawMessage, bool, error) {
	c.n++
	return json.RawMessage(strconv.Itoa(1000 + c.n)), false, nil
}

// Bounded retries: a value that keeps changing gives ErrConflict after
// MaxUpdateAttempts calls of fn, and nothing is stored.
func TestUpdateConflict(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, setKey("views", 1))
	cookie := cookiePair(sessionCookie(hs.get(""), "sid"))
	cs := &conflictStore{spyStore: hs.store}
	m, err := sessions.New(cs, sessions.Options{Secrets: []string{secret}, Now: hs.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	var updateErr error
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, updateErr = sessions.Update(r.Context(), sessions.FromContext(r.Context()), "views", func(old int, _ bool) (int, error) { calls++; return old + 1, nil })
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", cookie)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !errors.Is(updateErr, sessions.ErrConflict) || calls != sessions.MaxUpdateAttempts {
		t.Errorf("Update = %v after %d calls of fn; want ErrConflict after %d", updateErr, calls, sessions.MaxUpdateAttempts)
	}
	if got := hs.stored(cookie, "views"); got != "1" {
		t.Errorf("views = %s after a conflict, want 1", got)
	}
}

// Bad input and refusals: a clear error, nothing stored, never a panic.
func TestUpdateErrors(t *testing.T) {
	errFull := errors.New("cart full")
	inc := func(old int, _ bool) (int, error) { return old + 1, nil }
	cases := map[string]func(ctx context.Context, s *sessions.Session) error{
		"empty key": func(ctx context.Context, s *sessions.Session) error {
			_, err := sessions.Update(ctx, s, "", inc)
			return err
		},
		"reserved key": func(ctx context.Context, s *sessions.Session) error {
			_, err := sessions.Update(ctx, s, "cookie", inc)
			return err
		},
		"NUL in key": func(ctx context.Context, s *sessions.Session) error {
			_, err := sessions.Update(ctx, s, "a\x00", inc)
			return err
		},
		"nil function": func(ctx context.Context, s *sessions.Session) error {
			_, err := sessions.Update[int](ctx, s, "n", nil)
			return err
		},
		"NUL in value": func(ctx context.Context, s *sessions.Session) error {
			_, err := sessions.Update(ctx, s, "name", func(string, bool) (string, error) { return "a\x00b", nil })
			return err
		},
		"stored value of another type": func(ctx context.Context, s *sessions.Session) error {
			_, err := sessions.Update(ctx, s, "name", inc)
			return err
		},
		"fn's error": func(ctx context.Context, s *sessions.Session) error {
			_, err := sessions.Update(ctx, s, "views", func(int, bool) (int, error) { return 0, errFull })
			if !errors.Is(err, errFull) {
				return fmt.Errorf("WRONG: not fn's error: %v", err)
			}
			return err
		},
		"too large": func(ctx context.Context, s *sessions.Session) error {
			_, err := sessions.Update(ctx, s, "big", func(string, bool) (string, error) { return strings.Repeat("x", 5000), nil })
			if !errors.Is(err, sessions.ErrTooLarge) {
				return fmt.Errorf("WRONG: not ErrTooLarge: %v", err)
			}
			return err
		},
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			var err error
			hs := newHarness(t, sessions.Options{MaxDataBytes: 4096}, func(w http.ResponseWriter, r *http.Request) {
				s := sessions.FromContext(r.Context())
				if r.URL.Query().Has("setup") {
					_ = s.Set("views", 7)
					_ = s.Set("name", "ann")
					return
				}
				err = call(r.Context(), s)
			})
			cookie := cookiePair(sessionCookie(hs.do("GET", "/?setup", ""), "sid"))
			hs.get(cookie)
			if err == nil || strings.HasPrefix(err.Error(), "WRONG") {
				t.Fatalf("err = %v, want a refusal", err)
			}
			if v, n := hs.stored(cookie, "views"), hs.stored(cookie, "name"); v != "7" || n != `"ann"` {
				t.Errorf("stored views %s, name %s after a refused Update; want 7, \"ann\"", v, n)
			}
		})
	}
	if _, err := sessions.Update(context.Background(), nil, "k", inc); !errors.Is(err, sessions.ErrNoSession) {
		t.Errorf("Update of a nil session: %v, want ErrNoSession", err)
	}
}

// A session revoked under the request: ErrNotFound, nothing recreated,
// no cookie.
func TestUpdateRevoked(t *testing.T) {
	var err error
	var hs *harness
	hs = newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if r.URL.Query().Has("setup") {
			_ = s.Set("views", 1)
			return
		}
		_ = hs.m.DestroySession(r.Context(), s.IDHash())
		_, err = sessions.Update(r.Context(), s, "views", func(old int, _ bool) (int, error) { return old + 1, nil })
	})
	cookie := cookiePair(sessionCookie(hs.do("GET", "/?setup", ""), "sid"))
	res := hs.get(cookie)
	if !errors.Is(err, sessions.ErrNotFound) {
		t.Errorf("Update of a revoked session: %v, want ErrNotFound", err)
	}
	if sc := sessionCookie(res, "sid"); sc != "" {
		t.Errorf("response to a revoked session's Update sets %q", sc)
	}
	if n, _ := hs.store.Count(context.Background(), hs.clock.Now()); n != 0 {
		t.Errorf("%d sessions stored after Update of a revoked one, want 0", n)
	}
}

// With Options.ValueKeys, Update compares and stores sealed values: the
// stored counter is sealed (no plaintext in the row), Get reads it, and
// concurrent requests still add exactly N.
func TestUpdateSealed(t *testing.T) {
	hs := newHarness(t, sessions.Options{ValueKeys: []string{valueKeyA}}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if _, err := sessions.Update(r.Context(), s, "views", func(old int, _ bool) (int, error) { return old + 1, nil }); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		var n int
		if _, err := s.Get("views", &n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n)
	})
	srv := httptest.NewServer(hs.h)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Get(srv.URL)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("first request: %v %v", err, res)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if res, err := c.Get(srv.URL); err != nil || res.StatusCode != 200 {
				t.Errorf("update: %v %v", err, res)
			}
		})
	}
	wg.Wait()
	res, _ = c.Get(srv.URL)
	if b := body(t, res); b != "22" {
		t.Errorf("after 22 sealed Updates Get reads %q, want 22", b)
	}
	u, _ := url.Parse(srv.URL)
	var cookie string
	for _, ck := range jar.Cookies(u) {
		cookie = ck.Name + "=" + ck.Value
	}
	if v := hs.stored(cookie, "views"); !strings.HasPrefix(v, `"enc:v1:`) {
		t.Errorf("the stored counter is %s, want a sealed value", v)
	}
}
