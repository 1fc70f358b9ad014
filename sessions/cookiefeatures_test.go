package sessions_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
)

// express: "cookie option" "when "sameSite" set to "auto"". express sends
// SameSite=None without Secure when secure is false; every browser drops
// that cookie, so here SameSiteAuto needs SecureAuto or SecureOn (see
// TestSameSiteAutoNeedsSecure), and the cases express runs with its default
// secure: false run with SecureAuto: the attribute SameSite gets is the same.
func TestSameSiteAuto(t *testing.T) {
	tls := func(r *http.Request) { r.TLS = &tls.ConnectionState{} }
	xfp := func(proto string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", proto) }
	}
	auto := sessions.CookieOptions{Secure: sessions.SecureAuto}
	for _, tc := range []struct {
		name       string
		opts       sessions.Options
		mod        func(*http.Request)
		want       []string // attributes the cookie has
		wantNot    []string // attributes it lacks
		wantNoCook bool
	}{
		{"basic functionality: should set SameSite=None for secure connections",
			sessions.Options{Cookie: auto}, tls, []string{"SameSite=None"}, nil, false},
		{"basic functionality: should set SameSite=Lax for insecure connections",
			sessions.Options{Cookie: auto}, nil, []string{"SameSite=Lax"}, nil, false},
		{`proxy true: should set SameSite=None when X-Forwarded-Proto is https`,
			sessions.Options{Cookie: auto, TrustProxy: true}, xfp("https"), []string{"SameSite=None"}, nil, false},
		{`proxy true: should set SameSite=Lax when X-Forwarded-Proto is http`,
			sessions.Options{Cookie: auto, TrustProxy: true}, xfp("http"), []string{"SameSite=Lax"}, nil, false},
		{`proxy false: should set SameSite=Lax when X-Forwarded-Proto is https`,
			sessions.Options{Cookie: auto}, xfp("https"), []string{"SameSite=Lax"}, []string{"Secure"}, false},
		{`secure auto: should set both Secure and SameSite=None when secure`,
			sessions.Options{Cookie: auto}, tls, []string{"Secure", "SameSite=None"}, nil, false},
		{`secure auto: should set neither Secure nor SameSite=None when insecure`,
			sessions.Options{Cookie: auto}, nil, []string{"SameSite=Lax"}, []string{"Secure", "SameSite=None"}, false},
		{`secure true: should set both Secure and SameSite=None when secure`,
			sessions.Options{Cookie: sessions.CookieOptions{Secure: sessions.SecureOn}}, tls, []string{"Secure", "SameSite=None"}, nil, false},
		{`secure true: should not set cookie when insecure`,
			sessions.Options{Cookie: sessions.CookieOptions{Secure: sessions.SecureOn}}, nil, nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.SaveUninitialized = true // express's default, which its tests use
			opts.Cookie.SameSite = sessions.SameSiteAuto
			hs := newHarness(t, opts, noop)
			var mods []func(*http.Request)
			if tc.mod != nil {
				mods = append(mods, tc.mod)
			}
			sc := sessionCookie(hs.do("GET", "/", "", mods...), "sid")
			if tc.wantNoCook {
				if sc != "" {
					t.Errorf("Set-Cookie = %q, want none", sc)
				}
				return
			}
			for _, a := range tc.want {
				if !strings.Contains(sc, "; "+a) {
					t.Errorf("Set-Cookie = %q, want %s", sc, a)
				}
			}
			for _, a := range tc.wantNot {
				if strings.Contains(sc, "; "+a) {
					t.Errorf("Set-Cookie = %q, want no %s", sc, a)
				}
			}
		})
	}
}

// SameSite=None is never sent without Secure (issue #19, item 4): express's
// "secure false: should set SameSite=None without Secure when secure" is a
// cookie every browser drops, so New refuses SameSiteAuto with SecureOff,
// as it refuses SameSite None with SecureOff, and so does a CookieFor
// result (per request, through the ErrorHandler).
func TestSameSiteAutoNeedsSecure(t *testing.T) {
	_, err := sessions.New(newSpy(), sessions.Options{Secrets: []string{secret}, Cookie: sessions.CookieOptions{SameSite: sessions.SameSiteAuto}})
	if err == nil || !strings.Contains(err.Error(), "SameSiteAuto") || !strings.Contains(err.Error(), "Secure") {
		t.Errorf("New(SameSiteAuto, SecureOff) = %v, want an error naming SameSiteAuto and Secure", err)
	}
	hs := newHarness(t, sessions.Options{SaveUninitialized: true, CookieFor: func(r *http.Request) sessions.CookieOptions {
		return sessions.CookieOptions{SameSite: sessions.SameSiteAuto}
	}}, noop)
	res := hs.do("GET", "/", "", func(r *http.Request) { r.TLS = &tls.ConnectionState{} })
	if sc := sessionCookie(res, "sid"); res.StatusCode != 500 || sc != "" {
		t.Errorf("CookieFor SameSiteAuto without Secure over HTTPS: status %d, Set-Cookie %q; want 500 and no cookie", res.StatusCode, sc)
	}
	for _, secure := range []sessions.SecureMode{sessions.SecureAuto, sessions.SecureOn} {
		if _, err := sessions.New(newSpy(), sessions.Options{Secrets: []string{secret}, Cookie: sessions.CookieOptions{SameSite: sessions.SameSiteAuto, Secure: secure}}); err != nil {
			t.Errorf("New(SameSiteAuto, Secure %d): %v", secure, err)
		}
	}
}

// express: "cookie option" "when "cookie" is a function": "should call
// custom function and apply cookie options", "should provide req argument"
// (express's test returns path: req.url; a Path of its own is refused here,
// see TestCookieForRefusesOtherPathOrDomain, so the request chooses the
// lifetime); and an invalid result is answered by the ErrorHandler.
func TestCookieFor(t *testing.T) {
	hs := newHarness(t, sessions.Options{SaveUninitialized: true, CookieFor: func(r *http.Request) sessions.CookieOptions {
		return sessions.CookieOptions{MaxAge: time.Duration(len(r.URL.Path)) * time.Hour, Secure: sessions.SecureOff}
	}}, noop)
	sc := sessionCookie(hs.do("GET", "/test", ""), "sid")
	if !strings.Contains(sc, "; Max-Age=18000") || !strings.Contains(sc, "; HttpOnly") || strings.Contains(sc, "; Secure") {
		t.Errorf("Set-Cookie = %q, want Max-Age=18000 (5 h) from the request, HttpOnly, no Secure", sc)
	}
	bad := newHarness(t, sessions.Options{CookieFor: func(r *http.Request) sessions.CookieOptions {
		return sessions.CookieOptions{Priority: "urgent"}
	}}, noop)
	if res := bad.get(""); res.StatusCode != 500 || sessionCookie(res, "sid") != "" {
		t.Errorf("invalid CookieFor result: status %d, cookie %q; want 500 from the ErrorHandler", res.StatusCode, sessionCookie(res, "sid"))
	}
	if !strings.Contains(bad.logs.String(), "CookieFor") {
		t.Errorf("the error logged does not name CookieFor: %s", bad.logs.String())
	}
}

// One cookie name is never issued under two paths or domains: the browser
// would send both to the narrower path, and the duplicate-cookie rule would
// then ignore the session there for good. A CookieFor result whose Path or
// Domain differs from Options.Cookie's is refused through the ErrorHandler,
// with an error naming CookieFor; other attributes may vary.
func TestCookieForRefusesOtherPathOrDomain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cookie sessions.CookieOptions // Options.Cookie
		for_   sessions.CookieOptions // what CookieFor returns for /admin/…
		ok     bool
	}{
		{"the package's old example: Path /admin/ under /", sessions.CookieOptions{}, sessions.CookieOptions{Path: "/admin/"}, false},
		{"Path / under /admin/", sessions.CookieOptions{Path: "/admin/"}, sessions.CookieOptions{}, false},
		{"a Domain under a host-only cookie", sessions.CookieOptions{}, sessions.CookieOptions{Domain: "example.com"}, false},
		{"no Domain under a Domain cookie", sessions.CookieOptions{Domain: "example.com"}, sessions.CookieOptions{}, false},
		{"another Domain", sessions.CookieOptions{Domain: "example.com"}, sessions.CookieOptions{Domain: "admin.example.com"}, false},
		{"the same Path and Domain, another lifetime", sessions.CookieOptions{Path: "/admin/", Domain: "example.com"},
			sessions.CookieOptions{Path: "/admin/", Domain: "example.com", MaxAge: time.Hour, SameSite: http.SameSiteStrictMode}, true},
		{"Path left empty means /", sessions.CookieOptions{Path: "/"}, sessions.CookieOptions{MaxAge: time.Hour}, true},
		{"Domain case does not matter", sessions.CookieOptions{Domain: "example.com"}, sessions.CookieOptions{Domain: "Example.COM"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var handled error
			hs := newHarness(t, sessions.Options{
				Cookie:    tc.cookie,
				CookieFor: func(r *http.Request) sessions.CookieOptions { return tc.for_ },
				ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
					handled = err
					http.Error(w, "no", http.StatusInternalServerError)
				},
			}, setKey("k", 1))
			res := hs.do("GET", "/admin/users", "")
			sc := sessionCookie(res, "sid")
			if tc.ok {
				if res.StatusCode != 200 || sc == "" || handled != nil {
					t.Fatalf("status %d, Set-Cookie %q, error %v; want 200 and a cookie", res.StatusCode, sc, handled)
				}
				return
			}
			if res.StatusCode != 500 || sc != "" {
				t.Errorf("status %d, Set-Cookie %q; want 500 and no cookie", res.StatusCode, sc)
			}
			if handled == nil || !strings.Contains(handled.Error(), "CookieFor") {
				t.Errorf("ErrorHandler got %v, want an error naming CookieFor", handled)
			}
			if n := hs.store.count("Load") + hs.store.count("Create"); n != 0 {
				t.Errorf("%d store calls, want none", n)
			}
		})
	}
}

// __Host- and __Secure- cookie names are validated in New (RFC 6265bis
// prefixes, OWASP ASVS 3.3.1/3.3.3).
func TestCookieNamePrefixes(t *testing.T) {
	secure := sessions.CookieOptions{Secure: sessions.SecureOn}
	for _, tc := range []struct {
		name string
		c    sessions.CookieOptions
		ok   bool
	}{
		{"__Host-sid", secure, true},
		{"__Host-sid", sessions.CookieOptions{}, false},
		{"__Host-sid", sessions.CookieOptions{Secure: sessions.SecureOn, Path: "/app"}, false},
		{"__Host-sid", sessions.CookieOptions{Secure: sessions.SecureOn, Domain: "example.com"}, false},
		{"__Secure-sid", sessions.CookieOptions{Secure: sessions.SecureOn, Domain: "example.com", Path: "/app"}, true},
		{"__Secure-sid", sessions.CookieOptions{Secure: sessions.SecureAuto}, false},
	} {
		_, err := sessions.New(newSpy(), sessions.Options{Name: tc.name, Secrets: []string{secret}, Cookie: tc.c})
		if (err == nil) != tc.ok {
			t.Errorf("New(%s, %+v) = %v, want ok=%v", tc.name, tc.c, err, tc.ok)
		}
	}
}

// Options.CacheControl replaces the default no-store; ClearSiteData goes
// with the response of a logout.
func TestCacheControlAndClearSiteData(t *testing.T) {
	hs := newHarness(t, sessions.Options{CacheControl: `no-cache="Set-Cookie"`, ClearSiteData: true}, setKey("k", 1))
	res := hs.get("")
	if got := res.Header.Get("Cache-Control"); got != `no-cache="Set-Cookie"` {
		t.Errorf("Cache-Control = %q", got)
	}
	cookie := cookiePair(sessionCookie(res, "sid"))
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Destroy(r.Context())
	}))
	res = hs.get(cookie)
	if got := res.Header.Get("Clear-Site-Data"); got != `"cookies"` || !strings.Contains(sessionCookie(res, "sid"), "Max-Age=0") {
		t.Errorf("logout: Clear-Site-Data %q, Set-Cookie %q", got, sessionCookie(res, "sid"))
	}
}

// Tokens for API and mobile clients: the same signed value in a header,
// over real HTTP.
func TestHeaderTransport(t *testing.T) {
	hs := newHarness(t, sessions.Options{Header: "X-Session-Token"}, noop)
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Regenerate(r.Context())
		_ = s.SetUser("alice")
	})
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, sessions.FromContext(r.Context()).User())
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Destroy(r.Context())
	})
	srv := httptest.NewServer(hs.m.Handler(mux))
	defer srv.Close()
	call := func(path, token, cookie string) (*http.Response, string) {
		t.Helper()
		h := http.Header{}
		if token != "-" {
			h["X-Session-Token"] = []string{token}
		}
		if cookie != "" {
			h.Set("Cookie", cookie)
		}
		return httpGet(t, srv.URL+path, h)
	}

	res, _ := call("/login", "", "") // no token yet: the header, empty
	token := res.Header.Get("X-Session-Token")
	if !strings.HasPrefix(token, "s:") || len(res.Header.Values("Set-Cookie")) != 0 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("login: token %q, Set-Cookie %q, Cache-Control %q; want a token in the header, no cookie, no-store",
			token, res.Header.Values("Set-Cookie"), res.Header.Get("Cache-Control"))
	}
	if _, me := call("/me", token, ""); me != "alice" {
		t.Errorf("with the token: %q, want alice", me)
	}
	if _, me := call("/me?sid="+token, "-", ""); me != "" {
		t.Errorf("a token in the query string was accepted: %q", me)
	}
	hsCookie := "sid=" + strings.NewReplacer(":", "%3A", "+", "%2B", "/", "%2F").Replace("s:other.sig")
	if _, me := call("/me", token, hsCookie); me != "" {
		t.Errorf("a cookie and a header naming different sessions: %q, want no session", me)
	}
	res, _ = call("/logout", token, "")
	if got, ok := res.Header["X-Session-Token"]; !ok || got[0] != "" {
		t.Errorf("logout: X-Session-Token %q, want an empty value", got)
	}
	if _, me := call("/me", token, ""); me != "" {
		t.Errorf("after logout the token still works: %q", me)
	}
}
