package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// DestroyUser deletes every session of the user (the user_id set with
// Session.SetUser) and returns how many: "log out everywhere". Called with
// the context of a request this Manager handles (r.Context()), its log
// line names the acting request: its client address, method, path and user.
func (m *Manager) DestroyUser(ctx context.Context, userID string) (int, error) {
	return m.destroyUser(ctx, userID, IDHash{})
}

// DestroyUserExcept deletes every session of the user but keep, in one
// statement, and returns how many: "log out my other devices" (OWASP ASVS
// 7.4.3; Laravel's logoutOtherDevices). Session.DestroyOtherSessions calls
// it for the request's own session.
func (m *Manager) DestroyUserExcept(ctx context.Context, userID string, keep IDHash) (int, error) {
	return m.destroyUser(ctx, userID, keep)
}

func (m *Manager) destroyUser(ctx context.Context, userID string, keep IDHash) (int, error) {
	if userID == "" {
		return 0, errors.New("sessions: destroy user: empty user id")
	}
	n, err := m.store.DestroyUser(ctx, userID, keep)
	if err != nil {
		return 0, fmt.Errorf("sessions: destroy user: %w", err)
	}
	a := []any{"user", userID, "count", n, "kept", keep != IDHash{}, "utc", m.opts.Now().UTC().Format(time.RFC3339Nano)}
	if r, by := m.actor(ctx); r != nil {
		a = append(a, "ip", m.clientIP(r), "method", r.Method, "path", r.URL.Path, "by_user", by)
	}
	m.opts.Logger.InfoContext(ctx, "sessions: user sessions destroyed", a...)
	return n, nil
}

// DestroyOtherSessions deletes every other session of the session's user
// (after a password change, or from a "log out other devices" button) and
// returns how many. The session must have a user (SetUser) and be stored.
func (s *Session) DestroyOtherSessions(ctx context.Context) (int, error) {
	if s == nil {
		return 0, ErrNoSession
	}
	s.mu.Lock()
	user, hash, stored := s.saved.user, s.hash, s.stored
	s.mu.Unlock()
	if !stored || user == "" {
		return 0, errors.New("sessions: destroy other sessions: the session has no stored user (SetUser, then save)")
	}
	return s.m.DestroyUserExcept(ctx, user, hash)
}

// maxUserAgent bounds the user agent recorded with a session.
const maxUserAgent = 256

// device is what RecordDevice records with a write made at now, or nil.
// s.mu is held.
func (s *Session) device(now time.Time) *sessionstore.Device {
	if !s.m.opts.RecordDevice {
		return nil
	}
	ua := strings.ToValidUTF8(s.r.UserAgent(), "\uFFFD")
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
		for !utf8.ValidString(ua) { // cut on a rune boundary
			ua = ua[:len(ua)-1]
		}
	}
	ua = strings.ReplaceAll(ua, "\x00", "")
	return &sessionstore.Device{LastSeen: now, IP: s.m.clientIP(s.r), UserAgent: ua}
}

// logCap logs that a save applied the per-user cap. s.mu must not be held.
func (s *Session) logCap(ctx context.Context, user string) {
	if s.m.opts.MaxSessionsPerUser > 0 && user != "" {
		s.m.log(ctx, slog.LevelInfo, "sessions: per-user session cap applied; the user's oldest sessions beyond it were ended",
			s.IDHash(), s.r, user, "max", s.m.opts.MaxSessionsPerUser)
	}
}
