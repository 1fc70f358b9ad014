package sessions_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
)

// A flash is read once, and concurrent requests that add and pop
// different flashes keep each other's.
func TestFlash(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	b := newBrowser(t, hs, map[string]http.HandlerFunc{
		"/save": func(w http.ResponseWriter, r *http.Request) {
			_ = sessions.FromContext(r.Context()).Flash(r.URL.Query().Get("k"), "saved "+r.URL.Query().Get("k"))
		},
		"/show": func(w http.ResponseWriter, r *http.Request) {
			var msg string
			ok, err := sessions.FromContext(r.Context()).Pop(r.URL.Query().Get("k"), &msg)
			fmt.Fprintf(w, "%v|%s|%v", ok, msg, err)
		},
	})
	b.get("/save?k=a")
	var wg sync.WaitGroup
	for _, k := range []string{"b", "c", "d"} {
		wg.Go(func() { b.get("/save?k=" + k) })
	}
	wg.Go(func() { b.get("/show?k=a") })
	wg.Wait()
	for _, k := range []string{"b", "c", "d"} {
		if _, body := b.get("/show?k=" + k); body != "true|saved "+k+"|<nil>" {
			t.Errorf("Pop(%s) = %q, want it once", k, body)
		}
		if _, body := b.get("/show?k=" + k); body != "false||<nil>" {
			t.Errorf("second Pop(%s) = %q, want nothing", k, body)
		}
	}
	if _, body := b.get("/show?k=a"); body != "false||<nil>" {
		t.Errorf("Pop(a) after it was popped = %q", body)
	}
}

// ExpiresAt and AbsoluteDeadline report the deadlines without moving
// them; a passive request (a poll) extends nothing.
func TestDeadlinesAndPassive(t *testing.T) {
	hs := newHarness(t, sessions.Options{
		Rolling: true, AbsoluteTimeout: 8 * time.Hour, PassivePaths: []string{"/poll/"},
		Cookie: sessions.CookieOptions{MaxAge: 30 * time.Minute},
	}, noop)
	loggedIn := hs.clock.Now()
	b := newBrowser(t, hs, accountRoutes(map[string]http.HandlerFunc{
		"/poll/deadline": func(w http.ResponseWriter, r *http.Request) {
			s := sessions.FromContext(r.Context())
			fmt.Fprintf(w, "%s|%s", s.ExpiresAt().Format(time.RFC3339), s.AbsoluteDeadline().Format(time.RFC3339))
		},
		"/poll/marked": func(w http.ResponseWriter, r *http.Request) {
			s := sessions.FromContext(r.Context())
			s.Passive()
			_ = s.Set("seen", true)
		},
		"/work": noop,
	}))
	b.get("/login")
	cookie := b.cookie()
	for range 5 {
		hs.clock.Add(5 * time.Minute)
		_, body := b.get("/poll/deadline")
		want := loggedIn.Add(30*time.Minute).Format(time.RFC3339) + "|" + loggedIn.Add(8*time.Hour).Format(time.RFC3339)
		if body != want {
			t.Fatalf("poll at %v: %q, want %q (unchanged)", hs.clock.Now().Sub(loggedIn), body, want)
		}
	}
	hs.store.reset()
	b.get("/poll/marked")
	if hs.store.count("Touch") != 0 || b.cookie() != cookie {
		t.Errorf("a passive request touched (%d) or re-sent the cookie", hs.store.count("Touch"))
	}
	if _, body := b.get("/poll/deadline"); !strings.HasPrefix(body, loggedIn.Add(30*time.Minute).Format(time.RFC3339)) {
		t.Errorf("a passive save moved the expiry: %q", body)
	}
	hs.clock.Add(26 * time.Minute) // 51 minutes after login: past the first expiry
	if _, body := b.get("/whoami"); body != "|" {
		t.Errorf("polling kept the session alive: %q", body)
	}
}

// Events carry what OWASP asks (UTC time, IP, method, path, user, a keyed
// fingerprint) and never the id or its hash; a rejected cookie is logged
// at debug level with a fingerprint only.
func TestLogsPerOWASP(t *testing.T) {
	var buf bytes.Buffer
	var id string
	hs := newHarness(t, sessions.Options{}, noop)
	m, err := sessions.New(hs.store, sessions.Options{Secrets: []string{secret}, Now: hs.clock.Now,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	hs.m, hs.h = m, m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.SetUser("alice")
		_ = s.Set("k", 1)
		id = s.ID()
	}))
	hs.do("POST", "/login?x=1", "")
	hs.do("GET", "/", "sid=s%3Aforged.AAAA")
	logs := buf.String()
	hash := sessions.HashID(id)
	for _, want := range []string{"session created", "user=alice", "ip=192.0.2.1", "method=POST", "path=/login", "utc=2026-05-01T10:00:00Z", "session=", "level=DEBUG", "cookie rejected"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{id, hash.String()[:16], hex.EncodeToString(hash[:4]), "forged"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q (the id, its database key, or the forged id):\n%s", secret, logs)
		}
	}
}

// Log lines name only sessions that existed, and a revocation's line names
// the acting request (#19 item 11): an anonymous visitor's login logs no
// "regenerated" line about an id never stored, a logout of a session never
// stored logs no "destroyed" line, and DestroySession and DestroyUser
// called with a request's context carry its address, method, path and user.
func TestLogsNameRealSessionsAndActors(t *testing.T) {
	var victim sessions.IDHash
	hs := newHarness(t, sessions.Options{}, noop)
	routes := map[string]http.HandlerFunc{
		"/login": func(w http.ResponseWriter, r *http.Request) {
			s := sessions.FromContext(r.Context())
			_ = s.Regenerate(r.Context())
			_ = s.SetUser(r.URL.Query().Get("u"))
		},
		"/logout": func(w http.ResponseWriter, r *http.Request) {
			_ = sessions.FromContext(r.Context()).Destroy(r.Context())
		},
		"/victim": func(w http.ResponseWriter, r *http.Request) { victim = sessions.FromContext(r.Context()).IDHash() },
		"/revoke": func(w http.ResponseWriter, r *http.Request) {
			_ = hs.m.DestroySession(r.Context(), victim)
			_, _ = hs.m.DestroyUser(r.Context(), "mallory")
		},
	}
	user := newBrowser(t, hs, routes)
	user.get("/logout") // no session stored: nothing destroyed
	user.get("/login?u=mallory")
	user.get("/victim")
	if logs := hs.logs.String(); strings.Contains(logs, "regenerated") || strings.Contains(logs, "destroyed") {
		t.Errorf("logs name a session that was never stored:\n%s", logs)
	}
	admin := newBrowser(t, hs, routes)
	admin.get("/login?u=root")
	hs.logs.Reset()
	admin.get("/revoke")
	logs := hs.logs.String()
	for _, event := range []string{"session revoked", "user sessions destroyed"} {
		line := ""
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, event) {
				line = l
			}
		}
		if line == "" {
			t.Errorf("no %q line:\n%s", event, logs)
		}
		for _, want := range []string{"ip=127.0.0.1", "method=GET", "path=/revoke", "by_user=root"} {
			if line != "" && !strings.Contains(line, want) {
				t.Errorf("%q line lacks %s: %s", event, want, line)
			}
		}
	}
}
