package main

import (
	"cmp"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sqlsession/sqlsession/sessions"
)

// cookieName is the session cookie's name (sessions.DefaultName, spelled
// out because deadSession looks for it).
const cookieName = "sid"

// timeFormat shows when a session started and was last seen, in UTC; the
// page's script rewrites it in the browser's time zone.
const timeFormat = "2 Jan 2006 15:04 UTC"

// Query parameters of the start page that show a one-time notice.
const (
	noticeEnded     = "ended"     // the request's session had ended
	noticeLoggedOut = "loggedout" // "here" or "everywhere"
)

type app struct {
	m      *sessions.Manager
	pages  *pages
	logger *slog.Logger
}

// newApp returns the demo's handler: every route runs inside the session
// middleware.
func newApp(store sessions.Store, secret string, logger *slog.Logger) (http.Handler, error) {
	a := &app{pages: newPages(), logger: logger}
	m, err := sessions.New(store, sessions.Options{
		Name:         cookieName,
		Secrets:      []string{secret},
		Cookie:       sessions.CookieOptions{SameSite: http.SameSiteLaxMode, Secure: sessions.SecureAuto},
		TouchAfter:   time.Minute,
		RecordDevice: true, // last seen, IP and user agent for "your active sessions"
		Logger:       logger,
		ErrorHandler: a.storeError,
	})
	if err != nil {
		return nil, err
	}
	a.m = m
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /count", a.count)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /logout-everywhere", a.logoutEverywhere)
	mux.HandleFunc("POST /sessions/revoke", a.revoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.pages.error(w, http.StatusNotFound, "There is no page at this address.")
	})
	return m.Handler(a.endDeadSessions(mux)), nil
}

// storeError answers when the session store fails before the handler runs.
func (a *app) storeError(w http.ResponseWriter, r *http.Request, err error) {
	a.logger.ErrorContext(r.Context(), "demo: session store", "err", err, "path", r.URL.Path)
	a.pages.error(w, http.StatusInternalServerError, "The session store is not answering. Try again in a moment.")
}

// endDeadSessions handles a request whose cookie names a session that is
// gone (revoked from another device, logged out everywhere, or expired):
// it clears the cookie and shows the start page with a notice, instead of
// running the action the stale page asked for. Logging in is let through.
func (a *app) endDeadSessions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if r.URL.Path == "/login" || !deadSession(r, s) {
			next.ServeHTTP(w, r)
			return
		}
		if err := s.Destroy(r.Context()); err != nil { // no row: this only clears the cookie
			a.storeError(w, r, err)
			return
		}
		http.Redirect(w, r, "/?"+noticeEnded, http.StatusSeeOther)
	})
}

// deadSession reports whether r carries a session cookie but its session
// is empty: the demo saves a session only once it has a user or a count,
// so an empty one means the store had no row for the cookie.
func deadSession(r *http.Request, s *sessions.Session) bool {
	if _, err := r.Cookie(cookieName); err != nil || s.User() != "" {
		return false
	}
	found, _ := s.Get("views", new(int))
	return !found
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s := sessions.FromContext(r.Context())
	q := r.URL.Query()
	d := pageData{User: s.User(), Ended: q.Has(noticeEnded)}
	d.Anonymous, _ = s.Get("views", &d.Views)
	if d.User == "" {
		d.LoggedOut = q.Get(noticeLoggedOut)
	} else {
		list, err := a.m.ListUserSessions(r.Context(), d.User)
		if err != nil {
			a.logger.ErrorContext(r.Context(), "demo: list sessions", "err", err)
			a.pages.error(w, http.StatusInternalServerError, "Could not list your sessions.")
			return
		}
		for _, info := range list {
			d.Sessions = append(d.Sessions, sessionRow{
				Hash: info.Hash.String(), Device: deviceLabel(info.UserAgent), Agent: info.UserAgent, IP: info.IP,
				Since: newStamp(info.CreatedAt), Seen: newStamp(info.LastSeen),
				ThisOne: info.Hash == s.IDHash(),
			})
		}
		slices.SortStableFunc(d.Sessions, func(x, y sessionRow) int { // this device first
			return cmp.Compare(btoi(y.ThisOne), btoi(x.ThisOne))
		})
	}
	a.pages.home(w, d)
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	user := r.FormValue("user")
	if user == "" || len(user) > 64 {
		a.pages.error(w, http.StatusBadRequest, "Please give a name of 1 to 64 characters.")
		return
	}
	// A demo: any name logs in. A real application checks a password here.
	if strings.IndexByte(user, 0) >= 0 || !utf8.ValidString(user) {
		a.pages.error(w, http.StatusBadRequest, "Please give a name without control characters.")
		return
	}
	// Login: a new id (no session fixation), the user, and the time they
	// signed in (for RequireRecentAuth).
	s := sessions.FromContext(r.Context())
	if err := s.Login(r.Context(), user); err != nil {
		a.logger.ErrorContext(r.Context(), "demo: login", "err", err)
		a.pages.error(w, http.StatusInternalServerError, "Could not log you in.")
		return
	}
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
		a.pages.error(w, http.StatusInternalServerError, "Could not count.")
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if err := sessions.FromContext(r.Context()).Destroy(r.Context()); err != nil {
		a.logger.ErrorContext(r.Context(), "demo: logout", "err", err)
		a.pages.error(w, http.StatusInternalServerError, "Could not log you out.")
		return
	}
	http.Redirect(w, r, "/?"+noticeLoggedOut+"=here", http.StatusSeeOther)
}

func (a *app) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	s := sessions.FromContext(r.Context())
	if user := s.User(); user != "" {
		if _, err := a.m.DestroyUser(r.Context(), user); err != nil {
			a.logger.ErrorContext(r.Context(), "demo: logout everywhere", "err", err)
			a.pages.error(w, http.StatusInternalServerError, "Could not log you out.")
			return
		}
	}
	_ = s.Destroy(r.Context())
	http.Redirect(w, r, "/?"+noticeLoggedOut+"=everywhere", http.StatusSeeOther)
}

func (a *app) revoke(w http.ResponseWriter, r *http.Request) {
	s := sessions.FromContext(r.Context())
	h, err := sessions.ParseIDHash(r.FormValue("session"))
	if err != nil || s.User() == "" {
		a.pages.error(w, http.StatusBadRequest, "No such session.")
		return
	}
	// Only the user's own sessions may be revoked.
	list, err := a.m.ListUserSessions(r.Context(), s.User())
	if err != nil {
		a.logger.ErrorContext(r.Context(), "demo: list sessions", "err", err)
		a.pages.error(w, http.StatusInternalServerError, "Could not list your sessions.")
		return
	}
	for _, info := range list {
		if info.Hash != h {
			continue
		}
		if err := a.m.DestroySession(r.Context(), h); err != nil {
			a.logger.ErrorContext(r.Context(), "demo: revoke", "err", err)
			a.pages.error(w, http.StatusInternalServerError, "Could not end that session.")
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.pages.error(w, http.StatusNotFound, "No such session: it may have ended already.")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newStamp returns t for a <time> element: machine-readable and as text,
// both in UTC.
func newStamp(t time.Time) stamp {
	t = t.UTC()
	return stamp{ISO: t.Format(time.RFC3339), Text: t.Format(timeFormat)}
}
