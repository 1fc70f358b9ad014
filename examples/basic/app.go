package main

import (
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
)

type app struct {
	m    *sessions.Manager
	page *template.Template
}

// newApp returns the demo's handler: every route runs inside the session
// middleware.
func newApp(store sessions.Store, secret string, logger *slog.Logger) (http.Handler, error) {
	m, err := sessions.New(store, sessions.Options{
		Secrets:    []string{secret},
		Cookie:     sessions.CookieOptions{SameSite: http.SameSiteLaxMode, Secure: sessions.SecureAuto},
		TouchAfter: time.Minute,
		Logger:     logger,
	})
	if err != nil {
		return nil, err
	}
	a := &app{m: m, page: template.Must(template.New("page").Parse(pageHTML))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /count", a.count)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /logout-everywhere", a.logoutEverywhere)
	mux.HandleFunc("POST /sessions/revoke", a.revoke)
	return m.Handler(mux), nil
}

type sessionRow struct {
	Hash    string
	Agent   string
	Since   string
	Expires string
	ThisOne bool
}

type pageData struct {
	User     string
	Views    int
	Sessions []sessionRow
	Error    string
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s := sessions.FromContext(r.Context())
	d := pageData{User: s.User()}
	_, _ = s.Get("views", &d.Views)
	if d.User != "" {
		list, err := a.m.ListUserSessions(r.Context(), d.User)
		if err != nil {
			http.Error(w, "could not list sessions", http.StatusInternalServerError)
			return
		}
		for _, info := range list {
			var agent string
			_ = json.Unmarshal(info.Data["agent"], &agent)
			d.Sessions = append(d.Sessions, sessionRow{
				Hash: info.Hash.String(), Agent: agent,
				Since: info.CreatedAt.Format(time.RFC1123), Expires: info.ExpiresAt.Format(time.RFC1123),
				ThisOne: info.Hash == s.IDHash(),
			})
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = a.page.Execute(w, d)
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	user := r.FormValue("user")
	if user == "" || len(user) > 64 {
		http.Error(w, "a user name of 1 to 64 characters, please", http.StatusBadRequest)
		return
	}
	// A demo: any name logs in. A real application checks a password here.
	s := sessions.FromContext(r.Context())
	if err := s.Regenerate(r.Context()); err != nil { // no session fixation
		http.Error(w, "could not log in", http.StatusInternalServerError)
		return
	}
	s.SetUser(user)
	_ = s.Set("agent", r.UserAgent())
	if r.FormValue("remember") == "on" {
		s.SetMaxAge(30 * 24 * time.Hour)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) count(w http.ResponseWriter, r *http.Request) {
	s := sessions.FromContext(r.Context())
	var views int
	_, _ = s.Get("views", &views)
	if err := s.Set("views", views+1); err != nil {
		http.Error(w, "could not count", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if err := sessions.FromContext(r.Context()).Destroy(r.Context()); err != nil {
		http.Error(w, "could not log out", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	s := sessions.FromContext(r.Context())
	if user := s.User(); user != "" {
		if _, err := a.m.DestroyUser(r.Context(), user); err != nil {
			http.Error(w, "could not log out", http.StatusInternalServerError)
			return
		}
	}
	_ = s.Destroy(r.Context())
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) revoke(w http.ResponseWriter, r *http.Request) {
	s := sessions.FromContext(r.Context())
	h, err := sessions.ParseIDHash(r.FormValue("session"))
	if err != nil || s.User() == "" {
		http.Error(w, "no such session", http.StatusBadRequest)
		return
	}
	// Only the user's own sessions may be revoked.
	list, err := a.m.ListUserSessions(r.Context(), s.User())
	if err != nil {
		http.Error(w, "could not list sessions", http.StatusInternalServerError)
		return
	}
	for _, info := range list {
		if info.Hash == h {
			if err := a.m.DestroySession(r.Context(), h); err != nil {
				http.Error(w, "could not revoke", http.StatusInternalServerError)
				return
			}
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
	}
	http.Error(w, "no such session", http.StatusNotFound)
}

const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sqlsession demo</title>
<style>body{font:16px system-ui;max-width:46em;margin:2em auto;padding:0 1em}table{border-collapse:collapse}td,th{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left}form{display:inline}</style></head>
<body><h1>sqlsession demo</h1>
{{if .User}}
<p>Logged in as <strong id="user">{{.User}}</strong>. You have pressed the button <strong id="views">{{.Views}}</strong> times.</p>
<form method="post" action="/count"><button>Count</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
<form method="post" action="/logout-everywhere"><button>Log out everywhere</button></form>
<h2>Your active sessions</h2>
<table><tr><th>browser</th><th>since</th><th>expires</th><th></th></tr>
{{range .Sessions}}<tr><td>{{.Agent}}</td><td>{{.Since}}</td><td>{{.Expires}}</td>
<td>{{if .ThisOne}}this device{{else}}<form method="post" action="/sessions/revoke"><input type="hidden" name="session" value="{{.Hash}}"><button>Revoke</button></form>{{end}}</td></tr>
{{end}}</table>
{{else}}
<p>Anonymous visitors get no session until they do something: the count below is {{.Views}}.</p>
<form method="post" action="/count"><button>Count</button></form>
<h2>Log in</h2>
<form method="post" action="/login"><label>Name <input name="user" required maxlength="64"></label>
<label><input type="checkbox" name="remember"> Remember me for 30 days</label> <button>Log in</button></form>
{{end}}
</body></html>`
