package sessions_test

// Behaviours ported from express-session's test/session.js. Each test names
// the describe/it it mirrors. Where sqlsession differs by design (defaults,
// Regenerate keeping values), the test says so.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/cookiesig"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// express: "should error without secret"; "secret option" "should reject empty arrays".
func TestNewValidates(t *testing.T) {
	store := newSpy()
	tests := []struct {
		name  string
		store sessions.Store
		opts  sessions.Options
		want  string
	}{
		{"no store", nil, sessions.Options{Secrets: []string{secret}}, "nil Store"},
		{"no secret", store, sessions.Options{}, "Secrets is required"},
		{"empty secret list", store, sessions.Options{Secrets: []string{}}, "Secrets is required"},
		{"empty secret", store, sessions.Options{Secrets: []string{secret, ""}}, "Secrets[1] is empty"},
		{"SameSite None without Secure", store, sessions.Options{Secrets: []string{secret}, Cookie: sessions.CookieOptions{SameSite: http.SameSiteNoneMode}}, "SameSite None needs"},
		{"relative path", store, sessions.Options{Secrets: []string{secret}, Cookie: sessions.CookieOptions{Path: "admin"}}, "must start with /"},
		{"path with ;", store, sessions.Options{Secrets: []string{secret}, Cookie: sessions.CookieOptions{Path: "/a;b"}}, "must start with /"},
		{"bad domain", store, sessions.Options{Secrets: []string{secret}, Cookie: sessions.CookieOptions{Domain: "exa mple.com"}}, "not a valid domain"},
		{"bad name", store, sessions.Options{Secrets: []string{secret}, Name: "my session"}, "not a valid cookie name"},
		{"bad priority", store, sessions.Options{Secrets: []string{secret}, Cookie: sessions.CookieOptions{Priority: "urgent"}}, "Priority"},
		{"negative max age", store, sessions.Options{Secrets: []string{secret}, Cookie: sessions.CookieOptions{MaxAge: -time.Second}}, "negative"},
		{"bad unset", store, sessions.Options{Secrets: []string{secret}, Unset: 7}, "Unset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sessions.New(tc.store, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want error containing %q", err, tc.want)
			}
		})
	}
	if _, err := sessions.New(store, sessions.Options{Secrets: []string{secret}, Cookie: sessions.CookieOptions{SameSite: http.SameSiteNoneMode, Secure: sessions.SecureOn}}); err != nil {
		t.Errorf("SameSite None with Secure: %v", err)
	}
}

// express: "should create a new session" (with saveUninitialized: true);
// "name option" "should default to 'connect.sid'" (ours: "sid");
// ".cookie" ".*" "should default to a browser-session length cookie".
func TestDefaultsAndNewSession(t *testing.T) {
	hs := newHarness(t, sessions.Options{SaveUninitialized: true}, noop)
	res := hs.get("")
	sc := sessionCookie(res, "sid")
	if sc == "" {
		t.Fatalf("no sid cookie; Set-Cookie = %q", res.Header.Values("Set-Cookie"))
	}
	if !strings.HasPrefix(sc, "sid=s%3A") || !strings.Contains(sc, "; Path=/") || !strings.Contains(sc, "; HttpOnly") {
		t.Errorf("Set-Cookie = %q, want sid=s%%3A… with Path=/ and HttpOnly", sc)
	}
	if strings.Contains(sc, "Expires") || strings.Contains(sc, "Max-Age") || strings.Contains(sc, "Secure") || strings.Contains(sc, "SameSite") {
		t.Errorf("Set-Cookie = %q: default is a browser-session, non-Secure cookie without SameSite", sc)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-store" { // OWASP; Options.CacheControl changes it
		t.Errorf("Cache-Control = %q", got)
	}
	if got := res.Header.Get("Vary"); got != "Cookie" {
		t.Errorf("Vary = %q", got)
	}
	if hs.store.count("Create") != 1 {
		t.Errorf("Create calls = %d, want 1", hs.store.count("Create"))
	}
}

// express: "saveUninitialized option" "should prevent save of uninitialized session";
// "req.session" "should only set-cookie when modified".
func TestUninitializedSessionNotSaved(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	res := hs.get("")
	if sc := sessionCookie(res, "sid"); sc != "" {
		t.Errorf("unmodified new session got a cookie: %q", sc)
	}
	if res.Header.Get("Cache-Control") != "" {
		t.Errorf("Cache-Control set without a cookie: %q", res.Header.Get("Cache-Control"))
	}
	if n, _ := hs.store.Count(context.Background(), hs.clock.Now()); n != 0 {
		t.Errorf("store holds %d sessions, want 0", n)
	}
	if res.Header.Get("Vary") != "Cookie" {
		t.Errorf("Vary = %q, want Cookie on every response", res.Header.Get("Vary"))
	}
}

// express: "saveUninitialized option" "should still save modified session";
// "should load session from cookie sid"; "req.session" "should persist".
func TestCounterPersists(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		var n int
		if _, err := s.Get("views", &n); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		n++
		_ = s.Set("views", n)
		fmt.Fprint(w, n)
	})
	res := hs.get("")
	cookie := cookiePair(sessionCookie(res, "sid"))
	if cookie == "" || body(t, res) != "1" {
		t.Fatal("first request: no cookie or wrong body")
	}
	for want := 2; want <= 3; want++ {
		res = hs.get(cookie)
		if got := body(t, res); got != fmt.Sprint(want) {
			t.Fatalf("views = %s, want %d", got, want)
		}
		// A browser-session cookie is sent once, not on every change (express: "should Set-Cookie only once for browser-session cookies").
		if sc := sessionCookie(res, "sid"); sc != "" {
			t.Errorf("request %d re-sent the browser-session cookie: %q", want, sc)
		}
	}
	if hs.store.count("Create") != 1 || hs.store.count("Update") != 2 {
		t.Errorf("Create=%d Update=%d, want 1 and 2", hs.store.count("Create"), hs.store.count("Update"))
	}
}

// express: "should pass session fetch error".
func TestLoadErrorRunsErrorHandler(t *testing.T) {
	ran := false
	hs := newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) { ran = true })
	cookie := login(t, hs)
	hs.store.fail("Load", errBoom)
	res := hs.get(cookie)
	if res.StatusCode != 500 || ran {
		t.Errorf("status %d, handler ran %v; want 500 and not run", res.StatusCode, ran)
	}
	if b := body(t, res); strings.Contains(b, "boom") {
		t.Errorf("error text leaked to the client: %q", b)
	}
	if !strings.Contains(hs.logs.String(), "boom") {
		t.Errorf("error not logged: %s", hs.logs.String())
	}
}

// Custom ErrorHandler gets the error.
func TestCustomErrorHandler(t *testing.T) {
	var got error
	opts := sessions.Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusServiceUnavailable)
	}}
	hs := newHarness(t, opts, setKey("a", 1))
	hs.store.fail("Create", errBoom)
	res := hs.get("")
	if res.StatusCode != 503 || !errors.Is(got, errBoom) {
		t.Errorf("status %d, err %v; want 503 and boom", res.StatusCode, got)
	}
}

// express: "saveUninitialized option" "should pass session save error";
// DESIGN: a session that could not be saved gets no cookie.
func TestSaveErrorNoCookie(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Set("a", 1)
		w.Header().Set("X-Handler", "yes")
		w.WriteHeader(201)
		fmt.Fprint(w, "created")
	})
	hs.store.fail("Create", errBoom)
	res := hs.get("")
	if res.StatusCode != 500 {
		t.Errorf("status = %d, want 500", res.StatusCode)
	}
	if sc := sessionCookie(res, "sid"); sc != "" || res.Header.Get("X-Handler") != "" {
		t.Errorf("failed save still sent cookie %q / handler header %q", sc, res.Header.Get("X-Handler"))
	}
	if b := body(t, res); strings.Contains(b, "created") {
		t.Errorf("handler's body reached the client: %q", b)
	}
}

// express: "resave option" "should pass session touch error".
func TestTouchError(t *testing.T) {
	hs := newHarness(t, sessions.Options{TouchAfter: sessions.TouchEveryRequest}, noop)
	cookie := login(t, hs)
	hs.store.fail("Touch", errBoom)
	if res := hs.get(cookie); res.StatusCode != 500 {
		t.Errorf("status = %d, want 500", res.StatusCode)
	}
}

// express: "when sid not in store" "should create a new session", "should have a new sid";
// "should treat ENOENT session fetch error as not found".
func TestUnknownSidStartsFresh(t *testing.T) {
	hs := newHarness(t, sessions.Options{SaveUninitialized: true}, noop)
	forged := "sid=" + "s%3A" + cookiesig.Sign("not-in-store", secret)
	res := hs.get(forged)
	sc := sessionCookie(res, "sid")
	if sc == "" || strings.Contains(sc, "not-in-store") {
		t.Errorf("Set-Cookie = %q, want a new sid", sc)
	}
	if hs.store.count("Load") != 1 {
		t.Errorf("Load calls = %d, want 1", hs.store.count("Load"))
	}
}

// express: "when sid not properly signed" "should generate new session", "should not attempt fetch from store";
// plus unsigned, malformed, duplicated and oversized cookies (issue #4).
func TestBadCookiesNeverReachTheStore(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, setKey("k", 1))
	good := login(t, hs)
	goodValue := strings.TrimPrefix(good, "sid=")
	other := login(t, hs)
	hs.store.reset()
	bad := map[string]string{
		"wrong secret":       "sid=s%3A" + cookiesig.Sign("abc", "other secret"),
		"unsigned":           "sid=abc",
		"unsigned s: prefix": "sid=s%3Aabc",
		"truncated":          good[:len(good)-3],
		"tampered":           strings.Replace(good, "s%3A", "s%3AX", 1),
		"bad percent":        "sid=s%3A%zz" + goodValue[7:],
		"empty":              "sid=",
		"oversized":          "sid=s%3A" + cookiesig.Sign(strings.Repeat("a", 5000), secret),
		"duplicated":         good + "; " + other,
		"empty id":           "sid=s%3A" + cookiesig.Sign("", secret),
	}
	for name, c := range bad {
		res := hs.get(c)
		if res.StatusCode != 200 {
			t.Errorf("%s: status %d", name, res.StatusCode)
		}
	}
	if n := hs.store.count("Load"); n != 0 {
		t.Errorf("bad cookies caused %d store lookups, want 0", n)
	}
	// The same cookie sent twice (same value) is still one session.
	if res := hs.get(good + "; " + good); res.StatusCode != 200 || hs.store.count("Load") != 1 {
		t.Errorf("identical duplicate: status %d, loads %d", res.StatusCode, hs.store.count("Load"))
	}
}

// express: "proxy option" "when enabled" "should trust X-Forwarded-Proto when string",
// "should trust X-Forwarded-Proto when comma-separated list", "should work when no header";
// "when disabled" "should not trust X-Forwarded-Proto";
// "cookie option" "when "secure" set to true" "should not set cookie for insecure request";
// "when 'secure' set to 'auto'" "should set secure when https", "should not set secure when http".
func TestSecureAndProxy(t *testing.T) {
	https := func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") }
	httpsList := func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https,http") }
	tests := []struct {
		name       string
		secure     sessions.SecureMode
		trustProxy bool
		mod        []func(*http.Request)
		wantCookie bool
		wantSecure bool
	}{
		{"secure on, plain http: no cookie", sessions.SecureOn, false, nil, false, false},
		{"secure on, proxy https trusted", sessions.SecureOn, true, []func(*http.Request){https}, true, true},
		{"secure on, proxy https comma list", sessions.SecureOn, true, []func(*http.Request){httpsList}, true, true},
		{"secure on, proxy header not trusted", sessions.SecureOn, false, []func(*http.Request){https}, false, false},
		{"secure on, trusted proxy, no header", sessions.SecureOn, true, nil, false, false},
		{"auto, http", sessions.SecureAuto, true, nil, true, false},
		{"auto, https via proxy", sessions.SecureAuto, true, []func(*http.Request){https}, true, true},
		{"auto, untrusted header", sessions.SecureAuto, false, []func(*http.Request){https}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := newHarness(t, sessions.Options{TrustProxy: tc.trustProxy, Cookie: sessions.CookieOptions{Secure: tc.secure}}, setKey("k", 1))
			sc := sessionCookie(hs.do("GET", "/", "", tc.mod...), "sid")
			if (sc != "") != tc.wantCookie || strings.Contains(sc, "; Secure") != tc.wantSecure {
				t.Errorf("Set-Cookie = %q, want cookie %v secure %v", sc, tc.wantCookie, tc.wantSecure)
			}
		})
	}
	// Real TLS counts as secure.
	hs := newHarness(t, sessions.Options{Cookie: sessions.CookieOptions{Secure: sessions.SecureAuto}}, setKey("k", 1))
	res := hs.do("GET", "https://example.com/", "")
	if sc := sessionCookie(res, "sid"); !strings.Contains(sc, "; Secure") {
		t.Errorf("TLS request: Set-Cookie = %q, want Secure", sc)
	}
}

// express: "cookie option" "when "path" set to "/foo/bar"": "should not set cookie for "/" request",
// "should set cookie for "/foo/bar" request", "should set cookie for "/foo/bar/baz" request".
func TestCookiePath(t *testing.T) {
	var sawSession bool
	hs := newHarness(t, sessions.Options{Cookie: sessions.CookieOptions{Path: "/foo/bar"}}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		sawSession = s != nil
		_ = s.Set("k", 1) // nil-safe outside the path
	})
	for path, want := range map[string]bool{"/": false, "/foo": false, "/foo/bar": true, "/foo/bar/baz": true} {
		sc := sessionCookie(hs.do("GET", path, ""), "sid")
		if (sc != "") != want || sawSession != want {
			t.Errorf("%s: cookie %q session %v, want %v", path, sc, sawSession, want)
		}
		if want && !strings.Contains(sc, "; Path=/foo/bar") {
			t.Errorf("%s: Set-Cookie = %q, want Path=/foo/bar", path, sc)
		}
	}
}

// express: "genid option" "should allow custom function", "should encode unsafe chars",
// "should provide req argument"; "should provide default generator".
func TestGenID(t *testing.T) {
	hs := newHarness(t, sessions.Options{GenID: func(r *http.Request) string { return "%" + r.URL.Query().Get("u") }}, setKey("k", 1))
	sc := sessionCookie(hs.do("GET", "/?u=bob", ""), "sid")
	want := "sid=s%3A%25bob." + encodeURIComponent(strings.TrimPrefix(cookiesig.Sign("%bob", secret), "%bob."))
	if cookiePair(sc) != want {
		t.Errorf("Set-Cookie = %q, want %q", cookiePair(sc), want)
	}
	// Default: 24 random bytes, base64url without padding (32 characters).
	hs = newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("k", 1)
		fmt.Fprint(w, s.ID())
	})
	id := body(t, hs.get(""))
	if len(id) != 32 || strings.ContainsAny(id, "+/=") {
		t.Errorf("default id %q: want 32 base64url characters", id)
	}
	// An empty generated id is an error, not a session.
	hs = newHarness(t, sessions.Options{GenID: func(*http.Request) string { return "" }}, noop)
	if res := hs.get(""); res.StatusCode != 500 {
		t.Errorf("empty GenID: status %d, want 500", res.StatusCode)
	}
}

func encodeURIComponent(s string) string {
	r := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D")
	return r.Replace(s)
}

// express: "name option" "should allow overriding".
func TestName(t *testing.T) {
	hs := newHarness(t, sessions.Options{Name: "session_id"}, setKey("k", 1))
	if sc := sessionCookie(hs.get(""), "session_id"); sc == "" {
		t.Error("no session_id cookie")
	}
}

// express: "rolling option" "should default to false", "should force cookie on unmodified session",
// "should not force cookie on uninitialized session if saveUninitialized option is set to false",
// "should force cookie and save uninitialized session if saveUninitialized option is set to true",
// "should force cookie and save modified session even if saveUninitialized option is set to false".
func TestRolling(t *testing.T) {
	hs := newHarness(t, sessions.Options{Rolling: true, Cookie: sessions.CookieOptions{MaxAge: time.Hour}}, noop)
	if sc := sessionCookie(hs.get(""), "sid"); sc != "" {
		t.Errorf("rolling, uninitialized, saveUninitialized=false: cookie %q", sc)
	}
	cookie := login(t, hs)
	hs.clock.Add(10 * time.Minute)
	sc := sessionCookie(hs.get(cookie), "sid")
	want := hs.clock.Now().Add(time.Hour).Format(http.TimeFormat)
	if !strings.Contains(sc, "Expires="+want) || !strings.Contains(sc, "Max-Age=3600") {
		t.Errorf("rolling: Set-Cookie = %q, want a fresh Expires=%s", sc, want)
	}
	hs = newHarness(t, sessions.Options{Rolling: true, SaveUninitialized: true}, noop)
	if sc := sessionCookie(hs.get(""), "sid"); sc == "" || hs.store.count("Create") != 1 {
		t.Errorf("rolling + saveUninitialized: cookie %q, creates %d", sc, hs.store.count("Create"))
	}
	hs = newHarness(t, sessions.Options{}, noop)
	cookie = login(t, hs)
	if sc := sessionCookie(hs.get(cookie), "sid"); sc != "" {
		t.Errorf("rolling off: unmodified session re-sent its cookie %q", sc)
	}
}

// express: "resave option" "when true" "should force save on unmodified session";
// "when false" "should prevent save on unmodified session", "should still save modified session";
// "should not save session if it hasn't changed".
func TestResave(t *testing.T) {
	hs := newHarness(t, sessions.Options{Resave: true}, noop)
	cookie := login(t, hs)
	hs.store.reset()
	hs.get(cookie)
	if hs.store.count("Update") != 1 || hs.store.count("Touch") != 0 {
		t.Errorf("resave: Update=%d Touch=%d, want 1 and 0", hs.store.count("Update"), hs.store.count("Touch"))
	}
	hs = newHarness(t, sessions.Options{TouchAfter: sessions.TouchEveryRequest}, noop)
	cookie = login(t, hs)
	hs.store.reset()
	hs.get(cookie)
	if hs.store.count("Update") != 0 || hs.store.count("Touch") != 1 {
		t.Errorf("resave off: Update=%d Touch=%d, want 0 and 1", hs.store.count("Update"), hs.store.count("Touch"))
	}
	// Setting a key to the value it already has is no modification.
	hs.h = hs.m.Handler(setKey("user", "alice"))
	hs.store.reset()
	hs.get(cookie)
	if hs.store.count("Update") != 0 {
		t.Errorf("unchanged value saved: Update=%d", hs.store.count("Update"))
	}
}

// express: "saveUninitialized option" "should prevent uninitialized session from being touched".
func TestUninitializedNotTouched(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	hs.get("")
	if hs.store.count("Touch")+hs.store.count("Create")+hs.store.count("Update") != 0 {
		t.Errorf("store written for an uninitialized session: %v", hs.store.calls)
	}
}

// TouchAfter (beyond express, like connect-mongo's touchAfter).
func TestTouchAfter(t *testing.T) {
	hs := newHarness(t, sessions.Options{TouchAfter: 5 * time.Minute, Cookie: sessions.CookieOptions{MaxAge: time.Hour}}, noop)
	cookie := login(t, hs)
	hs.store.reset()
	hs.clock.Add(time.Minute)
	hs.get(cookie)
	if hs.store.count("Touch") != 0 {
		t.Errorf("touched within TouchAfter")
	}
	hs.clock.Add(5 * time.Minute)
	hs.get(cookie)
	if hs.store.count("Touch") != 1 {
		t.Errorf("Touch calls = %d after TouchAfter passed, want 1", hs.store.count("Touch"))
	}
	rec, err := hs.store.Store.Load(context.Background(), hashOf(t, cookie), hs.clock.Now())
	rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
	if err != nil || !rec.ExpiresAt.Equal(hs.clock.Now().Add(time.Hour)) {
		t.Errorf("expiry after touch = %v (%v), want %v", rec.ExpiresAt, err, hs.clock.Now().Add(time.Hour))
	}
	// Session.Touch forces it.
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sessions.FromContext(r.Context()).Touch() }))
	hs.clock.Add(time.Second)
	hs.get(cookie)
	if hs.store.count("Touch") != 2 {
		t.Errorf("Session.Touch did not touch: %d", hs.store.count("Touch"))
	}
}

// AbsoluteTimeout: a rolling session still dies at created_at + timeout.
func TestAbsoluteTimeout(t *testing.T) {
	hs := newHarness(t, sessions.Options{Rolling: true, AbsoluteTimeout: time.Hour, Cookie: sessions.CookieOptions{MaxAge: 30 * time.Minute}}, setKey("seen", true))
	res := hs.get("")
	cookie := cookiePair(sessionCookie(res, "sid"))
	start := hs.clock.Now()
	for range 3 {
		hs.clock.Add(20 * time.Minute)
		res = hs.get(cookie)
		sc := sessionCookie(res, "sid")
		if hs.clock.Now().Before(start.Add(time.Hour)) {
			if cookiePair(sc) != cookie {
				t.Fatalf("session replaced before the absolute timeout")
			}
			exp := hs.clock.Now().Add(30 * time.Minute)
			if end := start.Add(time.Hour); exp.After(end) {
				exp = end
			}
			if !strings.Contains(sc, "Expires="+exp.Format(http.TimeFormat)) {
				t.Errorf("at %v: Set-Cookie %q, want Expires capped at %v", hs.clock.Now().Sub(start), sc, exp)
			}
		} else if cookiePair(sc) == cookie {
			t.Errorf("at %v the session is still alive past its absolute timeout", hs.clock.Now().Sub(start))
		}
	}
}

// express: "unset option" "should default to keep", "should allow destroy on req.session = null".
func TestUnset(t *testing.T) {
	unset := func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("changed", true)
		s.Unset()
	}
	for _, mode := range []sessions.UnsetMode{sessions.UnsetKeep, sessions.UnsetDestroy} {
		hs := newHarness(t, sessions.Options{Unset: mode}, noop)
		cookie := login(t, hs)
		hs.h = hs.m.Handler(http.HandlerFunc(unset))
		res := hs.get(cookie)
		if sc := sessionCookie(res, "sid"); sc != "" {
			t.Errorf("unset %d: Set-Cookie %q", mode, sc)
		}
		rec, err := hs.store.Store.Load(context.Background(), hashOf(t, cookie), hs.clock.Now())
		rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
		switch mode {
		case sessions.UnsetKeep:
			if err != nil || rec.Data["changed"] != nil {
				t.Errorf("keep: err %v, data %v; want the session kept unchanged", err, rec.Data)
			}
		case sessions.UnsetDestroy:
			if !errors.Is(err, sessions.ErrNotFound) {
				t.Errorf("destroy: session still stored (err %v)", err)
			}
		}
	}
}

// express: "req.session" ".destroy()" "should destroy the previous session";
// DESIGN: Destroy clears the cookie.
func TestDestroy(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	cookie := login(t, hs)
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	}))
	res := hs.get(cookie)
	sc := sessionCookie(res, "sid")
	if !strings.HasPrefix(sc, "sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0") {
		t.Errorf("Set-Cookie = %q, want the cookie cleared", sc)
	}
	if _, err := hs.store.Store.Load(context.Background(), hashOf(t, cookie), hs.clock.Now()); !errors.Is(err, sessions.ErrNotFound) {
		t.Errorf("session still stored after Destroy: %v", err)
	}
	if !strings.Contains(hs.logs.String(), "session destroyed") {
		t.Errorf("no destroyed event logged")
	}
}

// express: "req.session" ".regenerate()" "should destroy/replace the previous session";
// DESIGN: values are kept (express starts empty).
func TestRegenerate(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	cookie := login(t, hs)
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Regenerate(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	}))
	res := hs.get(cookie)
	newCookie := cookiePair(sessionCookie(res, "sid"))
	if newCookie == "" || newCookie == cookie {
		t.Fatalf("Regenerate: Set-Cookie %q, want a new id", newCookie)
	}
	if _, err := hs.store.Store.Load(context.Background(), hashOf(t, cookie), hs.clock.Now()); !errors.Is(err, sessions.ErrNotFound) {
		t.Errorf("old session still stored: %v", err)
	}
	rec, err := hs.store.Store.Load(context.Background(), hashOf(t, newCookie), hs.clock.Now())
	rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
	if err != nil || string(rec.Data["user"]) != `"alice"` {
		t.Errorf("new session: %v, data %v; want user kept", err, rec.Data)
	}
	if !strings.Contains(hs.logs.String(), "session regenerated") {
		t.Errorf("no regenerated event logged")
	}
}

// express: ".reload()" "should reload session from store", "should error is session missing".
func TestReload(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	cookie := login(t, hs)
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("user", "mallory")
		// Another request changes the stored session meanwhile.
		_ = hs.store.Store.Update(r.Context(), s.IDHash(), sessionstore.Change{Set: map[string]json.RawMessage{"user": json.RawMessage(`"bob"`)}, ExpiresAt: hs.clock.Now().Add(time.Hour)}, hs.clock.Now())
		if err := s.Reload(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		var u string
		_, _ = s.Get("user", &u)
		fmt.Fprint(w, u)
	}))
	if got := body(t, hs.get(cookie)); got != "bob" {
		t.Errorf("after Reload user = %q, want bob", got)
	}
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := sessions.FromContext(r.Context()).Reload(r.Context())
		fmt.Fprint(w, errors.Is(err, sessions.ErrNotFound))
	}))
	if got := body(t, hs.get("")); got != "true" {
		t.Errorf("Reload of an unsaved session: ErrNotFound = %s", got)
	}
}

// express: ".save()" "should save session to store", "should prevent end-of-request save".
func TestExplicitSave(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("k", 1)
		if err := s.Save(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if n, _ := hs.store.Count(r.Context(), hs.clock.Now()); n != 1 {
			http.Error(w, "not saved by Save", 500)
		}
	}))
	res := hs.get("")
	if res.StatusCode != 200 || sessionCookie(res, "sid") == "" {
		t.Errorf("status %d cookie %q", res.StatusCode, sessionCookie(res, "sid"))
	}
	if hs.store.count("Create") != 1 || hs.store.count("Update") != 0 {
		t.Errorf("Create=%d Update=%d: want one save, none at the end", hs.store.count("Create"), hs.store.count("Update"))
	}
}

// express: ".cookie" ".maxAge" "should set cookie expires relative to maxAge",
// "should modify cookie expires when changed"; ".originalMaxAge" "should equal original maxAge for all requests from store";
// ".expires" "when null" "should be a browser-session cookie".
func TestSetMaxAgeRememberMe(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("user", "alice")
		if r.URL.Query().Get("remember") == "1" {
			s.SetMaxAge(30 * 24 * time.Hour)
		}
	})
	sc := sessionCookie(hs.do("GET", "/?remember=1", ""), "sid")
	want := hs.clock.Now().Add(30 * 24 * time.Hour)
	if !strings.Contains(sc, "Expires="+want.Format(http.TimeFormat)) || !strings.Contains(sc, "Max-Age=2592000") {
		t.Fatalf("Set-Cookie = %q, want a 30-day cookie", sc)
	}
	cookie := cookiePair(sc)
	rec, err := hs.store.Store.Load(context.Background(), hashOf(t, cookie), hs.clock.Now())
	rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
	if err != nil || !rec.ExpiresAt.Equal(want) {
		t.Fatalf("store expiry %v (%v), want %v", rec.ExpiresAt, err, want)
	}
	if !strings.Contains(string(rec.Data["cookie"]), `"originalMaxAge":2592000000`) {
		t.Errorf("stored cookie %s lacks originalMaxAge", rec.Data["cookie"])
	}
	// The per-session lifetime survives later requests (read back from the store).
	hs.clock.Add(time.Hour)
	hs.h = hs.m.Handler(setKey("more", 1))
	sc = sessionCookie(hs.get(cookie), "sid")
	if !strings.Contains(sc, "Max-Age=2592000") {
		t.Errorf("later modified request: Set-Cookie %q, want the 30-day lifetime kept", sc)
	}
}

// express: ".cookie" ".*" "should override defaults" (domain, sameSite, partitioned, priority, httpOnly false).
func TestCookieAttributes(t *testing.T) {
	hs := newHarness(t, sessions.Options{Cookie: sessions.CookieOptions{
		Domain: "example.com", SameSite: http.SameSiteStrictMode, Partitioned: true, Priority: "high",
		DisableHTTPOnly: true, Secure: sessions.SecureOn, MaxAge: time.Minute,
	}}, setKey("k", 1))
	sc := sessionCookie(hs.do("GET", "https://example.com/", ""), "sid")
	for _, want := range []string{"; Domain=example.com", "; SameSite=Strict", "; Partitioned", "; Priority=High", "; Secure", "; Max-Age=60"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie = %q, missing %q", sc, want)
		}
	}
	if strings.Contains(sc, "HttpOnly") {
		t.Errorf("Set-Cookie = %q, want no HttpOnly", sc)
	}
}

// express: "secret option" "should sign with the first secret", "should read cookies using all elements".
func TestSecretRotation(t *testing.T) {
	hs := newHarness(t, sessions.Options{Secrets: []string{oldSecret}}, noop)
	cookie := login(t, hs)
	rotated, err := sessions.New(hs.store, sessions.Options{Secrets: []string{newSecret, oldSecret}, Now: hs.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	hs.h = rotated.Handler(setKey("after", "rotation"))
	hs.store.reset()
	res := hs.get(cookie)
	if hs.store.count("Load") != 1 || hs.store.count("Update") != 1 {
		t.Errorf("old-secret cookie not accepted: %v", hs.store.calls)
	}
	if sc := sessionCookie(res, "sid"); sc != "" {
		t.Errorf("unmodified browser-session cookie re-sent after rotation: %q", sc)
	}
	// New cookies are signed with the first secret.
	res = doWith(rotated.Handler(setKey("k", 1)), "")
	v := strings.TrimPrefix(cookiePair(sessionCookie(res, "sid")), "sid=s%3A")
	v = strings.NewReplacer("%2B", "+", "%2F", "/").Replace(v)
	if _, ok := cookiesig.Unsign(v, newSecret); !ok {
		t.Errorf("new cookie %q not signed with the first secret", v)
	}
}

// Merge saves: a request writes only the keys it changed.
func TestSaveWritesOnlyChangedKeys(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	cookie := login(t, hs)
	h := hashOf(t, cookie)
	// Another request changes "other" meanwhile; ours changes "mine" and deletes "user".
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = hs.store.Store.Update(r.Context(), h, sessionstore.Change{Set: map[string]json.RawMessage{"other": json.RawMessage(`1`)}, ExpiresAt: hs.clock.Now().Add(time.Hour)}, hs.clock.Now())
		s := sessions.FromContext(r.Context())
		_ = s.Set("mine", 2)
		s.Delete("user")
	}))
	hs.get(cookie)
	rec, err := hs.store.Store.Load(context.Background(), h, hs.clock.Now())
	rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Data["other"]) != "1" || string(rec.Data["mine"]) != "2" || rec.Data["user"] != nil {
		t.Errorf("data after concurrent change = %v; want other=1, mine=2, no user", rec.Data)
	}
}

// A session destroyed elsewhere (DestroyUser) mid-request is not resurrected by the save.
func TestNoResurrection(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	cookie := login(t, hs)
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := hs.m.DestroyUser(r.Context(), "alice"); err != nil {
			t.Error(err)
		}
		_ = sessions.FromContext(r.Context()).Set("late", true)
	}))
	res := hs.get(cookie)
	if n, _ := hs.store.Count(context.Background(), hs.clock.Now()); n != 0 {
		t.Errorf("%d sessions stored, want the destroyed one to stay gone", n)
	}
	// No cookie at all: not the dead id, and no clearing one either (the
	// browser may hold a newer cookie by now, from a racing login).
	if sc := sessionCookie(res, "sid"); sc != "" {
		t.Errorf("Set-Cookie = %q, want none for a session revoked mid-request", sc)
	}
}

func TestSetErrors(t *testing.T) {
	hs := newHarness(t, sessions.Options{MaxDataBytes: 1000}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		errs := []error{
			s.Set("", 1),
			s.Set("cookie", 1),
			s.Set("ch", make(chan int)),
			s.Set("big", strings.Repeat("x", 2000)),
		}
		for _, err := range errs {
			fmt.Fprintln(w, err != nil)
		}
		fmt.Fprintln(w, errors.Is(errs[3], sessions.ErrTooLarge))
	})
	if got := body(t, hs.get("")); got != "true\ntrue\ntrue\ntrue\ntrue\n" {
		t.Errorf("Set errors: %q", got)
	}
}

func TestNilSessionIsSafe(t *testing.T) {
	var s *sessions.Session
	ctx := context.Background()
	if s.ID() != "" || s.Set("k", 1) != sessions.ErrNoSession || s.Regenerate(ctx) != sessions.ErrNoSession ||
		s.Destroy(ctx) != sessions.ErrNoSession || s.Reload(ctx) != sessions.ErrNoSession || s.Save(ctx) != sessions.ErrNoSession {
		t.Error("nil session methods did not return ErrNoSession")
	}
	if ok, err := s.Get("k", new(int)); ok || err != sessions.ErrNoSession {
		t.Error("nil Get")
	}
	s.Delete("k")
	s.Touch()
	s.SetMaxAge(time.Hour)
	s.SetUser("u")
	s.Unset()
	if sessions.FromContext(ctx) != nil {
		t.Error("FromContext outside the middleware is not nil")
	}
}

// Logs carry the id's hash, IP and user, never the raw id.
func TestLogsNeverHoldTheID(t *testing.T) {
	var id string
	hs := newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Regenerate(r.Context())
		s.SetUser("alice")
		_ = s.Set("k", 1)
		id = s.ID()
	})
	res := hs.get("")
	cookie := cookiePair(sessionCookie(res, "sid"))
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Destroy(r.Context())
	}))
	hs.get(cookie)
	logs := hs.logs.String()
	if !strings.Contains(logs, "session created") || !strings.Contains(logs, "user=alice") || !strings.Contains(logs, "ip=192.0.2.1") {
		t.Errorf("events missing:\n%s", logs)
	}
	if strings.Contains(logs, id) || strings.Contains(logs, strings.TrimPrefix(cookie, "sid=")) {
		t.Errorf("raw id in logs:\n%s", logs)
	}
}

func TestUserSessions(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	c1, c2 := login(t, hs), login(t, hs)
	list, err := hs.m.ListUserSessions(context.Background(), "alice")
	if err != nil || len(list) != 2 {
		t.Fatalf("ListUserSessions = %d, %v", len(list), err)
	}
	if _, ok := list[0].Data["cookie"]; ok {
		t.Error("ListUserSessions exposes the cookie JSON")
	}
	if err := hs.m.DestroySession(context.Background(), hashOf(t, c1)); err != nil {
		t.Fatal(err)
	}
	if n, err := hs.m.DestroyUser(context.Background(), "alice"); err != nil || n != 1 {
		t.Errorf("DestroyUser = %d, %v; want 1 (the other was revoked)", n, err)
	}
	_ = c2
	if _, err := hs.m.DestroyUser(context.Background(), ""); err == nil {
		t.Error("DestroyUser(\"\"): want an error")
	}
}

// login creates a session for alice and returns its Cookie header.
func login(t *testing.T, hs *harness) string {
	t.Helper()
	h := hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("user", "alice")
		s.SetUser("alice")
	}))
	res := doWith(h, "")
	c := cookiePair(sessionCookie(res, hsName(hs)))
	if c == "" {
		t.Fatal("login: no cookie")
	}
	return c
}

func hsName(*harness) string { return "sid" }

func doWith(h http.Handler, cookie string) *http.Response {
	r, _ := http.NewRequest("GET", "http://example.com/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	w := newRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// hashOf returns the IDHash of the session a Cookie header names.
func hashOf(t *testing.T, cookie string) sessions.IDHash {
	t.Helper()
	v := strings.TrimPrefix(cookie, "sid=s%3A")
	v = strings.NewReplacer("%2B", "+", "%2F", "/", "%3D", "=").Replace(v)
	id, ok := cookiesig.Unsign(v, secret, oldSecret, newSecret)
	if !ok {
		t.Fatalf("cookie %q does not verify", cookie)
	}
	return sessions.HashID(id)
}
