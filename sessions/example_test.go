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
		Secrets: []string{"a-secret-from-the-environment"},
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
		s.SetUser("alice")
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
