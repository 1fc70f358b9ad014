package sessions_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
)

// exampleManager is a Manager on memstore; real code uses pgstore or
// sqlitestore and reads the secret from the environment.
func exampleManager() *sessions.Manager {
	quiet := slog.New(slog.DiscardHandler)
	m, err := sessions.New(memstore.NewWithOptions(memstore.Options{Logger: quiet}), sessions.Options{
		Secrets: []string{"a-secret-from-the-environment-32+-bytes"},
		Cookie:  sessions.CookieOptions{SameSite: http.SameSiteLaxMode},
		Logger:  quiet,
	})
	if err != nil {
		panic(err)
	}
	return m
}

// request sends a request through h with the given Cookie header and
// returns the response's session cookie ("name=value") and body.
func request(h http.Handler, target, cookie string) (setCookie, body string) {
	r := httptest.NewRequest("POST", target, nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	setCookie, _, _ = strings.Cut(w.Header().Get("Set-Cookie"), ";")
	return setCookie, w.Body.String()
}

// Log in: regenerate the id (no session fixation), then record the user.
func ExampleSession_Regenerate() {
	m := exampleManager()
	login := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		// ... check the password first ...
		if err := s.Regenerate(r.Context()); err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		_ = s.SetUser("alice")
		_ = s.Set("user", "alice")
		fmt.Fprint(w, "welcome alice")
	}))
	cookie, body := request(login, "/login", "")
	fmt.Println(body)
	fmt.Println(strings.HasPrefix(cookie, "sid=s%3A"))
	// Output:
	// welcome alice
	// true
}

// Log out: Destroy deletes the stored session and clears the cookie.
func ExampleSession_Destroy() {
	m := exampleManager()
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Set("user", "alice")
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Destroy(r.Context()); err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "bye")
	})
	h := m.Handler(mux)
	cookie, _ := request(h, "/login", "")
	cleared, body := request(h, "/logout", cookie)
	fmt.Println(body)
	fmt.Println(cleared)
	// Output:
	// bye
	// sid=
}

// Remember me: a 30-day cookie for this session only; others keep the
// default browser-session cookie.
func ExampleSession_SetMaxAge() {
	m := exampleManager()
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("user", "alice")
		if r.URL.Query().Get("remember") == "on" {
			s.SetMaxAge(30 * 24 * time.Hour)
		}
	}))
	r := httptest.NewRequest("POST", "/login?remember=on", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=2592000"))
	// Output:
	// true
}

// A counter kept in the session.
func ExampleFromContext() {
	m := exampleManager()
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		var views int
		if _, err := s.Get("views", &views); err != nil {
			http.Error(w, "bad session", http.StatusInternalServerError)
			return
		}
		_ = s.Set("views", views+1)
		fmt.Fprintf(w, "views: %d", views+1)
	}))
	cookie, body := request(h, "/", "")
	fmt.Println(body)
	_, body = request(h, "/", cookie)
	fmt.Println(body)
	// Output:
	// views: 1
	// views: 2
}

// New with production settings: a secret from the environment, a
// remember-me-capable cookie that only travels over HTTPS and top-level
// navigation, and an absolute timeout.
func ExampleNew() {
	store := memstore.New() // pgstore.New(pool) or sqlitestore.New(db) in production
	m, err := sessions.New(store, sessions.Options{
		Name:            "__Host-sid",
		Secrets:         []string{"a-secret-from-the-environment-32+-bytes"}, // os.Getenv("SESSION_SECRET")
		Cookie:          sessions.CookieOptions{Secure: sessions.SecureOn, SameSite: http.SameSiteLaxMode},
		AbsoluteTimeout: 12 * time.Hour,
		TrustProxy:      true, // behind a TLS-terminating proxy that sets X-Forwarded-For/Proto
	})
	fmt.Println(m != nil, err)
	// Output: true <nil>
}

// Handler wraps a whole mux; every handler inside reaches its session with
// FromContext.
func ExampleManager_Handler() {
	m := exampleManager()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, sessions.FromContext(r.Context()) != nil)
	})
	_, body := request(m.Handler(mux), "/", "")
	fmt.Println(body)
	// Output: true
}

// "Log out everywhere" and a device list: the user's sessions, each named
// by its hash, and all of them revoked at once.
func ExampleManager_DestroyUser() {
	m := exampleManager()
	login := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Regenerate(r.Context())
		_ = s.SetUser("alice")
	}))
	request(login, "/login", "") // a laptop
	request(login, "/login", "") // a phone
	ctx := httptest.NewRequest("GET", "/", nil).Context()
	list, _ := m.ListUserSessions(ctx, "alice")
	fmt.Println(len(list), "sessions")
	n, err := m.DestroyUser(ctx, "alice")
	fmt.Println(n, "destroyed", err)
	// Output:
	// 2 sessions
	// 2 destroyed <nil>
}

// A Reaper deletes expired sessions in the background when sess-gc does not
// run from cron.
func ExampleReaper() {
	r := &sessions.Reaper{Store: memstore.New(), Interval: 5 * time.Minute}
	if err := r.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer r.Stop()
	fmt.Println("reaping every", r.Interval)
	// Output: reaping every 5m0s
}

// Flash messages: set before a redirect, shown once on the next page.
func ExampleSession_Flash() {
	m := exampleManager()
	mux := http.NewServeMux()
	mux.HandleFunc("/save", func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Flash("notice", "Saved.")
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var notice string
		if ok, _ := sessions.FromContext(r.Context()).Pop("notice", &notice); ok {
			fmt.Fprint(w, notice)
		}
	})
	h := m.Handler(mux)
	cookie, _ := request(h, "/save", "")
	_, first := request(h, "/", cookie)
	_, second := request(h, "/", cookie)
	fmt.Printf("%q %q\n", first, second)
	// Output: "Saved." ""
}

// A timeout warning: the page polls a passive path, which reports the
// deadlines without extending them.
func ExampleSession_ExpiresAt() {
	quiet := slog.New(slog.DiscardHandler)
	m, _ := sessions.New(memstore.NewWithOptions(memstore.Options{Logger: quiet}), sessions.Options{
		Secrets: []string{"a-secret-from-the-environment-32+-bytes"}, Logger: quiet, PassivePaths: []string{"/session/deadline"},
		Cookie: sessions.CookieOptions{MaxAge: 30 * time.Minute}, AbsoluteTimeout: 8 * time.Hour,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Set("user", "alice")
	})
	mux.HandleFunc("/session/deadline", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		idle, absolute := time.Until(s.ExpiresAt()), time.Until(s.AbsoluteDeadline())
		fmt.Fprintf(w, "%v %v", idle.Round(time.Minute), absolute.Round(time.Hour))
	})
	h := m.Handler(mux)
	cookie, _ := request(h, "/login", "")
	_, body := request(h, "/session/deadline", cookie)
	fmt.Println(body)
	// Output: 30m0s 8h0m0s
}

// API and mobile clients carry the same signed token in a header instead
// of a cookie; a client with none yet sends the header empty.
func ExampleOptions_header() {
	quiet := slog.New(slog.DiscardHandler)
	m, _ := sessions.New(memstore.NewWithOptions(memstore.Options{Logger: quiet}), sessions.Options{
		Secrets: []string{"a-secret-from-the-environment-32+-bytes"}, Logger: quiet, Header: "X-Session-Token",
	})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).SetUser("alice")
	}))
	r := httptest.NewRequest("POST", "/api/login", nil)
	r.Header.Set("X-Session-Token", "")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(strings.HasPrefix(w.Header().Get("X-Session-Token"), "s:"), w.Header().Get("Set-Cookie") == "")
	// Output: true true
}

// SameSite=None for HTTPS (cross-site embeds, SAML posts), Lax on plain
// HTTP in development: express's sameSite: 'auto'.
func ExampleSameSiteAuto() {
	quiet := slog.New(slog.DiscardHandler)
	m, _ := sessions.New(memstore.NewWithOptions(memstore.Options{Logger: quiet}), sessions.Options{
		Secrets: []string{"a-secret-from-the-environment-32+-bytes"}, Logger: quiet,
		Cookie: sessions.CookieOptions{Secure: sessions.SecureAuto, SameSite: sessions.SameSiteAuto},
	})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = sessions.FromContext(r.Context()).Set("k", 1) }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	fmt.Println(strings.Contains(w.Header().Get("Set-Cookie"), "SameSite=Lax"))
	// Output: true
}

// "Log out my other devices" after a password change, and a cap of two
// sessions per user.
func ExampleSession_DestroyOtherSessions() {
	quiet := slog.New(slog.DiscardHandler)
	m, _ := sessions.New(memstore.NewWithOptions(memstore.Options{Logger: quiet}), sessions.Options{
		Secrets: []string{"a-secret-from-the-environment-32+-bytes"}, Logger: quiet, MaxSessionsPerUser: 2, RecordDevice: true,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Regenerate(r.Context())
		_ = s.SetUser("alice")
	})
	mux.HandleFunc("/password", func(w http.ResponseWriter, r *http.Request) {
		// ... change the password, then:
		n, _ := sessions.FromContext(r.Context()).DestroyOtherSessions(r.Context())
		fmt.Fprint(w, n)
	})
	h := m.Handler(mux)
	request(h, "/login", "")
	request(h, "/login", "")
	cookie, _ := request(h, "/login", "") // a third login: the oldest session ends
	ctx := httptest.NewRequest("GET", "/", nil).Context()
	list, _ := m.ListUserSessions(ctx, "alice")
	fmt.Println(len(list), "sessions, last seen from", list[0].IP)
	_, ended := request(h, "/password", cookie)
	fmt.Println(ended, "other session ended")
	// Output:
	// 2 sessions, last seen from 192.0.2.1
	// 1 other session ended
}

// An admin area with a cookie of its own (its own path, a shorter life,
// SameSite Strict): a second Manager with its own cookie Name, nested in
// the site's. CookieFor may choose other attributes per request, but never
// another Path or Domain (that is refused): one cookie name under two paths
// reaches the browser twice, and a session sent twice is ignored.
func ExampleOptions_cookieFor() {
	quiet := slog.New(slog.DiscardHandler)
	store := memstore.NewWithOptions(memstore.Options{Logger: quiet})
	site, _ := sessions.New(store, sessions.Options{
		Secrets: []string{"a-secret-from-the-environment-32+-bytes"}, Logger: quiet,
		Cookie: sessions.CookieOptions{SameSite: http.SameSiteLaxMode},
	})
	admin, _ := sessions.New(store, sessions.Options{
		Name: "admin_sid", Secrets: []string{"a-secret-from-the-environment-32+-bytes"}, Logger: quiet,
		Cookie: sessions.CookieOptions{Path: "/admin/", MaxAge: 8 * time.Hour, SameSite: http.SameSiteStrictMode},
	})
	mux := http.NewServeMux()
	mux.Handle("/admin/", admin.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = admin.FromContext(r.Context()).Set("admin", true)
	})))
	h := site.Handler(mux)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/admin/users", nil))
	for _, c := range w.Header().Values("Set-Cookie") {
		name, _, _ := strings.Cut(c, "=")
		fmt.Println(name, strings.Contains(c, "Path=/admin/"), strings.Contains(c, "SameSite=Strict"))
	}
	// Output: admin_sid true true
}
