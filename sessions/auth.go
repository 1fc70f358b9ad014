package sessions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Login is the login the documentation recommends: Regenerate (a new id,
// so a planted one is worthless), SetUser, then MarkAuthenticated. Call it
// once the user has proved who they are. A user id SetUser refuses (a NUL,
// invalid UTF-8) is refused before anything changes.
func (s *Session) Login(ctx context.Context, userID string) error {
	if err := checkKey(userID); err != nil { // refused before the id changes
		return fmt.Errorf("sessions: login: user id %w", errors.Unwrap(err))
	}
	if err := s.Regenerate(ctx); err != nil {
		return err
	}
	if err := s.SetUser(userID); err != nil {
		return err
	}
	s.MarkAuthenticated()
	return nil
}

// MarkAuthenticated records that the session's user proved who they are
// now: at login (Login does it) or after a step-up (a password or a second
// factor asked again before a sensitive action). AuthenticatedAt reports
// it, and RequireRecentAuth checks it. It is kept with the session, moves
// with it through Regenerate, is not extended by requests or touches, and
// is cleared by SetUser of another user.
func (s *Session) MarkAuthenticated() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.meta.Auth = s.m.opts.Now().UnixMilli()
}

// AuthenticatedAt returns when the session's user last proved who they are
// (MarkAuthenticated), or the zero time if never.
func (s *Session) AuthenticatedAt() time.Time {
	if s == nil {
		return time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.meta.Auth == 0 {
		return time.Time{}
	}
	return time.UnixMilli(s.cur.meta.Auth).UTC()
}

// RequireRecentAuth returns a middleware for sensitive routes (sudo mode;
// OWASP ASVS 7.5.1 and 7.5.3): it runs the handler only when the session's
// user authenticated (MarkAuthenticated) at most maxAge ago, and onStale
// otherwise, typically a page that asks for the password again, then calls
// MarkAuthenticated and redirects back. A nil onStale answers 403
// Forbidden. Wrap the route with it inside Manager.Handler.
func (m *Manager) RequireRecentAuth(maxAge time.Duration, onStale http.Handler) func(http.Handler) http.Handler {
	if onStale == nil {
		onStale = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "sessions: this action needs a recent sign-in", http.StatusForbidden)
		})
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := m.FromContext(r.Context())
			at := s.AuthenticatedAt()
			if s.User() == "" || at.IsZero() || m.opts.Now().Sub(at) > maxAge {
				onStale.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
