package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// commit runs when the response starts: it gathers the facts, lets decide
// choose, carries the plan out, and sets the response's headers in h
// (Set-Cookie, or Options.Header). Events are logged after the session is
// unlocked.
func (s *Session) commit(now time.Time, h http.Header) error {
	s.mu.Lock()
	p := decide(s.facts(now))
	ev, err := s.carryOut(p, now)
	if err == nil && !s.vanished {
		s.respond(p, h, now)
	}
	s.mu.Unlock()
	s.log(s.r.Context(), ev)
	return err
}

// facts gathers what decide looks at. s.mu is held.
func (s *Session) facts(now time.Time) facts {
	o := &s.m.opts
	_, newExpiry := s.expiries(now)
	return facts{
		resave:            o.Resave,
		saveUninitialized: o.SaveUninitialized,
		rolling:           o.Rolling,
		unsetDestroy:      o.Unset == UnsetDestroy,
		touchAfter:        s.m.touchAfter(s.cur.maxAge),
		asked:             s.asked,
		stored:            s.stored,
		modified:          s.id != s.startID || !s.cur.equal(s.start),
		dirty:             !s.stored || !s.cur.equal(s.saved),
		current:           s.cookieID == s.id,
		hadCookie:         s.cookieID != "",
		persistent:        s.cur.maxAge > 0,
		sendable:          s.viaHeader || s.c.Secure != SecureOn || s.m.isSecure(s.r),
		storedExpiry:      s.storedExpiry,
		newExpiry:         newExpiry,
		rekeyed:           s.rekeyed,
		aliased:           s.aliased,
		lifetimeChanged:   s.cur.maxAge != s.start.maxAge,
	}
}

// carryOut does the store I/O p asks for. s.mu is held.
func (s *Session) carryOut(p plan, now time.Time) (ev event, err error) {
	if !p.destroy && !p.save && !p.touch {
		return ev, nil
	}
	ctx := s.storeCtx(now)
	switch {
	case p.destroy:
		if _, err := s.m.store.Destroy(ctx, s.hash, now); err != nil {
			return ev, fmt.Errorf("sessions: unset: %w", err)
		}
		return s.event("sessions: session destroyed"), nil
	case p.save:
		ev, _, err = s.save(ctx, now) // a vanished row: see Session.vanish
		return ev, err
	}
	return ev, s.touch(ctx, now)
}

// respond sets the headers that carry the session's id (or clear it) to
// the client, as p says: Set-Cookie, or Options.Header for a client that
// sent its token there; now is the commit's clock reading. s.mu is held.
func (s *Session) respond(p plan, h http.Header, now time.Time) {
	var value string
	switch {
	case p.setCookie:
		value = "s:" + s.m.signer.Sign(s.id)
	case !p.clearCookie:
		return
	}
	if s.viaHeader {
		h.Set(s.m.opts.Header, value)
	} else {
		h.Add("Set-Cookie", s.cookieHeader(value, p.clearCookie, now))
	}
	addCacheControl(h, s.m.opts.CacheControl)
	if p.clearCookie && s.m.opts.ClearSiteData {
		h.Set("Clear-Site-Data", `"cookies"`)
	}
}

// addCacheControl adds directive to the Cache-Control header, so that no
// cache stores a response that carries a session id.
func addCacheControl(h http.Header, directive string) {
	switch cc := h.Get("Cache-Control"); {
	case cc == "":
		h.Set("Cache-Control", directive)
	case !strings.Contains(cc, directive):
		h.Set("Cache-Control", cc+", "+directive)
	}
}

// vanish marks the session as revoked or expired under this request
// (DestroyUser, DestroySession, or its expiry passed): nothing more is
// written for it, and no cookie is sent, neither its id (which is dead) nor
// a clearing one (the browser may hold a newer cookie by now, from a login
// that raced this request). s.mu is held.
func (s *Session) vanish() {
	s.vanished = true
}

// touchAfter is the touch throttle for a session with the cookie max age
// maxAge: Options.TouchAfter, at most a tenth of the session's lifetime.
func (m *Manager) touchAfter(maxAge time.Duration) time.Duration {
	if m.opts.TouchAfter == TouchEveryRequest {
		return TouchEveryRequest
	}
	life := m.opts.DefaultTTL
	if maxAge > 0 {
		life = maxAge
	}
	return min(m.opts.TouchAfter, life/10)
}

// touch moves the row's expiry. A row that has vanished is not an error:
// it is not brought back. s.mu is held.
func (s *Session) touch(ctx context.Context, now time.Time) error {
	_, storeExp := s.expiries(now)
	err := s.m.store.Touch(ctx, s.hash, storeExp, s.device(now), now)
	switch {
	case errors.Is(err, ErrNotFound):
		s.vanish()
	case err != nil:
		return fmt.Errorf("sessions: touch: %w", err)
	default:
		s.storedExpiry, s.rekeyed = storeExp, false
	}
	return nil
}

// commitLate saves changes made after the response started; no cookie can
// be sent any more.
func (s *Session) commitLate() error {
	s.mu.Lock()
	if s.asked.unset || s.vanished || s.stored && s.cur.equal(s.saved) {
		s.mu.Unlock()
		return nil
	}
	now := s.m.opts.Now()
	if !s.stored {
		modified := s.id != s.startID || !s.cur.equal(s.start)
		s.mu.Unlock()
		if modified {
			s.m.opts.Logger.WarnContext(s.r.Context(), "sessions: a new session was modified after the response started; it cannot get its cookie and is not saved", "path", s.r.URL.Path)
		}
		return nil
	}
	ctx := s.storeCtx(now)
	ev, _, err := s.save(ctx, now)
	s.mu.Unlock()
	s.log(ctx, ev)
	return err
}

// save writes the session: Create for a new one, a merge Update of what
// changed for a stored one. It reports kept == false, with no error, when
// the stored session has vanished (destroyed elsewhere, e.g. by
// DestroyUser): it is not brought back. s.mu is held.
func (s *Session) save(ctx context.Context, now time.Time) (ev event, kept bool, err error) {
	if !s.stored {
		return s.create(ctx, now)
	}
	c := s.change(now)
	if err := s.m.store.Update(ctx, s.hash, c, now); err != nil {
		if errors.Is(err, ErrNotFound) {
			s.vanish()
			return s.event("sessions: session revoked or expired while in use; not saved"), false, nil
		}
		if errors.Is(err, ErrTooLarge) { // concurrent requests filled the session: the row is left as it was
			return ev, false, fmt.Errorf("sessions: save: the store refused this request's changes, which would take the session past Options.MaxDataBytes (other requests added to it meanwhile); nothing of them was saved: %w", err)
		}
		return ev, false, fmt.Errorf("sessions: save: %w", err)
	}
	if s.cur.user != "" && s.cur.user != s.saved.user && s.m.opts.MaxSessionsPerUser > 0 {
		ev = s.event("")
		ev.cap = true
	}
	s.saved, s.own, s.rekeyed = s.cur, false, false
	s.storedExpiry = c.NextExpiry(s.storedExpiry)
	return ev, true, nil
}

// create writes a new session whole. s.mu is held.
func (s *Session) create(ctx context.Context, now time.Time) (ev event, kept bool, err error) {
	cookieExp, storeExp := s.expiries(now)
	data := make(map[string]json.RawMessage, s.cur.values.len()+2)
	for k, v := range s.cur.values.all() {
		data[k] = v
	}
	data[cookieKey] = s.c.storedCookie(s.cur.maxAge, cookieExp, s.secureFlag(), s.sameSite())
	if s.cur.meta != (meta{}) {
		data[metaKey], _ = json.Marshal(s.cur.meta) // plain struct: cannot fail
	}
	rec := sessionstore.Record{Data: data, CreatedAt: s.createdAt, ExpiresAt: storeExp, UserID: s.cur.user, MaxBytes: s.m.opts.MaxDataBytes,
		Device: s.device(now), MaxPerUser: s.m.opts.MaxSessionsPerUser}
	if err := s.m.store.Create(ctx, s.hash, rec, now); err != nil {
		return ev, false, fmt.Errorf("sessions: save: %w", err)
	}
	ev = s.event("sessions: session created")
	ev.cap = rec.MaxPerUser > 0 && rec.UserID != ""
	s.saved, s.stored, s.own, s.storedExpiry = s.cur, true, false, storeExp
	return ev, true, nil
}

// change is the merge that brings the saved row up to cur: the values and
// user that differ, and the lifetime only when this request changed it
// (the cookie JSON, and an expiry that may move back). Otherwise the
// expiry only moves forward, and a passive request leaves it alone, so a
// slower request never undoes a concurrent one's extension or SetMaxAge.
// s.mu is held.
func (s *Session) change(now time.Time) sessionstore.Change {
	c := sessionstore.Change{MaxBytes: s.m.opts.MaxDataBytes, Reserve: s.m.cookieReserve, Device: s.device(now), MaxPerUser: s.m.opts.MaxSessionsPerUser,
		Lifetime: s.cur.maxAge != s.saved.maxAge}
	if !s.asked.passive || c.Lifetime {
		var cookieExp time.Time
		cookieExp, c.ExpiresAt = s.expiries(now)
		if c.Lifetime {
			c.Set = map[string]json.RawMessage{cookieKey: s.c.storedCookie(s.cur.maxAge, cookieExp, s.secureFlag(), s.sameSite())}
		}
	}
	if !equalValues(s.cur.values, s.saved.values) {
		if c.Set == nil {
			c.Set = make(map[string]json.RawMessage)
		}
		cur, saved := s.cur.values.all(), s.saved.values.all()
		for k, v := range cur {
			if old, ok := saved[k]; !ok || !sameJSON(old, v) {
				c.Set[k] = v
			}
		}
		for k := range saved {
			if _, ok := cur[k]; !ok {
				c.Deleted = append(c.Deleted, k)
			}
		}
	}
	if s.cur.user != s.saved.user {
		user := s.cur.user
		c.UserID = &user
	}
	if s.cur.meta != s.saved.meta {
		if c.Set == nil {
			c.Set = make(map[string]json.RawMessage, 1)
		}
		c.Set[metaKey], _ = json.Marshal(s.cur.meta) // plain struct: cannot fail
	}
	return c
}

// expiries returns the cookie's expiry (zero for a browser-session cookie)
// and the store's.
func (s *Session) expiries(now time.Time) (cookie, store time.Time) {
	o := &s.m.opts
	ttl := o.DefaultTTL
	if s.cur.maxAge > 0 {
		ttl = s.cur.maxAge
		cookie = now.Add(s.cur.maxAge)
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

// secureFlag says whether the cookie carries Secure for this request.
func (s *Session) secureFlag() bool {
	switch s.c.Secure {
	case SecureOn:
		return true
	case SecureAuto:
		return s.m.isSecure(s.r)
	}
	return false
}

// event is a lifecycle event to log once the session is unlocked, so that
// a logger reading the session from the context cannot deadlock.
type event struct {
	msg  string
	hash IDHash
	user string
	old  *IDHash // the id's hash before Regenerate
	cap  bool    // the write gave the user a session under MaxSessionsPerUser
}

// event returns the event msg about s. s.mu is held.
func (s *Session) event(msg string) event {
	return event{msg: msg, hash: s.hash, user: s.cur.user}
}

// log logs ev, if any. s.mu must not be held.
func (s *Session) log(ctx context.Context, ev event) {
	if ev.cap {
		s.logCap(ctx, ev.user)
	}
	switch {
	case ev.old != nil:
		s.m.event(ctx, ev.msg, ev.hash, s.r, ev.user, "old_session", s.m.fingerprint(*ev.old))
	case ev.msg != "":
		s.m.event(ctx, ev.msg, ev.hash, s.r, ev.user)
	}
}
