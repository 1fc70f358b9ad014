package sessions

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/sqlsession/sqlsession/internal/jsonobj"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// snap is what the store keeps of a session: its values, its cookie
// lifetime and its principal. Values are shared between snaps and never
// written once shared (Session.write copies them first), so snaps are
// compared and copied as plain values.
type snap struct {
	values values        // without the reserved "cookie" and metaKey keys
	maxAge time.Duration // cookie max age; 0 for a browser-session cookie
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

// decodeMeta decodes a metaKey entry without allocating; an entry written
// by other code that does not decode is ignored, and so is a field that
// is not an integer.
func decodeMeta(b json.RawMessage) (m meta) {
	_ = jsonobj.Each(b, func(k []byte, _ bool, v []byte) bool {
		n, err := strconv.ParseInt(string(v), 10, 64)
		switch {
		case err != nil:
		case string(k) == "renewed":
			m.Renewed = n
		case string(k) == "auth":
			m.Auth = n
		}
		return true
	})
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

// sameJSON reports whether two JSON texts hold the same value
// (sessionstore.SameJSON).
func sameJSON(x, y json.RawMessage) bool { return sessionstore.SameJSON(x, y) }

// snapOf returns what a stored record holds, without its cookie JSON;
// complete is false when the record has no cookie JSON to read its
// lifetime from (a session stored by other code). A record whose JSON
// text (Record.JSON) is not a JSON object gives an error. doc, when not
// nil, is where the text is kept (a Session's own, to spare an
// allocation).
func snapOf(rec sessionstore.Record, c *CookieOptions, doc *storedDoc) (s snap, complete bool, err error) {
	s.user = rec.UserID
	var cookie, m json.RawMessage
	var hasMeta bool
	if rec.Data == nil && rec.JSON != nil {
		if doc == nil {
			doc = new(storedDoc)
		}
		*doc = storedDoc{text: rec.JSON}
		err = jsonobj.Each(rec.JSON, func(k []byte, escaped bool, v []byte) bool {
			switch {
			case jsonobj.KeyIs(k, escaped, cookieKey):
				cookie = v
			case jsonobj.KeyIs(k, escaped, metaKey):
				m, hasMeta = v, true
			default:
				doc.note(k, escaped, v)
			}
			return true
		})
		if err != nil {
			return s, false, err
		}
		s.values = values{doc: doc}
	} else {
		// The record is ours (stores return fresh maps): drop the reserved
		// entries in place rather than copy every value.
		cookie = rec.Data[cookieKey]
		m, hasMeta = rec.Data[metaKey]
		delete(rec.Data, cookieKey)
		delete(rec.Data, metaKey)
		s.values = mapValues(rec.Data)
	}
	if hasMeta {
		s.meta = decodeMeta(m)
	}
	s.maxAge, complete = storedMaxAge(cookie)
	if !complete {
		s.maxAge = c.MaxAge
	}
	return s, complete, nil
}

// sizeWith returns the size of the session's values (sessionstore.Size)
// with key set to v, and a *sessionstore.SizeError when that, with the
// cookie JSON stored beside the values, exceeds Options.MaxDataBytes and
// grows the session: the limit refuses growth, so a session stored before
// the limit was lowered (or by other code) stays writable while a Set
// does not grow it.
func (s *Session) sizeWith(key string, v json.RawMessage) (int, error) {
	if s.size == sizeUnknown {
		s.size = s.cur.values.size()
	}
	n := s.size + sessionstore.EntrySize(key, sessionstore.ValueSize(v))
	if old, ok := s.cur.values.get(key); ok {
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
