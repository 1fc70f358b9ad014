package sessions

import (
	"encoding/json"
	"maps"
	"reflect"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// snap is what the store keeps of a session: its values, its cookie
// lifetime and its principal. A values map, once shared between snaps, is
// never written again (Session.write copies it first), so snaps are
// compared and copied as plain values.
type snap struct {
	values map[string]json.RawMessage // without the reserved "cookie" and metaKey keys
	maxAge time.Duration              // cookie max age; 0 for a browser-session cookie
	user   string
	meta   meta
}

// metaKey is the reserved key of what the library keeps with a session
// beyond express-session's cookie: when its id was issued and when its
// user last authenticated. Node's express-session keeps it as an ordinary
// value, so it survives writes from either side.
const metaKey = "$sqlsession"

// meta is the value under metaKey: unix milliseconds, 0 for never.
type meta struct {
	Renewed int64 `json:"renewed,omitempty"` // the id's last rotation
	Auth    int64 `json:"auth,omitempty"`    // Session.MarkAuthenticated
}

// decodeMeta decodes a metaKey entry; one written by other code that does
// not decode is ignored. (A function of its own, so that only a session
// that has the entry pays the allocation json.Unmarshal's pointer costs.)
func decodeMeta(b json.RawMessage) (m meta) {
	_ = json.Unmarshal(b, &m)
	return m
}

// metaReserve bounds the bytes metaKey's entry takes in a stored session.
var metaReserve = sessionstore.EntrySize(metaKey, len(`{"renewed": 9999999999999, "auth": 9999999999999}`))

// unknownMaxAge marks a saved snap whose row has no cookie JSON (written by
// other code): it never equals a real lifetime, so the next save writes one.
const unknownMaxAge time.Duration = -1

// equal reports whether a and b would be stored the same.
func (a snap) equal(b snap) bool {
	return a.maxAge == b.maxAge && a.user == b.user && a.meta == b.meta && equalValues(a.values, b.values)
}

// equalValues compares two value maps: the same map, or the same keys with
// the same JSON (byte for byte, or equal once decoded, since a database
// such as Postgres's jsonb re-orders and re-spaces what it stores).
func equalValues(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer() {
		return true
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || !sameJSON(x, y) {
			return false
		}
	}
	return true
}

// sameJSON reports whether two JSON texts hold the same value
// (sessionstore.SameJSON).
func sameJSON(x, y json.RawMessage) bool { return sessionstore.SameJSON(x, y) }

func cloneValues(v map[string]json.RawMessage) map[string]json.RawMessage {
	if v == nil {
		return map[string]json.RawMessage{}
	}
	return maps.Clone(v)
}

// snapOf returns what a stored record holds, without its cookie JSON;
// complete is false when the record has no cookie JSON to read its
// lifetime from (a session stored by other code).
func snapOf(rec sessionstore.Record, c *CookieOptions) (s snap, complete bool) {
	s.user = rec.UserID
	s.maxAge, complete = storedMaxAge(rec.Data[cookieKey])
	if !complete {
		s.maxAge = c.MaxAge
	}
	s.values = rec.Data
	// The record is ours (stores return fresh maps): drop the cookie JSON
	// in place rather than copy every value.
	delete(s.values, cookieKey)
	if m, ok := s.values[metaKey]; ok {
		s.meta = decodeMeta(m)
		delete(s.values, metaKey)
	}
	if s.values == nil {
		s.values = map[string]json.RawMessage{}
	}
	return s, complete
}

// sizeWith returns the size of the session's values (sessionstore.Size)
// with key set to v, and a *sessionstore.SizeError when that, with the
// cookie JSON stored beside the values, exceeds Options.MaxDataBytes and
// grows the session: the limit refuses growth, so a session stored before
// the limit was lowered (or by other code) stays writable while a Set
// does not grow it.
func (s *Session) sizeWith(key string, v json.RawMessage) (int, error) {
	if s.size == sizeUnknown {
		s.size = sessionstore.Size(s.cur.values)
	}
	n := s.size + sessionstore.EntrySize(key, sessionstore.ValueSize(v))
	if old, ok := s.cur.values[key]; ok {
		n -= sessionstore.EntrySize(key, sessionstore.ValueSize(old))
	}
	reserve := s.m.cookieReserve
	if s.c != &s.m.opts.Cookie {
		reserve = s.c.reserve() // options chosen by CookieFor
	}
	if total := n + reserve; total > s.m.opts.MaxDataBytes && n > s.size {
		return 0, &sessionstore.SizeError{Size: total, Limit: s.m.opts.MaxDataBytes}
	}
	return n, nil
}
