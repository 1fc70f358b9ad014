package sessions

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sqlsession/sqlsession/sessions/cookiesig"
)

// Manager is the session middleware. Create it with New; it is safe for
// concurrent use.
type Manager struct {
	store  Store
	opts   Options
	signer *cookiesig.Signer
	fpKey  []byte // keys the fingerprints in logs, derived from the first secret
	// realClock: Options.Now was not set, so reads may leave "now" to the
	// store's clock (Store.Load with the zero time).
	realClock bool
	// cookieReserve is an upper bound of the bytes the cookie JSON takes
	// in a stored session: Session.Set counts it against MaxDataBytes.
	cookieReserve int
	// sealer seals values with Options.ValueKeys; nil when not set.
	sealer *sealer
	// updates queues this process's Updates of one key of one session (update.go).
	updates keyLocks
	// deadlines gives the load's and the commit's store calls their
	// deadlines, one timer per few milliseconds (storectx.go).
	deadlines deadlines
}

// New returns a Manager that keeps sessions in store. It returns an error
// for a nil store, no (or an empty) secret, a secret shorter than
// MinSecretBytes (unless Options.AllowWeakSecrets), and invalid cookie
// options, such as SameSite None without Secure or a Path that does not
// start with "/". It logs one warning (Options.Logger) for each secret
// shorter than RecommendedSecretBytes.
func New(store Store, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("sessions: New: nil Store")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkSecretStrength(o.Secrets, o.AllowWeakSecrets, o.Logger); err != nil {
		return nil, err
	}
	m := &Manager{store: store, opts: o, signer: cookiesig.NewSigner(o.Secrets...), realClock: opts.Now == nil}
	kdf := hmac.New(sha256.New, []byte(o.Secrets[0]))
	kdf.Write([]byte("sqlsession log fingerprint v1"))
	m.fpKey = kdf.Sum(nil)
	if m.sealer, err = newSealer(o.ValueKeys); err != nil {
		return nil, err
	}
	m.cookieReserve = m.opts.Cookie.reserve()
	if m.cookieReserve+2 > o.MaxDataBytes {
		return nil, fmt.Errorf("sessions: Options.MaxDataBytes %d leaves no room for the %d bytes of cookie JSON stored with every session", o.MaxDataBytes, m.cookieReserve)
	}
	return m, nil
}

// contextKey finds the innermost session of any Manager in a context.
type contextKey struct{}

// sessionContext is the handler's request context: it carries the session
// under the Manager's own key (the *Manager) and under contextKey, at the
// cost of no allocation beyond the Session itself.
type sessionContext struct {
	context.Context
	s *Session
}

// Value returns the session for the Manager's key or contextKey.
func (c *sessionContext) Value(key any) any {
	if key == any(c.s.m) || key == any(contextKey{}) {
		return c.s
	}
	return c.Context.Value(key)
}

// FromContext returns the request's session, or nil outside a handler
// wrapped by Manager.Handler (and for requests outside Cookie.Path). The
// methods of a nil *Session are safe: they return ErrNoSession or do
// nothing. With several Managers nested (two cookies), it returns the
// innermost one's session; use Manager.FromContext to choose.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(contextKey{}).(*Session)
	return s
}

// FromContext returns this Manager's session of the request, or nil outside
// its Handler. Use it when several Managers (several session cookies) wrap
// one handler.
func (m *Manager) FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(m).(*Session)
	return s
}

// Handler wraps next: it loads the request's session (FromContext returns
// it), runs next, and saves the session and sets the cookie before the
// first byte of the response reaches the client. Every response gets
// Vary: Cookie.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.FromContext(r.Context()) != nil {
			next.ServeHTTP(w, r) // this Manager wraps the handler twice
			return
		}
		c, err := m.cookieFor(r)
		if err != nil {
			addVary(w.Header(), nil)
			m.fail(w, r, err)
			return
		}
		if !strings.HasPrefix(r.URL.Path, cmp.Or(c, &m.opts.Cookie).Path) {
			addVary(w.Header(), nil)
			next.ServeHTTP(w, r) // outside the cookie's path: no session, as in express-session
			return
		}
		s := m.newSession(r, c)
		addVary(w.Header(), s.vary[:])
		if m.opts.Header != "" {
			w.Header().Add("Vary", m.opts.Header)
		}
		if err := m.load(s); err != nil {
			m.fail(w, r, err)
			return
		}
		if len(m.opts.PassivePaths) > 0 && m.passivePath(r.URL.Path) {
			s.asked.passive = true
		}
		if m.opts.RenewAfter > 0 {
			s.renewIfDue(r.Context(), m.opts.Now())
		}
		s.w = responseWriter{ResponseWriter: w, s: s, m: m, r: r}
		next.ServeHTTP(&s.w, r.WithContext(&s.ctx))
		s.w.finish()
	})
}

// cookieFor returns the cookie options Options.CookieFor chooses for r,
// validated, or nil when it is not set.
func (m *Manager) cookieFor(r *http.Request) (*CookieOptions, error) {
	if m.opts.CookieFor == nil {
		return nil, nil
	}
	c := m.opts.CookieFor(r)
	if err := c.normalize(m.opts.Name); err != nil {
		return nil, fmt.Errorf("sessions: Options.CookieFor: %w", err)
	}
	if err := sameScope(&c, &m.opts.Cookie); err != nil {
		return nil, err
	}
	return &c, nil
}

// sameScope refuses a CookieFor result whose Path or Domain differs from
// Options.Cookie's: the browser would keep two cookies of one name, send
// both to the narrower path, and the duplicate-cookie rule would then ignore
// the session there. A second Manager with its own Name is the way to give
// part of a site a cookie of its own.
func sameScope(c, base *CookieOptions) error {
	if c.Path != base.Path {
		return fmt.Errorf("sessions: Options.CookieFor: Path %q differs from Options.Cookie.Path %q: one cookie name under two paths reaches the browser twice; use a second Manager with its own Name", c.Path, base.Path)
	}
	if !strings.EqualFold(strings.TrimPrefix(c.Domain, "."), strings.TrimPrefix(base.Domain, ".")) {
		return fmt.Errorf("sessions: Options.CookieFor: Domain %q differs from Options.Cookie.Domain %q: one cookie name under two domains reaches the browser twice; use a second Manager with its own Name", c.Domain, base.Domain)
	}
	return nil
}

// addVary adds Cookie to the Vary header unless it is there (or "*"). A
// response with no Vary yet gets spare, a one-string slice the caller
// owns, to spare an allocation.
func addVary(h http.Header, spare []string) {
	vary, ok := h["Vary"]
	if !ok && spare != nil {
		spare[0] = "Cookie"
		h["Vary"] = spare[:1:1] // full: a later Add copies it
		return
	}
	for _, v := range vary {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); strings.EqualFold(f, "Cookie") || f == "*" {
				return
			}
		}
	}
	h.Add("Vary", "Cookie")
}

// storeCtx bounds one of the Session's own store calls (the load, the
// commit): the request's values, not its cancellation (a client that
// hangs up must not lose a write), and Options.StoreTimeout, through a
// deadline shared with the calls that began within the same few
// milliseconds (deadlines). A request whose own deadline comes sooner
// runs the call under its own context: that deadline ends it anyway.
// now is the Manager's clock reading, reused when that is the real clock.
func (s *Session) storeCtx(now time.Time) context.Context {
	if dl, ok := s.r.Context().Deadline(); ok && time.Until(dl) < s.m.opts.StoreTimeout {
		return s.r.Context()
	}
	if !s.m.realClock {
		now = time.Now()
	}
	// A context of its own per call: a driver may read it after the call
	// returns (database/sql's awaitDone goroutine does).
	var c *storeContext
	if s.calls < len(s.callCtx) {
		c = &s.callCtx[s.calls]
		s.calls++
	} else {
		c = new(storeContext)
	}
	*c = storeContext{request: s.r.Context(), epoch: s.m.deadlines.get(now, s.m.opts.StoreTimeout)}
	return c
}

// detach returns ctx without its cancellation, bounded by StoreTimeout:
// for the writes a handler asks for (Destroy, Regenerate, Save), which must
// not be lost because the client hung up.
func (m *Manager) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), m.opts.StoreTimeout)
}

// load fills s with the request's session: the stored one its cookie
// names, or a new one.
func (m *Manager) load(s *Session) error {
	now := m.opts.Now()
	var raw string
	s.cookieID, raw, s.viaHeader = m.requestID(s.r)
	debug := m.opts.Logger.Enabled(s.r.Context(), slog.LevelDebug)
	if debug && s.cookieID == "" && raw != "" {
		m.log(s.r.Context(), slog.LevelDebug, "sessions: session cookie rejected (not signed by a current secret, or malformed)",
			HashID(claimedID(raw)), s.r, "")
	}
	if s.cookieID != "" {
		h := HashID(s.cookieID)
		rec, err := m.store.Load(s.storeCtx(now), h, m.loadTime(now))
		switch {
		case err == nil && !m.pastAbsolute(rec.CreatedAt, now):
			if err := s.inflate(s.cookieID, h, rec); err != nil {
				return fmt.Errorf("sessions: load: %w", err)
			}
			return nil
		case errors.Is(err, ErrNotFound):
			ok, err := m.loadRetired(s, now)
			if ok {
				return nil
			}
			if err != nil { // the grace and reuse check is lost for this request, not the request
				m.opts.Logger.ErrorContext(s.r.Context(), "sessions: looking up a retired session id failed; a new session is started", "err", err)
			}
			fallthrough
		case err == nil:
			// Expired or unknown: start afresh, as express-session does.
			if debug {
				m.log(s.r.Context(), slog.LevelDebug, "sessions: unknown or expired session", HashID(s.cookieID), s.r, "")
			}
		default:
			return fmt.Errorf("sessions: load: %w", err)
		}
	}
	id, err := m.genID(s.r)
	if err != nil {
		return err
	}
	s.generate(id, now)
	return nil
}

// loadTime is the now Store.Load gets: the zero time on the real clock, so
// the store uses its own (see sessionstore.Store).
func (m *Manager) loadTime(now time.Time) time.Time {
	if m.realClock {
		return time.Time{}
	}
	return now
}

func (m *Manager) pastAbsolute(created, now time.Time) bool {
	return m.opts.AbsoluteTimeout > 0 && !now.Before(created.Add(m.opts.AbsoluteTimeout))
}

func (m *Manager) genID(r *http.Request) (string, error) {
	if m.opts.GenID == nil {
		return newID(), nil
	}
	id := m.opts.GenID(r)
	if id == "" {
		return "", errors.New("sessions: Options.GenID returned an empty id")
	}
	if len(id) > 1024 {
		return "", fmt.Errorf("sessions: Options.GenID returned a %d-byte id; keep ids short (the signed cookie must fit in %d bytes)", len(id), maxCookieBytes)
	}
	return id, nil
}

// fail answers with the ErrorHandler.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, err error) {
	if m.opts.ErrorHandler != nil {
		m.opts.ErrorHandler(w, r, err)
		return
	}
	m.opts.Logger.ErrorContext(r.Context(), "sessions: session store error", "err", err, "method", r.Method, "path", r.URL.Path)
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// event logs a session event. Only the id's hash (its first 16 hex digits)
// is ever logged, never the id.
func (m *Manager) event(ctx context.Context, msg string, h IDHash, r *http.Request, user string, attrs ...any) {
	m.log(ctx, slog.LevelInfo, msg, h, r, user, attrs...)
}

// log logs a session event as OWASP asks (ASVS 7.x, logging cheat sheet):
// the time in UTC, the client's address, method and path, the user, and a
// keyed fingerprint of the session, never its id nor its database key.
func (m *Manager) log(ctx context.Context, level slog.Level, msg string, h IDHash, r *http.Request, user string, attrs ...any) {
	if !m.opts.Logger.Enabled(ctx, level) {
		return
	}
	a := []any{"session", m.fingerprint(h), "utc", m.opts.Now().UTC().Format(time.RFC3339Nano)}
	if r != nil {
		a = append(a, "ip", m.clientIP(r), "method", r.Method, "path", r.URL.Path)
	}
	if user != "" {
		a = append(a, "user", user)
	}
	m.opts.Logger.Log(ctx, level, msg, append(a, attrs...)...)
}

// fingerprint names a session in logs: the first 16 hex digits of an HMAC
// of its IDHash, keyed from the first secret. Log lines about one session
// match each other, but neither the id nor the database key can be read
// from them, and without the secret no one can tell which row they name.
func (m *Manager) fingerprint(h IDHash) string {
	mac := hmac.New(sha256.New, m.fpKey)
	mac.Write(h[:])
	return hex.EncodeToString(mac.Sum(nil)[:8])
}

// ListUserSessions returns the user's live sessions, newest first. Each
// carries its IDHash, the handle DestroySession takes; ids are never
// revealed. Data holds the values as stored: with Options.ValueKeys,
// sealed ones are read with GetValue.
func (m *Manager) ListUserSessions(ctx context.Context, userID string) ([]SessionInfo, error) {
	if userID == "" {
		return nil, errors.New("sessions: ListUserSessions: empty user id")
	}
	list, err := m.store.ListUser(ctx, userID, m.opts.Now())
	if err != nil {
		return nil, fmt.Errorf("sessions: list user sessions: %w", err)
	}
	for i := range list {
		delete(list[i].Data, cookieKey)
		delete(list[i].Data, metaKey)
	}
	return list, nil
}

// DestroySession deletes the session with the given hash, for example one
// of ListUserSessions' ("revoke this device"). Check that it belongs to the
// user asking before calling it. Called with the context of a request this
// Manager handles (r.Context()), its log line names the acting request:
// its client address, method, path and user.
func (m *Manager) DestroySession(ctx context.Context, h IDHash) error {
	live, err := m.store.Destroy(ctx, h, m.opts.Now())
	if err != nil {
		return fmt.Errorf("sessions: destroy session: %w", err)
	}
	if live { // a log line names only a session that existed
		r, by := m.actor(ctx)
		m.event(ctx, "sessions: session revoked", h, r, "", "by_user", by)
	}
	return nil
}

// actor returns the request that ctx belongs to, when this Manager handles
// it, and its session's user: who revokes, for the log line.
func (m *Manager) actor(ctx context.Context) (r *http.Request, user string) {
	s := m.FromContext(ctx)
	if s == nil {
		return nil, ""
	}
	return s.r, s.User()
}
