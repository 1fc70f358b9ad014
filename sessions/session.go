package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// ErrNoSession is returned by the methods of a nil *Session: the request
// did not pass through Manager.Handler (or its path is outside
// Cookie.Path).
var ErrNoSession = errors.New("sessions: no session (is the handler wrapped by Manager.Handler?)")

// Session is one request's session. Get it with FromContext (or
// Manager.FromContext). Its methods are safe for concurrent use; those of a
// nil *Session return ErrNoSession or do nothing.
type Session struct {
	m    *Manager
	r    *http.Request
	c    *CookieOptions // this request's cookie options: &m.opts.Cookie, or &ownCookie
	ctx  sessionContext // the handler's request context, carrying s
	w    responseWriter // the handler's ResponseWriter
	vary [1]string      // the Vary header's value, when the response had none

	mu       sync.Mutex
	id       string
	hash     IDHash
	cookieID string // verified id from the request's cookie; "" for none
	startID  string // id when the request started (or after Destroy)

	cur    snap // what the handler sees
	start  snap // cur when the request started: express's isModified
	saved  snap // what the store's row holds, when stored
	stored bool // the store has a row for id
	own    bool // cur.values is a private copy, not shared with start or saved
	size   int  // JSON bytes of cur.values; sizeUnknown until a Set needs it

	createdAt    time.Time
	storedExpiry time.Time // the row's expires_at, as far as this request knows
	asked        asked
	vanished     bool // the row was revoked or expired under this request: write nothing more
	rekeyed      bool // Regenerate moved the row to id: the commit confirms it still exists
	aliased      bool // the cookie named a retired id within its grace: id is its successor
	viaHeader    bool // the request carried Options.Header: answer there, not with a cookie
	ownCookie    CookieOptions
	seal         *sealState // Options.ValueKeys: values opened and AEADs derived this request; nil until used
	doc          storedDoc  // the loaded row's text (values read key by key), kept here to spare an allocation

	// The contexts of the first store calls (the load, the commit), kept
	// here to spare allocations; each serves one call and is never
	// written again, since a driver may read it after the call returned.
	callCtx [2]storeContext
	calls   int // how many of callCtx are taken
}

// asked is what the handler asked for, beyond changing values.
type asked struct {
	destroy bool // Destroy: clear the cookie unless a new session replaces it
	unset   bool // Unset: save nothing, send no cookie
	touch   bool // Touch: move the expiry even within TouchAfter
	save    bool // Save: the session exists, so a new one gets its cookie
	passive bool // Passive: read without extending (no touch, no rolling)
}

const sizeUnknown = -1

// newSession returns a Session for r, with the cookie options c (nil for
// the Manager's own), before it is loaded or generated.
func (m *Manager) newSession(r *http.Request, c *CookieOptions) *Session {
	s := &Session{m: m, r: r, c: &m.opts.Cookie, size: sizeUnknown}
	if c != nil {
		s.ownCookie = *c
		s.c = &s.ownCookie
	}
	s.ctx = sessionContext{Context: r.Context(), s: s}
	return s
}

// generate makes s a new, empty, unsaved session with the id id.
func (s *Session) generate(id string, now time.Time) {
	s.id, s.hash, s.startID = id, HashID(id), id
	s.cur = snap{maxAge: s.c.defaultMaxAge(now)}
	s.start, s.saved, s.stored, s.own, s.size = s.cur, snap{}, false, false, sizeUnknown
	s.createdAt, s.storedExpiry = now, time.Time{}
}

// defaultMaxAge is a new session's cookie lifetime.
func (c *CookieOptions) defaultMaxAge(now time.Time) time.Duration {
	if c.MaxAge == 0 && !c.Expires.IsZero() && c.Expires.After(now) {
		return c.Expires.Sub(now)
	}
	return c.MaxAge
}

// inflate makes s the stored session rec, named by id, whose hash h is.
func (s *Session) inflate(id string, h IDHash, rec sessionstore.Record) error {
	if err := s.setStored(rec); err != nil {
		return err
	}
	s.id, s.hash, s.startID = id, h, id
	s.start = s.cur
	return nil
}

// setStored makes rec both the current and the saved state. The first
// load keeps the row's text in s.doc; a later one (Reload) in a new
// storedDoc, since start may still hold the first.
func (s *Session) setStored(rec sessionstore.Record) error {
	doc := &s.doc
	if doc.text != nil {
		doc = nil
	}
	cur, complete, err := snapOf(rec, s.c, doc)
	if err != nil {
		return fmt.Errorf("stored session data: %w", err)
	}
	s.cur, s.own, s.size = cur, false, sizeUnknown
	s.saved, s.stored = cur, true
	if !complete {
		s.saved.maxAge = unknownMaxAge // no cookie JSON stored yet: the next save writes it
	}
	s.createdAt, s.storedExpiry = rec.CreatedAt, rec.ExpiresAt
	return nil
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
// reports whether the key exists. A value sealed with Options.ValueKeys is
// opened on its first Get in the request (later ones reuse the plaintext);
// one that does not open gives an error wrapping ErrDecrypt.
func (s *Session) Get(key string, dst any) (bool, error) {
	if s == nil {
		return false, ErrNoSession
	}
	s.mu.Lock()
	v, ok := s.cur.values.get(key)
	var err error
	if ok && isSealed(v) {
		v, err = s.openValue(key, v)
	}
	s.mu.Unlock()
	if !ok {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("sessions: get %q: %w", key, err)
	}
	if err := decodeValue(v, dst); err != nil {
		return true, fmt.Errorf("sessions: get %q: %w", key, err)
	}
	return true, nil
}

// Set stores v, JSON-encoded, under key. It fails, changing nothing, for an
// empty key, the reserved keys "cookie" and "$seal", a value JSON cannot encode, a key or
// value no store can keep alike (a NUL character, invalid UTF-8, an
// unpaired surrogate escape), or when the session would exceed
// Options.MaxDataBytes (ErrTooLarge): a value Set accepts is one every
// store keeps, byte for byte. Numbers written with an exponent are stored
// spelled out (1e3 as 1000), as PostgreSQL would. With Options.ValueKeys
// the value is sealed (encrypted) here, and the limit counts its sealed
// form.
func (s *Session) Set(key string, v any) error {
	if s == nil {
		return ErrNoSession
	}
	b, err := s.m.encodeValue(key, v)
	if err != nil {
		return fmt.Errorf("sessions: set %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m.sealer != nil {
		if err := s.setSealed(key, b); err != nil {
			return fmt.Errorf("sessions: set %q: %w", key, err)
		}
		return nil
	}
	size, err := s.sizeWith(key, b)
	if err != nil {
		return fmt.Errorf("sessions: set %q: %w", key, err)
	}
	s.write()[key] = b
	s.size = size
	return nil
}

// encodeValue checks key and returns v in the JSON form stores keep.
func (m *Manager) encodeValue(key string, v any) (json.RawMessage, error) {
	switch {
	case key == "":
		return nil, errors.New("empty key")
	case key == cookieKey:
		return nil, errors.New(`"cookie" is reserved for the cookie's settings`)
	case key == metaKey:
		return nil, errors.New(`"` + metaKey + `" is reserved for the session's renewal and authentication times`)
	case key == sealKey:
		return nil, errReservedSeal
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if b, ok := encodeSimple(v); ok {
		return b, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return storable(b, m.opts.MaxDataBytes)
}

// Delete removes key from the session.
func (s *Session) Delete(key string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.cur.values.get(key)
	if !ok || key == sealKey {
		return
	}
	if s.size != sizeUnknown {
		s.size -= sessionstore.EntrySize(key, sessionstore.ValueSize(old))
	}
	delete(s.write(), key)
}

// write returns cur.values for writing, copying it first when it is
// shared with start or saved.
func (s *Session) write() map[string]json.RawMessage {
	if !s.own {
		s.cur.values = mapValues(cloneValues(s.cur.values))
		s.own = true
	}
	return s.cur.values.m
}

// Regenerate gives the session a new id, keeping its values, so an id an
// attacker planted before login (session fixation) is worthless after it.
// Call it on login and on any change of privilege. The creation time is
// kept: Options.AbsoluteTimeout counts from the session's first creation
// however often it is rotated.
//
// A stored session is moved to its new id in the store at once
// (Store.Rekey), before Regenerate returns: the old id names nothing from
// then on, and a revocation that races the rotation (Manager.DestroyUser,
// DestroySession, a logout in another tab) finds the session under one id
// or the other, so it always wins. If the stored session was revoked or
// expired since the request loaded it, nothing of it is carried over: the
// request goes on with a new, empty session. If the move fails (the store
// is down or slow), Regenerate returns the error and the session keeps
// its old id, intact and usable.
//
// Like Destroy and Save, it finishes even when ctx is cancelled (a client
// that hangs up), within Options.StoreTimeout.
func (s *Session) Regenerate(ctx context.Context) error {
	return s.renew(ctx, s.rekey)
}

// renew is what Regenerate and Destroy share: a new id (from user code,
// so outside the lock), then change, under the lock and on ctx without the
// caller's cancellation; the event change returns is logged once unlocked.
func (s *Session) renew(ctx context.Context, change func(ctx context.Context, id string) (event, error)) error {
	if s == nil {
		return ErrNoSession
	}
	id, err := s.m.genID(s.r)
	if err != nil {
		return err
	}
	ctx, cancel := s.m.detach(ctx)
	defer cancel()
	s.mu.Lock()
	ev, err := change(ctx, id)
	s.mu.Unlock()
	s.log(ctx, ev)
	return err
}

// rekey gives s the id id, moving its row when it has one. s.mu is held.
func (s *Session) rekey(ctx context.Context, id string) (event, error) {
	if s.vanished || !s.stored { // nothing stored to move: a new id is all it takes
		if s.vanished {
			s.generate(id, s.m.opts.Now())
			s.vanished = false
		} else {
			s.id, s.hash = id, HashID(id)
		}
		return event{}, nil
	}
	old, h := s.hash, HashID(id)
	now := s.m.opts.Now()
	retire, err := s.retire(id, now)
	if err == nil {
		err = s.m.store.Rekey(ctx, old, h, retire, now)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		ev := s.event("sessions: session revoked or expired before Regenerate; a new empty session replaces it")
		s.generate(id, now)
		return ev, nil
	case err != nil:
		return event{}, fmt.Errorf("sessions: regenerate: %w", err)
	}
	s.id, s.hash, s.rekeyed = id, h, true
	s.cur.meta.Renewed = now.UnixMilli()
	ev := s.event("sessions: session regenerated")
	ev.old = &old
	return ev, nil
}

// Destroy deletes the session from the store and clears the cookie. The
// request goes on with a new, empty session, saved only if the handler
// sets something in it. It finishes even when ctx is cancelled, within
// Options.StoreTimeout.
func (s *Session) Destroy(ctx context.Context) error {
	return s.renew(ctx, s.destroy)
}

// destroy deletes the session's row, if it has one, and makes s a new
// session with the id id whose cookie is cleared unless it is saved.
// s.mu is held.
func (s *Session) destroy(ctx context.Context, id string) (ev event, err error) {
	if s.stored {
		live, err := s.m.store.Destroy(ctx, s.hash, s.m.opts.Now())
		if err != nil {
			return ev, fmt.Errorf("sessions: destroy: %w", err)
		}
		if live { // a log line names only a session that existed
			ev = s.event("sessions: session destroyed")
		}
	}
	s.generate(id, s.m.opts.Now())
	s.asked.destroy, s.vanished = true, false
	return ev, nil
}

// Reload replaces the session's values with those in the store, dropping
// this request's unsaved changes. It returns an error wrapping ErrNotFound
// when the session is not stored, or no longer is (revoked or expired):
// then nothing more is saved for it this request.
func (s *Session) Reload(ctx context.Context) error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stored || s.vanished {
		return fmt.Errorf("sessions: reload: %w", ErrNotFound)
	}
	rec, err := s.m.store.Load(ctx, s.hash, s.m.loadTime(s.m.opts.Now()))
	if errors.Is(err, ErrNotFound) {
		s.vanished = true
	}
	if err != nil {
		return fmt.Errorf("sessions: reload: %w", err)
	}
	if err := s.setStored(rec); err != nil {
		return fmt.Errorf("sessions: reload: %w", err)
	}
	return nil
}

// Save writes the session to the store now, even when it is new and
// unmodified; the middleware saves by itself, so call it only when
// something must be stored before the handler goes on (before a redirect
// made by other code, say). It returns an error wrapping ErrNotFound when
// the stored session was revoked or expired meanwhile: it is not brought
// back. It finishes even when ctx is cancelled, within StoreTimeout.
func (s *Session) Save(ctx context.Context) error {
	if s == nil {
		return ErrNoSession
	}
	ctx, cancel := s.m.detach(ctx)
	defer cancel()
	s.mu.Lock()
	s.asked.save = true
	ev, kept, err := s.save(ctx, s.m.opts.Now())
	s.mu.Unlock()
	s.log(ctx, ev)
	if err == nil && !kept {
		err = fmt.Errorf("sessions: save: %w", ErrNotFound)
	}
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
	s.asked.touch = true
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
	s.cur.maxAge = max(d, 0)
}

// SetUser records the session's principal (the user_id column), so that
// Manager.ListUserSessions and Manager.DestroyUser find it; "" clears it.
// Another user than the current one clears AuthenticatedAt (Login sets
// it again).
// An id with a NUL character or invalid UTF-8, which no store keeps alike,
// is refused and changes nothing.
func (s *Session) SetUser(id string) error {
	if s == nil {
		return ErrNoSession
	}
	if err := checkKey(id); err != nil {
		return fmt.Errorf("sessions: set user: id %w", errors.Unwrap(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != s.cur.user {
		s.cur.meta.Auth = 0 // another principal has not authenticated yet
	}
	s.cur.user = id
	return nil
}

// User returns the principal set with SetUser, or "".
func (s *Session) User() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.user
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
	s.asked.unset = true
}
