package integration

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/cookiesig"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// renewalApp serves the routes of the rotation-grace, reuse, renewal and
// sudo tests on a clock the test moves.
type renewalApp struct {
	m     *sessions.Manager
	srv   *httptest.Server
	clock *testClock
	logs  *bytes.Buffer
	mu    sync.Mutex
	reuse []sessions.ReuseEvent
}

func newRenewalApp(t *testing.T, store sessions.Store, opts sessions.Options) *renewalApp {
	t.Helper()
	a := &renewalApp{clock: &testClock{now: time.Now().UTC().Truncate(time.Second)}, logs: &bytes.Buffer{}}
	opts.Secrets, opts.Now = []string{secret}, a.clock.Now
	opts.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: a.logs}, nil))
	opts.Cookie.MaxAge = 24 * time.Hour
	opts.OnReuse = func(r *http.Request, ev sessions.ReuseEvent) {
		a.mu.Lock()
		a.reuse = append(a.reuse, ev)
		a.mu.Unlock()
	}
	m, err := sessions.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	a.m = m
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Login(r.Context(), r.URL.Query().Get("u")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/visit", func(w http.ResponseWriter, r *http.Request) { _ = sessions.FromContext(r.Context()).Set("seen", true) })
	mux.HandleFunc("/rotate", func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Regenerate(r.Context())
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(sessions.FromContext(r.Context()).User()))
	})
	mux.HandleFunc("/stepup", func(w http.ResponseWriter, r *http.Request) { sessions.FromContext(r.Context()).MarkAuthenticated() })
	mux.HandleFunc("/switch", func(w http.ResponseWriter, r *http.Request) { _ = sessions.FromContext(r.Context()).SetUser("bob") })
	mux.Handle("/sensitive", m.RequireRecentAuth(5*time.Minute, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})))
	a.srv = httptest.NewServer(m.Handler(mux))
	t.Cleanup(a.srv.Close)
	return a
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// withCookie requests path with the session id id (no jar), as a request
// already in flight or a thief's replay would.
func (a *renewalApp) withCookie(t *testing.T, id, path string) (body string, setID string) {
	t.Helper()
	req, _ := http.NewRequest("GET", a.srv.URL+path, nil)
	req.AddCookie(&http.Cookie{Name: "sid", Value: url.PathEscape("s:" + cookiesig.Sign(id, secret))})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	for _, c := range res.Cookies() {
		if c.Name == "sid" {
			v, _ := url.PathUnescape(c.Value)
			setID, _ = cookiesig.Unsign(strings.TrimPrefix(v, "s:"), secret)
		}
	}
	return b.String(), setID
}

// Within RenewGrace a request with the rotated-out id (another tab) lands
// on the new session and gets its cookie; after it, the old id of a
// signed-in session is a replay: the family is revoked, a warning logged
// and OnReuse called; the thief gets nothing (#22).
func TestRotationGraceAndReuse(t *testing.T) {
	everyStore(t, func(t *testing.T, store sessions.Store) {
		a := newRenewalApp(t, store, sessions.Options{})
		tab := newClient(t, a.srv)
		tab.do("GET", "/login?u=alice", nil)
		old := tab.sessionID()
		tab.do("GET", "/rotate", nil)
		rotated := tab.sessionID()
		if rotated == old || rotated == "" {
			t.Fatal("Regenerate did not send a new id")
		}
		a.clock.Add(10 * time.Second)
		if body, setID := a.withCookie(t, old, "/whoami"); body != "alice" || setID != rotated {
			t.Errorf("within the grace, the old id reads %q and gets cookie id match=%v; want alice and the successor's cookie", body, setID == rotated)
		}
		a.clock.Add(time.Minute)
		if body, setID := a.withCookie(t, old, "/whoami"); body != "" || setID == rotated {
			t.Errorf("after the grace, the replayed id reads %q (successor's cookie: %v), want nothing", body, setID == rotated)
		}
		if _, body, _ := tab.do("GET", "/whoami", nil); body != "" {
			t.Errorf("after the replay, the family's live session still reads %q; want it revoked", body)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if len(a.reuse) != 1 || a.reuse[0].User != "alice" || !a.reuse[0].Revoked || a.reuse[0].Current != hashOf(rotated) {
			t.Errorf("OnReuse got %+v, want one event for alice, revoking the rotated session", a.reuse)
		}
		if !strings.Contains(a.logs.String(), "level=WARN") || !strings.Contains(a.logs.String(), "retired session id") {
			t.Errorf("no warning logged:\n%s", a.logs.String())
		}
	})
}

// A pre-login anonymous id does not lead to the signed-in session, within
// the grace or after it, and replaying it after the grace logs nobody out:
// a planted id (session fixation) gives an attacker neither the victim's
// session nor a way to end it.
func TestAnonymousRetiredIDIsHarmless(t *testing.T) {
	everyStore(t, func(t *testing.T, store sessions.Store) {
		a := newRenewalApp(t, store, sessions.Options{})
		victim := newClient(t, a.srv)
		victim.do("GET", "/visit", nil)
		planted := victim.sessionID()
		victim.do("GET", "/login?u=alice", nil)
		if body, _ := a.withCookie(t, planted, "/whoami"); body != "" {
			t.Errorf("within the grace the planted id reads %q, want an anonymous session", body)
		}
		a.clock.Add(time.Hour)
		a.withCookie(t, planted, "/whoami")
		if _, body, _ := victim.do("GET", "/whoami", nil); body != "alice" {
			t.Errorf("replaying the planted id logged the victim out (reads %q)", body)
		}
		if len(a.reuse) != 0 {
			t.Errorf("an anonymous id's replay was reported: %+v", a.reuse)
		}
	})
}

// Two tabs in flight while the session rotates: both land on the new
// session, none gets a fresh anonymous one, over real HTTP.
func TestParallelRequestsDuringRotation(t *testing.T) {
	everyStore(t, func(t *testing.T, store sessions.Store) {
		a := newRenewalApp(t, store, sessions.Options{})
		tab := newClient(t, a.srv)
		tab.do("GET", "/login?u=alice", nil)
		old := tab.sessionID()
		var wg sync.WaitGroup
		bodies := make([]string, 8)
		tab.do("GET", "/rotate", nil)
		for i := range bodies {
			wg.Add(1)
			go func() { defer wg.Done(); bodies[i], _ = a.withCookie(t, old, "/whoami") }()
		}
		wg.Wait()
		for i, b := range bodies {
			if b != "alice" {
				t.Errorf("request %d in flight with the old id read %q, want alice", i, b)
			}
		}
	})
}

// RenewAfter rotates the id of a session that old on its next request;
// the old id then leads to the new one within the grace.
func TestRenewAfter(t *testing.T) {
	everyStore(t, func(t *testing.T, store sessions.Store) {
		a := newRenewalApp(t, store, sessions.Options{RenewAfter: time.Hour})
		c := newClient(t, a.srv)
		c.do("GET", "/login?u=alice", nil)
		first := c.sessionID()
		a.clock.Add(30 * time.Minute)
		c.do("GET", "/whoami", nil)
		if c.sessionID() != first {
			t.Errorf("the id was renewed before RenewAfter")
		}
		a.clock.Add(31 * time.Minute)
		if _, body, _ := c.do("GET", "/whoami", nil); body != "alice" || c.sessionID() == first {
			t.Errorf("after RenewAfter: reads %q, renewed: %v; want alice on a new id", body, c.sessionID() != first)
		}
		if body, _ := a.withCookie(t, first, "/whoami"); body != "alice" {
			t.Errorf("within the grace the renewed-out id reads %q, want alice", body)
		}
	})
}

// Sudo mode: RequireRecentAuth lets a sensitive route run only within
// maxAge of the last authentication; requests do not extend it, rotation
// keeps it, a step-up renews it and SetUser of another user clears it.
func TestRequireRecentAuth(t *testing.T) {
	everyStore(t, func(t *testing.T, store sessions.Store) {
		a := newRenewalApp(t, store, sessions.Options{})
		c := newClient(t, a.srv)
		if code, _, _ := c.do("GET", "/sensitive", nil); code != http.StatusForbidden {
			t.Errorf("an anonymous visitor got %d, want 403", code)
		}
		c.do("GET", "/login?u=alice", nil)
		if code, _, _ := c.do("GET", "/sensitive", nil); code != http.StatusOK {
			t.Errorf("right after login: %d, want 200", code)
		}
		a.clock.Add(4 * time.Minute)
		c.do("GET", "/rotate", nil)
		c.do("GET", "/visit", nil)
		a.clock.Add(2 * time.Minute)
		if code, _, _ := c.do("GET", "/sensitive", nil); code != http.StatusForbidden {
			t.Errorf("6 minutes after login (requests and a rotation since): %d, want 403", code)
		}
		c.do("GET", "/stepup", nil)
		if code, _, _ := c.do("GET", "/sensitive", nil); code != http.StatusOK {
			t.Errorf("after a step-up: %d, want 200", code)
		}
		c.do("GET", "/switch", nil)
		if code, _, _ := c.do("GET", "/sensitive", nil); code != http.StatusForbidden {
			t.Errorf("after SetUser of another user: %d, want 403", code)
		}
	})
}

// failingRetired is a store whose retired-id lookups fail, as one whose
// database lacks migration 00004 would.
type failingRetired struct{ sessions.Store }

func (failingRetired) Retired(context.Context, sessions.IDHash, time.Time) (sessionstore.Retired, error) {
	return sessionstore.Retired{}, errors.New(`relation "http_sessions_retired" does not exist`)
}

// A failed retired-id lookup costs the request its grace and reuse check,
// not the request: an unknown cookie still gets a new session, and the
// failure is logged.
func TestRetiredLookupFailureIsNotAnError(t *testing.T) {
	a := newRenewalApp(t, failingRetired{memstoreQuiet()}, sessions.Options{})
	req, _ := http.NewRequest("GET", a.srv.URL+"/visit", nil)
	req.AddCookie(&http.Cookie{Name: "sid", Value: url.PathEscape("s:" + cookiesig.Sign("never-stored", secret))})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(res.Cookies()) == 0 {
		t.Errorf("an unknown cookie with a failing retired lookup got %d and cookies %v; want 200 and a new session", res.StatusCode, res.Cookies())
	}
	if !strings.Contains(a.logs.String(), "retired session id failed") {
		t.Errorf("the failure was not logged:\n%s", a.logs.String())
	}
}
