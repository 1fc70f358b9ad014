package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
)

// browser is a real HTTP server around a harness's Manager and a client
// with a cookie jar, as a browser would hold it.
type browser struct {
	t    *testing.T
	srv  *httptest.Server
	http *http.Client
}

func newBrowser(t *testing.T, hs *harness, routes map[string]http.HandlerFunc) *browser {
	t.Helper()
	mux := http.NewServeMux()
	for path, h := range routes {
		mux.HandleFunc(path, h)
	}
	srv := httptest.NewServer(hs.m.Handler(mux))
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, srv: srv, http: &http.Client{Jar: jar}}
}

// get requests path and returns the status and body.
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	res, err := b.http.Get(b.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// cookie is the session cookie the jar holds, or "".
func (b *browser) cookie() string {
	req, _ := http.NewRequest("GET", b.srv.URL, nil)
	for _, c := range b.http.Jar.Cookies(req.URL) {
		if c.Name == "sid" {
			return c.Value
		}
	}
	return ""
}

// gate holds a handler between its session's load and its action.
type gate struct{ reached, release chan struct{} }

func newGate() gate { return gate{make(chan struct{}), make(chan struct{})} }

func (g gate) wait() { close(g.reached); <-g.release }

// whoami and login are the routes every race test uses.
func accountRoutes(extra map[string]http.HandlerFunc) map[string]http.HandlerFunc {
	routes := map[string]http.HandlerFunc{
		"/login": func(w http.ResponseWriter, r *http.Request) {
			s := sessions.FromContext(r.Context())
			_ = s.Regenerate(r.Context())
			_ = s.SetUser("alice")
			_ = s.Set("secret", "alice's")
		},
		"/whoami": func(w http.ResponseWriter, r *http.Request) {
			var secret string
			_, _ = sessions.FromContext(r.Context()).Get("secret", &secret)
			fmt.Fprintf(w, "%s|%s", sessions.FromContext(r.Context()).User(), secret)
		},
	}
	for k, v := range extra {
		routes[k] = v
	}
	return routes
}

// A session revoked (DestroyUser, DestroySession, or its expiry passing)
// between a request's load and its commit never comes back, whatever the
// request does with it.
func TestRevokedSessionNeverComesBack(t *testing.T) {
	actions := map[string]func(*sessions.Session, *http.Request) error{
		"Regenerate": func(s *sessions.Session, r *http.Request) error { return s.Regenerate(r.Context()) },
		"Set":        func(s *sessions.Session, r *http.Request) error { return s.Set("late", 1) },
		"Save":       func(s *sessions.Session, r *http.Request) error { _ = s.Set("late", 1); return s.Save(r.Context()) },
		"Touch":      func(s *sessions.Session, r *http.Request) error { s.Touch(); return nil },
		"SetMaxAge":  func(s *sessions.Session, r *http.Request) error { s.SetMaxAge(time.Hour); return nil },
		"SetUser":    func(s *sessions.Session, r *http.Request) error { return s.SetUser("alice") },
		"Reload":     func(s *sessions.Session, r *http.Request) error { return s.Reload(r.Context()) },
		"nothing":    func(s *sessions.Session, r *http.Request) error { return nil },
	}
	revocations := map[string]func(hs *harness, h sessions.IDHash){
		"DestroyUser": func(hs *harness, _ sessions.IDHash) { _, _ = hs.m.DestroyUser(context.Background(), "alice") },
		"DestroySession": func(hs *harness, h sessions.IDHash) {
			_ = hs.m.DestroySession(context.Background(), h)
		},
		"expiry": func(hs *harness, _ sessions.IDHash) { hs.clock.Add(2 * time.Hour) },
	}
	for aname, act := range actions {
		for rname, revoke := range revocations {
			t.Run(aname+"/"+rname, func(t *testing.T) {
				hs := newHarness(t, sessions.Options{Rolling: true, Cookie: sessions.CookieOptions{MaxAge: time.Hour}}, noop)
				g := newGate()
				var actErr error
				b := newBrowser(t, hs, accountRoutes(map[string]http.HandlerFunc{"/act": func(w http.ResponseWriter, r *http.Request) {
					g.wait()
					actErr = act(sessions.FromContext(r.Context()), r)
				}}))
				b.get("/login")
				h := hashOf(t, "sid="+b.cookie())
				done := make(chan struct{})
				go func() { defer close(done); b.get("/act") }()
				<-g.reached
				revoke(hs, h)
				close(g.release)
				<-done
				if _, body := b.get("/whoami"); body != "|" {
					t.Errorf("after the race the browser is %q, want logged out and no secret", body)
				}
				if n, _ := hs.store.Count(context.Background(), hs.clock.Now()); n != 0 {
					t.Errorf("%d live sessions in the store, want 0", n)
				}
				if aname == "Save" && !errors.Is(actErr, sessions.ErrNotFound) {
					t.Errorf("Save of a revoked session = %v, want ErrNotFound", actErr)
				}
			})
		}
	}
}

// A slow request sent with the pre-login cookie, finishing after the login
// response, leaves the browser logged in: it sends no cookie at all (not
// its dead id, not a clearing cookie).
func TestSlowRequestDoesNotUndoLogin(t *testing.T) {
	for _, rolling := range []bool{false, true} {
		t.Run(fmt.Sprint("rolling=", rolling), func(t *testing.T) {
			hs := newHarness(t, sessions.Options{Rolling: rolling, Cookie: sessions.CookieOptions{MaxAge: time.Hour}}, noop)
			g := newGate()
			b := newBrowser(t, hs, accountRoutes(map[string]http.HandlerFunc{
				"/visit": func(w http.ResponseWriter, r *http.Request) { _ = sessions.FromContext(r.Context()).Set("cart", 1) },
				"/slow": func(w http.ResponseWriter, r *http.Request) {
					g.wait()
					if !rolling {
						_ = sessions.FromContext(r.Context()).Set("cart", 2)
					}
				},
			}))
			b.get("/visit")
			done := make(chan struct{})
			go func() { defer close(done); b.get("/slow") }()
			<-g.reached
			b.get("/login")
			loggedIn := b.cookie()
			close(g.release)
			<-done
			if b.cookie() != loggedIn {
				t.Errorf("the slow request changed the browser's cookie")
			}
			if _, body := b.get("/whoami"); body != "alice|alice's" {
				t.Errorf("after the slow request: %q, want still logged in as alice", body)
			}
		})
	}
}

// ctxLogger reads the session from the context of every record it
// handles, as a logger that adds request attributes does.
type ctxLogger struct {
	slog.Handler
	seen chan string
}

func (ctxLogger) Enabled(context.Context, slog.Level) bool { return true }

func (h ctxLogger) Handle(ctx context.Context, r slog.Record) error {
	if s := sessions.FromContext(ctx); s != nil {
		h.seen <- s.User() // takes the session's lock
	}
	return nil
}

// No lock is held while calling user code: a logger that reads the session
// does not hang Regenerate, Destroy or Save.
func TestContextAwareLoggerDoesNotDeadlock(t *testing.T) {
	seen := make(chan string, 100)
	hs := newHarness(t, sessions.Options{}, noop)
	m, err := sessions.New(hs.store, sessions.Options{Secrets: []string{secret}, Logger: slog.New(ctxLogger{slog.DiscardHandler, seen})})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.SetUser("alice")
		_ = s.Save(r.Context())
		_ = s.Regenerate(r.Context())
		_ = s.Destroy(r.Context())
	}))
	done := make(chan struct{})
	go func() { defer close(done); h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a hang, not a timing claim
		t.Fatal("the request hangs: a lock is held while logging")
	}
	if len(seen) < 3 {
		t.Errorf("%d events logged, want created, regenerated and destroyed", len(seen))
	}
}

// 103 Early Hints does not commit the session: a login after the hints is
// saved, and its cookie goes with the final response.
func TestEarlyHintsDoNotCommit(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	b := newBrowser(t, hs, accountRoutes(map[string]http.HandlerFunc{"/hinted-login": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		s := sessions.FromContext(r.Context())
		_ = s.Regenerate(r.Context())
		_ = s.SetUser("alice")
		_ = s.Set("secret", "alice's")
		w.WriteHeader(http.StatusOK)
	}}))
	b.get("/visit-nothing")
	if code, _ := b.get("/hinted-login"); code != 200 {
		t.Fatalf("status %d", code)
	}
	if _, body := b.get("/whoami"); body != "alice|alice's" {
		t.Errorf("after a login behind 103 Early Hints: %q, want logged in", body)
	}
}

// Destroy and Save finish when the client has hung up: the request's
// context is cancelled, the store write is not.
func TestWritesSurviveAHungUpClient(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	cookie := login(t, hs)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var destroyErr error
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		destroyErr = sessions.FromContext(r.Context()).Destroy(ctx)
	}))
	hs.get(cookie)
	if n, _ := hs.store.Count(context.Background(), hs.clock.Now()); destroyErr != nil || n != 0 {
		t.Errorf("Destroy with a cancelled context: %v, %d sessions left; want it deleted", destroyErr, n)
	}
}

// Regenerate keeps the creation time: rotating the id does not stretch the
// absolute timeout (OWASP measures it from creation).
func TestRegenerateKeepsAbsoluteTimeout(t *testing.T) {
	hs := newHarness(t, sessions.Options{AbsoluteTimeout: time.Hour, Rolling: true, Cookie: sessions.CookieOptions{MaxAge: 30 * time.Minute}}, noop)
	b := newBrowser(t, hs, accountRoutes(map[string]http.HandlerFunc{"/rotate": func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Regenerate(r.Context())
	}}))
	b.get("/login")
	for range 5 { // every 15 minutes, past the hour
		hs.clock.Add(15 * time.Minute)
		b.get("/rotate")
	}
	if _, body := b.get("/whoami"); body != "|" {
		t.Errorf("75 minutes after login, rotated every 15: %q, want the absolute timeout to have ended it", body)
	}
}

// With TrustProxy the logged client address is the one the proxy appended
// (the right-most of X-Forwarded-For), never text the client sent.
func TestClientIPFromTrustedProxy(t *testing.T) {
	for _, tc := range []struct{ xff, want string }{
		{"203.0.113.9", "ip=203.0.113.9"},
		{"6.6.6.6, 203.0.113.9", "ip=203.0.113.9"},
		{"6.6.6.6, not-an-ip", "ip=192.0.2.1"},
		{"<script>", "ip=192.0.2.1"},
	} {
		hs := newHarness(t, sessions.Options{TrustProxy: true}, setKey("k", 1))
		hs.do("GET", "/", "", func(r *http.Request) { r.Header.Set("X-Forwarded-For", tc.xff) })
		if logs := hs.logs.String(); !strings.Contains(logs, tc.want+" ") && !strings.HasSuffix(strings.TrimSpace(logs), tc.want) {
			t.Errorf("X-Forwarded-For %q: logs %q, want %s", tc.xff, logs, tc.want)
		}
	}
}

// New refuses a TouchAfter that would log active users out.
func TestTouchAfterNotShorterThanLifetime(t *testing.T) {
	_, err := sessions.New(newSpy(), sessions.Options{Secrets: []string{secret}, TouchAfter: 2 * time.Hour, Cookie: sessions.CookieOptions{MaxAge: time.Hour}})
	if err == nil || !strings.Contains(err.Error(), "TouchAfter") {
		t.Errorf("New with TouchAfter 2h and MaxAge 1h: %v, want an error naming TouchAfter", err)
	}
}
