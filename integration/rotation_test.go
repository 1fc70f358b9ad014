package integration

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// everyStore runs f on memstore, Postgres and SQLite.
func everyStore(t *testing.T, f func(t *testing.T, store sessions.Store)) {
	t.Run("memstore", func(t *testing.T) { f(t, memstoreQuiet()) })
	eachBackend(t, func(t *testing.T, b backend) { f(t, b.store) })
}

// rotationApp is a server whose /rotate handler blocks between Regenerate
// and its first write, so that a revocation can run in that window.
type rotationApp struct {
	m                *sessions.Manager
	srv              *httptest.Server
	reached, release chan struct{}
	regenerateErr    chan error
}

func newRotationApp(t *testing.T, store sessions.Store, opts sessions.Options) *rotationApp {
	t.Helper()
	opts.Secrets = []string{secret}
	opts.Logger = slog.New(slog.DiscardHandler)
	m, err := sessions.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	a := &rotationApp{m: m, reached: make(chan struct{}, 1), release: make(chan struct{}), regenerateErr: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if err := s.Regenerate(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = s.SetUser(r.FormValue("user"))
		_ = s.Set("user", r.FormValue("user"))
	})
	mux.HandleFunc("GET /rotate", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		err := s.Regenerate(r.Context())
		a.regenerateErr <- err
		if err != nil {
			http.Error(w, "rotation failed", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Query().Has("block") {
			a.reached <- struct{}{}
			<-a.release
		}
		if r.URL.Query().Has("write") {
			_ = s.Set("after", 1)
		}
	})
	mux.HandleFunc("GET /fill", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if err := sessions.FromContext(r.Context()).Set("blob", strings.Repeat("x", n)); err != nil {
			http.Error(w, err.Error(), http.StatusInsufficientStorage)
		}
	})
	mux.HandleFunc("GET /logout-others", func(w http.ResponseWriter, r *http.Request) {
		_, _ = sessions.FromContext(r.Context()).DestroyOtherSessions(r.Context())
	})
	mux.HandleFunc("GET /peek", func(w http.ResponseWriter, r *http.Request) {
		var u string
		_, _ = sessions.FromContext(r.Context()).Get("user", &u)
		_, _ = w.Write([]byte(u))
	})
	a.srv = httptest.NewServer(m.Handler(mux))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *rotationApp) login(t *testing.T, user string) *client {
	t.Helper()
	c := newClient(t, a.srv)
	if code, body, _ := c.do("POST", "/login", url.Values{"user": {user}}); code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	return c
}

// A revocation that runs while a request is between Regenerate and its
// commit ends the rotated session: the rotated id exists in the store as
// soon as Regenerate returns, the revocation deletes it, and the request's
// commit writes nothing and sends no cookie for it (#19 item 1).
func TestRevocationDuringRotation(t *testing.T) {
	ctx := context.Background()
	revocations := map[string]func(t *testing.T, a *rotationApp, other *client){
		"DestroyUser": func(t *testing.T, a *rotationApp, _ *client) {
			if n, err := a.m.DestroyUser(ctx, "alice"); err != nil || n != 2 {
				t.Errorf("DestroyUser = %d, %v; want the rotated session and the other device's", n, err)
			}
		},
		"DestroyUserExcept": func(t *testing.T, a *rotationApp, other *client) {
			if n, err := a.m.DestroyUserExcept(ctx, "alice", hashOf(other.sessionID())); err != nil || n != 1 {
				t.Errorf("DestroyUserExcept = %d, %v; want the rotated session", n, err)
			}
		},
		"DestroyOtherSessions": func(t *testing.T, a *rotationApp, other *client) {
			other.do("GET", "/logout-others", nil)
		},
		"DestroySession": func(t *testing.T, a *rotationApp, other *client) {
			list, err := a.m.ListUserSessions(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			for _, info := range list { // the device list shows the rotated id's hash
				if info.Hash != hashOf(other.sessionID()) {
					if err := a.m.DestroySession(ctx, info.Hash); err != nil {
						t.Fatal(err)
					}
				}
			}
		},
	}
	everyStore(t, func(t *testing.T, store sessions.Store) {
		for name, revoke := range revocations {
			for _, write := range []bool{true, false} {
				a := newRotationApp(t, store, sessions.Options{TouchAfter: sessions.TouchEveryRequest})
				if _, err := a.m.DestroyUser(ctx, "alice"); err != nil { // the previous round's
					t.Fatal(err)
				}
				thief, other := a.login(t, "alice"), a.login(t, "alice")
				before := thief.sessionID()
				path := "/rotate?block"
				if write {
					path += "&write"
				}
				done := make(chan *http.Response, 1)
				go func() { _, _, res := thief.do("GET", path, nil); done <- res }()
				<-a.reached
				revoke(t, a, other)
				close(a.release)
				res := <-done
				if err := <-a.regenerateErr; err != nil {
					t.Fatalf("%s: Regenerate: %v", name, err)
				}
				if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
					t.Errorf("%s (write=%v): the revoked rotation sent Set-Cookie %q", name, write, sc)
				}
				if _, body, _ := thief.do("GET", "/peek", nil); body != "" {
					t.Errorf("%s (write=%v): the thief still reads %q after the revocation", name, write, body)
				}
				for _, id := range []string{before, thief.sessionID()} {
					if _, err := store.Load(ctx, hashOf(id), time.Time{}); !errors.Is(err, sessions.ErrNotFound) {
						t.Errorf("%s (write=%v): a thief's id still loads: %v", name, write, err)
					}
				}
			}
		}
	})
}

// failingRekey is a store whose Rekey fails as a store that is down would.
type failingRekey struct{ sessions.Store }

func (failingRekey) Rekey(context.Context, sessions.IDHash, sessions.IDHash, *sessionstore.Retire, time.Time) error {
	return errors.New("connection refused")
}

// A failed rotation keeps the old session, intact and usable; a session
// already over MaxDataBytes (written before the limit was lowered) stays
// loadable, rotatable and writable while it does not grow (#19 item 2).
func TestFailedRotationKeepsTheSession(t *testing.T) {
	everyStore(t, func(t *testing.T, store sessions.Store) {
		a := newRotationApp(t, failingRekey{store}, sessions.Options{})
		c := newClient(t, a.srv)
		// Log in through a working Manager on the same store and cookie secret.
		good := newRotationApp(t, store, sessions.Options{})
		c.base = good.srv.URL
		c.do("POST", "/login", url.Values{"user": {"alice"}})
		id := c.sessionID()
		c.base = a.srv.URL
		if code, _, _ := c.do("GET", "/rotate", nil); code != http.StatusServiceUnavailable {
			t.Errorf("a failed rotation answered %d, want the handler's 503", code)
		}
		if err := <-a.regenerateErr; err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("Regenerate = %v, want the store's error", err)
		}
		if _, body, _ := c.do("GET", "/peek", nil); body != "alice" || c.sessionID() != id {
			t.Errorf("after a failed rotation the browser reads %q (same id: %v), want alice on the old id", body, c.sessionID() == id)
		}
	})
	everyStore(t, func(t *testing.T, store sessions.Store) {
		big := newRotationApp(t, store, sessions.Options{MaxDataBytes: 1 << 20})
		c := big.login(t, "alice")
		if code, body, _ := c.do("GET", "/fill?n=8000", nil); code != http.StatusOK {
			t.Fatalf("fill: %d %s", code, body)
		}
		small := newRotationApp(t, store, sessions.Options{MaxDataBytes: 4096}) // the limit lowered
		c.base = small.srv.URL
		if code, body, _ := c.do("POST", "/login", url.Values{"user": {"alice"}}); code != http.StatusOK {
			t.Fatalf("login over the lowered limit: %d %s", code, body)
		}
		if _, body, _ := c.do("GET", "/peek", nil); body != "alice" {
			t.Errorf("after the login the browser reads %q, want alice", body)
		}
		rec, err := store.Load(context.Background(), hashOf(c.sessionID()), time.Time{})
		rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
		if err != nil || len(rec.Data["blob"]) < 8000 {
			t.Errorf("the rotated session lost its data: %v", err)
		}
		if code, _, _ := c.do("GET", "/fill?n=9000", nil); code != http.StatusInsufficientStorage {
			t.Errorf("growing an over-limit session answered %d, want the handler's 507", code)
		}
	})
}

// storedCookie is the cookie JSON and expiry stored for c's session.
func storedCookie(t *testing.T, store sessions.Store, c *client) (maxAge float64, expires time.Time) {
	t.Helper()
	rec, err := store.Load(context.Background(), hashOf(c.sessionID()), time.Time{})
	rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
	if err != nil {
		t.Fatal(err)
	}
	var ck struct {
		OriginalMaxAge *float64 `json:"originalMaxAge"`
	}
	if err := json.Unmarshal(rec.Data["cookie"], &ck); err != nil {
		t.Fatal(err)
	}
	if ck.OriginalMaxAge != nil {
		maxAge = *ck.OriginalMaxAge
	}
	return maxAge, rec.ExpiresAt
}
