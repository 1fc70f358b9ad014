package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
)

// A session revoked by DestroyUser between a request's load and its commit
// never comes back, on Postgres and SQLite, whatever the request does; and
// a slow request sent with the pre-login cookie does not undo a login.
func TestRevocationRacesOnRealStores(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		m, err := sessions.New(b.store, sessions.Options{Secrets: []string{secret}, Rolling: true,
			TouchAfter: sessions.TouchEveryRequest, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		reached, release, slow := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		actions := map[string]func(*sessions.Session, *http.Request){
			"regenerate": func(s *sessions.Session, r *http.Request) { _ = s.Regenerate(r.Context()) },
			"set":        func(s *sessions.Session, r *http.Request) { _ = s.Set("late", 1) },
			"touch":      func(s *sessions.Session, r *http.Request) {},
		}
		mux := http.NewServeMux()
		mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
			s := sessions.FromContext(r.Context())
			_ = s.Regenerate(r.Context())
			_ = s.SetUser(r.FormValue("user"))
			_ = s.Set("user", r.FormValue("user"))
		})
		mux.HandleFunc("GET /visit", func(w http.ResponseWriter, r *http.Request) { _ = sessions.FromContext(r.Context()).Set("cart", 1) })
		mux.HandleFunc("GET /peek", func(w http.ResponseWriter, r *http.Request) {
			var u string
			_, _ = sessions.FromContext(r.Context()).Get("user", &u)
			fmt.Fprint(w, u)
		})
		mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
			reached <- struct{}{}
			<-slow
			_ = sessions.FromContext(r.Context()).Set("cart", 2)
		})
		mux.HandleFunc("/act", func(w http.ResponseWriter, r *http.Request) {
			reached <- struct{}{}
			<-release
			actions[r.URL.Query().Get("a")](sessions.FromContext(r.Context()), r)
		})
		srv := httptest.NewServer(m.Handler(mux))
		defer srv.Close()
		for name := range actions {
			c := newClient(t, srv)
			c.do("POST", "/login", url.Values{"user": {"alice"}})
			done := make(chan struct{})
			go func() { defer close(done); c.do("GET", "/act?a="+name, nil) }()
			<-reached
			if _, err := m.DestroyUser(context.Background(), "alice"); err != nil {
				t.Fatal(err)
			}
			release <- struct{}{}
			<-done
			if list, _ := m.ListUserSessions(context.Background(), "alice"); len(list) != 0 || b.count(t) != 0 {
				t.Errorf("%s racing DestroyUser: %d sessions of alice, %d rows; want none", name, len(list), b.count(t))
			}
			if _, body, _ := c.do("GET", "/peek", nil); body != "" {
				t.Errorf("%s racing DestroyUser: the browser still reads %q", name, body)
			}
		}
		c := newClient(t, srv)
		c.do("GET", "/visit", nil) // a visitor's session, before login
		done := make(chan struct{})
		go func() { defer close(done); c.do("GET", "/slow", nil) }()
		<-reached // the slow request holds the pre-login cookie; now log in
		c.do("POST", "/login", url.Values{"user": {"bob"}})
		loggedIn := c.sessionID()
		close(slow)
		<-done
		if c.sessionID() != loggedIn {
			t.Errorf("the slow request replaced the logged-in cookie")
		}
		if _, body, _ := c.do("GET", "/peek", nil); body != "bob" {
			t.Errorf("after the slow request the browser reads %q, want bob", body)
		}
	})
}
