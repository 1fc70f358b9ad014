package sessions_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
)

// Log in with Login: a new id, the user, and the time they proved who they
// are, which RequireRecentAuth checks.
func ExampleSession_Login() {
	m := exampleManager()
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		userID := "alice"
		// after checking the password (and a second factor):
		if err := sessions.FromContext(r.Context()).Login(r.Context(), userID); err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		s := sessions.FromContext(r.Context())
		fmt.Fprint(w, s.User(), " authenticated: ", !s.AuthenticatedAt().IsZero())
	}))
	_, body := request(h, "/login", "")
	fmt.Println(body)
	// Output: alice authenticated: true
}

// Sudo mode: a sensitive route runs only within 5 minutes of the last
// authentication; otherwise the user is sent to confirm their password,
// whose handler calls MarkAuthenticated.
func ExampleManager_RequireRecentAuth() {
	m := exampleManager()
	confirmPassword := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/confirm-password?next="+r.URL.Path, http.StatusSeeOther)
	})
	changeEmail := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "change your email")
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Login(r.Context(), "alice")
	})
	mux.Handle("/settings/email", m.RequireRecentAuth(5*time.Minute, confirmPassword)(changeEmail))
	h := m.Handler(mux)
	_, body := request(h, "/settings/email", "")
	fmt.Printf("anonymous: %q\n", body)
	cookie, _ := request(h, "/login", "")
	_, body = request(h, "/settings/email", cookie)
	fmt.Printf("just logged in: %q\n", body)
	// Output:
	// anonymous: ""
	// just logged in: "change your email"
}

// Renew ids of long sessions every 15 minutes (OWASP's renewal timeout).
// A request in flight with the old id within RenewGrace (30 s by default)
// lands on the new session; the old id presented later is a stolen copy:
// the session is revoked and OnReuse tells the application.
func ExampleOptions_renewAfter() {
	store := memstore.NewWithOptions(memstore.Options{Logger: slog.New(slog.DiscardHandler)})
	secrets := []string{"a-secret-from-the-environment-32b"}
	m, err := sessions.New(store, sessions.Options{
		Secrets:    secrets,
		RenewAfter: 15 * time.Minute, // OWASP "renewal timeout"
	})
	if err != nil {
		panic(err)
	}
	_ = m // wrap the application with m.Handler
	fmt.Println("ok")
	// Output: ok
}

// Report a replayed id: the user's session has been revoked by then.
func ExampleOptions_onReuse() {
	opts := sessions.Options{
		Secrets: []string{"a-secret-from-the-environment-32b"},
		OnReuse: func(r *http.Request, ev sessions.ReuseEvent) {
			slog.Warn("stolen session id replayed", "user", ev.User, "revoked", ev.Revoked)
		},
	}
	_ = opts
	// Output:
}
