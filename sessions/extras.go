package sessions

import (
	"strings"
	"time"
)

// flashPrefix keeps flash values apart from the session's other keys.
const flashPrefix = "flash:"

// Flash stores v under key to be read once, by Pop: a message for the next
// page ("saved", "wrong password"). Each flash is a key of its own, so
// concurrent requests that add or pop different flashes never lose each
// other's (merge saves).
func (s *Session) Flash(key string, v any) error {
	return s.Set(flashPrefix+key, v)
}

// Pop JSON-decodes the flash stored under key into dst, removes it, and
// reports whether there was one.
func (s *Session) Pop(key string, dst any) (bool, error) {
	ok, err := s.Get(flashPrefix+key, dst)
	if ok {
		s.Delete(flashPrefix + key)
	}
	return ok, err
}

// ExpiresAt returns when the stored session expires unless a request
// extends it (the idle timeout), without extending it: for a "your session
// ends in 2 minutes" warning. It is the zero time for a session not saved
// yet.
func (s *Session) ExpiresAt() time.Time {
	if s == nil {
		return time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stored {
		return time.Time{}
	}
	return s.storedExpiry
}

// AbsoluteDeadline returns when Options.AbsoluteTimeout ends the session
// however active it is, or the zero time when there is no absolute
// timeout.
func (s *Session) AbsoluteDeadline() time.Time {
	if s == nil || s.m.opts.AbsoluteTimeout <= 0 {
		return time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createdAt.Add(s.m.opts.AbsoluteTimeout)
}

// Passive marks this request as one that reads the session without
// extending it — a poll, such as the timeout warning's own: its expiry is
// not touched, a Rolling cookie not re-sent, and a change it saves keeps
// the stored expiry. Options.PassivePaths does it by path.
func (s *Session) Passive() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked.passive = true
}

// passivePath reports whether path is one of Options.PassivePaths: equal
// to one, or under one that ends in "/".
func (m *Manager) passivePath(path string) bool {
	for _, p := range m.opts.PassivePaths {
		if path == p || strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
