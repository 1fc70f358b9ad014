package sessions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"
)

type jsonValue = json.RawMessage

// ErrNoSession is returned by the methods of a nil *Session: the request
// did not pass through Manager.Handler (or its path is outside
// Cookie.Path).
var ErrNoSession = errors.New("sessions: no session (is the handler wrapped by Manager.Handler?)")

// Session is one request's session. Get it with FromContext. Its methods
// are safe for concurrent use; those of a nil *Session return ErrNoSession
// or do nothing.
type Session struct {
	m *Manager
	r *http.Request

	mu       sync.Mutex
	id       string
	hash     IDHash
	cookieID string // verified id from the request's cookie; "" for none
	origID   string // id when the request started (or after Destroy)

	values   map[string]jsonValue // current values, without "cookie"
	original map[string]jsonValue // values when the request started: "modified" (express isModified)
	saved    map[string]jsonValue // values as the store has them: what a save must write

	createdAt    time.Time
	storedExpiry time.Time
	stored       bool // the store has a row for id

	maxAge, origMaxAge, savedMaxAge time.Duration
	user, origUser, savedUser       string
	cookieMissing                   bool // the stored data has no cookie JSON yet

	destroyed  bool // Destroy was called: clear the cookie unless a new session replaces it
	unset      bool
	forceTouch bool
	saveAsked  bool // Save was called: the session exists, so it gets its cookie
}

// generate makes s a new, empty, unsaved session.
func (s *Session) generate(now time.Time) error {
	id, err := s.m.genID(s.r)
	if err != nil {
		return err
	}
	s.id, s.hash, s.origID = id, HashID(id), id
	s.values, s.original, s.saved = map[string]jsonValue{}, map[string]jsonValue{}, nil
	s.stored = false
	s.createdAt = now
	s.maxAge = s.m.defaultMaxAge(now)
	s.origMaxAge, s.savedMaxAge = s.maxAge, s.maxAge
	s.user, s.origUser, s.savedUser = "", "", ""
	return nil
}

func (m *Manager) defaultMaxAge(now time.Time) time.Duration {
	c := m.opts.Cookie
	if c.MaxAge == 0 && !c.Expires.IsZero() && c.Expires.After(now) {
		return c.Expires.Sub(now)
	}
	return c.MaxAge
}

// inflate makes s the stored session rec.
func (s *Session) inflate(id string, rec Record) {
	s.id, s.hash, s.origID = id, HashID(id), id
	s.setStored(rec)
}

func (s *Session) setStored(rec Record) {
	s.values = make(map[string]jsonValue, len(rec.Data))
	for k, v := range rec.Data {
		if k == cookieKey {
			continue
		}
		var buf bytes.Buffer
		if json.Compact(&buf, v) == nil {
			v = buf.Bytes() // jsonb re-formats values: compact them so that Set of an equal value is no change
		}
		s.values[k] = v
	}
	s.original, s.saved = maps.Clone(s.values), maps.Clone(s.values)
	s.stored = true
	s.createdAt, s.storedExpiry = rec.CreatedAt, rec.ExpiresAt
	maxAge, ok := storedMaxAge(rec.Data[cookieKey])
	if !ok {
		maxAge = s.m.opts.Cookie.MaxAge
	}
	s.cookieMissing = !ok
	s.maxAge, s.origMaxAge, s.savedMaxAge = maxAge, maxAge, maxAge
	s.user, s.origUser, s.savedUser = rec.UserID, rec.UserID, rec.UserID
}

// ID returns the session id. It is a secret (a bearer token): never log it
// or put it in a page; IDHash is the form to show or log.
func (s *Session) ID() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// IDHash returns the SHA-256 of the session id: what the store keys the
// session by, what SessionInfo.Hash holds, safe to log or show.
func (s *Session) IDHash() IDHash {
	if s == nil {
		return IDHash{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hash
}

// Get JSON-decodes the value stored under key into dst (a pointer) and
// reports whether the key exists.
func (s *Session) Get(key string, dst any) (bool, error) {
	if s == nil {
		return false, ErrNoSession
	}
	s.mu.Lock()
	v, ok := s.values[key]
	s.mu.Unlock()
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return true, fmt.Errorf("sessions: get %q: %w", key, err)
	}
	return true, nil
}

// Set stores v, JSON-encoded, under key. It fails, changing nothing, for an
// empty key, the reserved key "cookie", a value JSON cannot encode, or when
// the session would exceed Options.MaxDataBytes (ErrTooLarge).
func (s *Session) Set(key string, v any) error {
	if s == nil {
		return ErrNoSession
	}
	if key == "" {
		return errors.New("sessions: set: empty key")
	}
	if key == cookieKey {
		return errors.New(`sessions: set: "cookie" is reserved for the cookie's settings`)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sessions: set %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.values[key]
	s.values[key] = b
	// Leave room for the cookie JSON, which is stored with the values.
	if err := CheckSize(DataSize(s.values)+256, s.m.opts.MaxDataBytes); err != nil {
		if had {
			s.values[key] = old
		} else {
			delete(s.values, key)
		}
		return fmt.Errorf("sessions: set %q: %w", key, err)
	}
	return nil
}

// Delete removes key from the session.
func (s *Session) Delete(key string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.values, key)
}

// Regenerate gives the session a new id, keeping its values, and deletes
// the old one from the store, so an id an attacker planted before login
// (session fixation) is worthless after it. Call it on login and on any
// change of privilege.
func (s *Session) Regenerate(ctx context.Context) error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, wasStored := s.hash, s.stored
	id, err := s.m.genID(s.r)
	if err != nil {
		return err
	}
	if wasStored {
		if err := s.m.store.Destroy(ctx, old); err != nil {
			return fmt.Errorf("sessions: regenerate: %w", err)
		}
	}
	s.id, s.hash = id, HashID(id)
	s.stored, s.saved = false, nil
	s.createdAt = s.m.opts.Now()
	s.m.event(ctx, "sqlsession: session regenerated", s.hash, s.r, s.user, "old_id_hash", old.String()[:16])
	return nil
}

// Destroy deletes the session from the store and clears the cookie. The
// request goes on with a new, empty session, saved only if the handler
// sets something in it.
func (s *Session) Destroy(ctx context.Context) error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, user := s.hash, s.user
	if s.stored {
		if err := s.m.store.Destroy(ctx, old); err != nil {
			return fmt.Errorf("sessions: destroy: %w", err)
		}
	}
	if err := s.generate(s.m.opts.Now()); err != nil {
		return err
	}
	s.destroyed = true
	s.m.event(ctx, "sqlsession: session destroyed", old, s.r, user)
	return nil
}

// Reload replaces the session's values with those in the store, dropping
// this request's unsaved changes.
func (s *Session) Reload(ctx context.Context) error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stored {
		return fmt.Errorf("sessions: reload: %w", ErrNotFound)
	}
	rec, err := s.m.store.Load(ctx, s.hash, s.m.opts.Now())
	if err != nil {
		return fmt.Errorf("sessions: reload: %w", err)
	}
	orig, origMaxAge, origUser := s.original, s.origMaxAge, s.origUser
	s.setStored(rec)
	s.original, s.origMaxAge, s.origUser = orig, origMaxAge, origUser
	return nil
}

// Save writes the session to the store now, even when it is new and
// unmodified; the middleware saves by itself, so call it only when
// something must be stored before the handler goes on (before a redirect
// made by other code, say).
func (s *Session) Save(ctx context.Context) error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saveAsked = true
	_, err := s.save(ctx, s.m.opts.Now(), true)
	return err
}

// Touch makes the middleware move the session's expiry in the store at the
// end of this request, even within Options.TouchAfter.
func (s *Session) Touch() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forceTouch = true
}

// SetMaxAge sets this session's cookie lifetime, kept with the session
// ("remember me"): d > 0 makes a persistent cookie that expires d after
// each save; d <= 0 makes a browser-session cookie. The cookie is re-sent.
func (s *Session) SetMaxAge(d time.Duration) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxAge = max(d, 0)
}

// SetUser records the session's principal (the user_id column), so that
// Manager.ListUserSessions and Manager.DestroyUser find it; "" clears it.
func (s *Session) SetUser(id string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = id
}

// User returns the principal set with SetUser, or "".
func (s *Session) User() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// Unset detaches the request from its session, like express's
// `req.session = null`: nothing is saved and no cookie is sent; with
// Options.Unset = UnsetDestroy the stored session is deleted too.
func (s *Session) Unset() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unset = true
}

// modified is express-session's isModified: a new id, or values, lifetime
// or user that differ from the request's start.
func (s *Session) modified() bool {
	return s.id != s.origID || s.maxAge != s.origMaxAge || s.user != s.origUser || !equalValues(s.values, s.original)
}

// dirty reports whether the store lacks something of the session.
func (s *Session) dirty() bool {
	return !s.stored || s.cookieMissing || s.maxAge != s.savedMaxAge || s.user != s.savedUser || !equalValues(s.values, s.saved)
}

func equalValues(a, b map[string]jsonValue) bool {
	return maps.EqualFunc(a, b, func(x, y jsonValue) bool { return bytes.Equal(x, y) })
}

// expiries returns the cookie's expiry (zero for a browser-session cookie)
// and the store's.
func (s *Session) expiries(now time.Time) (cookie, store time.Time) {
	o := s.m.opts
	ttl := o.DefaultTTL
	if s.maxAge > 0 {
		ttl = s.maxAge
		cookie = now.Add(s.maxAge)
	}
	store = now.Add(ttl)
	if o.AbsoluteTimeout > 0 {
		end := s.createdAt.Add(o.AbsoluteTimeout)
		if store.After(end) {
			store = end
		}
		if !cookie.IsZero() && cookie.After(end) {
			cookie = end
		}
	}
	return cookie, store
}

// save writes the session: Create for a new one, a merge Update of what
// changed for a stored one (force: even when nothing changed). It reports
// false, with no error, when the stored session has vanished (destroyed
// elsewhere, e.g. by DestroyUser): it is not brought back.
func (s *Session) save(ctx context.Context, now time.Time, force bool) (bool, error) {
	cookieExp, storeExp := s.expiries(now)
	cookieJSON := s.m.encodeStoredCookie(s.maxAge, cookieExp, s.secureFlag())
	store := s.m.store
	if !s.stored {
		data := maps.Clone(s.values)
		data[cookieKey] = cookieJSON
		rec := Record{Data: data, CreatedAt: s.createdAt, ExpiresAt: storeExp, UserID: s.user}
		if err := store.Create(ctx, s.hash, rec, now); err != nil {
			return false, fmt.Errorf("sessions: save: %w", err)
		}
		s.m.event(ctx, "sqlsession: session created", s.hash, s.r, s.user)
	} else {
		if !force && !s.dirty() && !s.m.opts.Resave {
			return true, nil
		}
		c := Change{Set: map[string]json.RawMessage{cookieKey: cookieJSON}, ExpiresAt: storeExp}
		for k, v := range s.values {
			if old, ok := s.saved[k]; !ok || !bytes.Equal(old, v) {
				c.Set[k] = v
			}
		}
		for k := range s.saved {
			if _, ok := s.values[k]; !ok {
				c.Deleted = append(c.Deleted, k)
			}
		}
		if s.user != s.savedUser {
			c.SetUser, c.UserID = true, s.user
		}
		if err := store.Update(ctx, s.hash, c, now); err != nil {
			if errors.Is(err, ErrNotFound) {
				s.m.opts.Logger.InfoContext(ctx, "sqlsession: session vanished while in use (destroyed elsewhere or expired); not saved", "id_hash", s.hash.String()[:16])
				return false, nil
			}
			return false, fmt.Errorf("sessions: save: %w", err)
		}
	}
	s.stored, s.cookieMissing = true, false
	s.saved = maps.Clone(s.values)
	s.savedMaxAge, s.savedUser = s.maxAge, s.user
	s.storedExpiry = storeExp
	return true, nil
}

// secureFlag says whether the cookie carries Secure for this request.
func (s *Session) secureFlag() bool {
	switch s.m.opts.Cookie.Secure {
	case SecureOn:
		return true
	case SecureAuto:
		return s.m.isSecure(s.r)
	}
	return false
}

// commit runs when the response starts: it saves or touches the session as
// express-session's shouldSave / shouldTouch decide, and returns the
// Set-Cookie header to send ("" for none).
func (s *Session) commit(now time.Time) (setCookie string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.m.opts
	ctx, cancel := s.m.storeCtx(s.r)
	defer cancel()

	if s.unset {
		if o.Unset == UnsetDestroy && s.stored {
			if err := s.m.store.Destroy(ctx, s.hash); err != nil {
				return "", fmt.Errorf("sessions: unset: %w", err)
			}
			s.m.event(ctx, "sqlsession: session destroyed", s.hash, s.r, s.user)
		}
		return "", nil
	}

	isNew := !s.stored
	modified := s.modified()
	// shouldSave
	saveIt := s.m.opts.Resave && !isNew || s.dirty() && (!isNew || o.SaveUninitialized || modified)
	// shouldSetCookie
	var cookieIt bool
	if s.cookieID != s.id {
		cookieIt = o.SaveUninitialized || modified || s.saveAsked
	} else {
		cookieIt = o.Rolling || s.maxAge > 0 && modified
	}

	switch {
	case saveIt:
		ok, err := s.save(ctx, now, false)
		if err != nil {
			return "", err
		}
		if !ok { // vanished: clear the cookie rather than point at nothing
			return s.m.cookieHeader("", time.Time{}, s.secureFlag(), true), nil
		}
	case s.stored && s.cookieID == s.id:
		_, storeExp := s.expiries(now)
		if s.forceTouch || storeExp.Sub(s.storedExpiry) >= o.TouchAfter {
			if err := s.m.store.Touch(ctx, s.hash, storeExp, now); err != nil && !errors.Is(err, ErrNotFound) {
				return "", fmt.Errorf("sessions: touch: %w", err)
			}
			s.storedExpiry = storeExp
		}
	}

	if cookieIt && s.stored {
		if o.Cookie.Secure == SecureOn && !s.m.isSecure(s.r) {
			// A Secure cookie over plain HTTP would be dropped by the
			// browser; express-session does not send it either.
			return "", nil
		}
		cookieExp, _ := s.expiries(now)
		return s.m.cookieHeader(encodeCookieValue("s:"+signFirst(s.id, o.Secrets)), cookieExp, s.secureFlag(), false), nil
	}
	if s.destroyed && s.cookieID != "" {
		return s.m.cookieHeader("", time.Time{}, s.secureFlag(), true), nil
	}
	return "", nil
}

// commitLate saves changes made after the response started; no cookie can
// be sent any more.
func (s *Session) commitLate(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unset || !s.dirty() {
		return nil
	}
	if !s.stored {
		if s.modified() {
			s.m.opts.Logger.WarnContext(s.r.Context(), "sqlsession: a new session was modified after the response started; it cannot get its cookie and is not saved", "path", s.r.URL.Path)
		}
		return nil
	}
	ctx, cancel := s.m.storeCtx(s.r)
	defer cancel()
	_, err := s.save(ctx, now, false)
	return err
}
