package sessions

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// SecureMode says when the session cookie gets the Secure attribute
// (express-session's cookie.secure: false, true or "auto").
type SecureMode int

const (
	// SecureOff never marks the cookie Secure (express: secure: false).
	SecureOff SecureMode = iota
	// SecureOn always marks it Secure; over plain HTTP the cookie is then
	// not sent at all, as express-session does (secure: true).
	SecureOn
	// SecureAuto marks it Secure when the request came over HTTPS: TLS, or
	// X-Forwarded-Proto: https when Options.TrustProxy is set
	// (secure: "auto").
	SecureAuto
)

// SameSiteAuto, as CookieOptions.SameSite, sends SameSite=None on secure
// requests (TLS, or X-Forwarded-Proto: https with Options.TrustProxy) and
// SameSite=Lax on others (express: sameSite: 'auto'). Browsers take
// SameSite=None only with Secure, so it needs Cookie.Secure SecureAuto (or
// SecureOn): New refuses it with SecureOff, which express allows.
const SameSiteAuto http.SameSite = -1

// UnsetMode says what happens to a session the handler unsets with
// Session.Unset (express-session's unset option).
type UnsetMode int

const (
	// UnsetKeep keeps the stored session but saves nothing this request
	// changed (express: unset: "keep", the default).
	UnsetKeep UnsetMode = iota
	// UnsetDestroy deletes the stored session when the response is written
	// (express: unset: "destroy").
	UnsetDestroy
)

// CookieOptions are the session cookie's attributes (express-session's
// cookie option).
type CookieOptions struct {
	// Path of the cookie; default "/". Requests whose path is outside it
	// get no session, as in express-session.
	Path string
	// Domain of the cookie; default none (host-only).
	Domain string
	// MaxAge is the cookie's lifetime (express: maxAge). 0 makes a
	// browser-session cookie, kept in the store for Options.DefaultTTL.
	// Session.SetMaxAge overrides it per session.
	MaxAge time.Duration
	// Expires, when MaxAge is 0, fixes the expiry of new sessions' cookies
	// (express: expires); it becomes a max age counted from the session's
	// creation. Prefer MaxAge.
	Expires time.Time
	// Secure: SecureOff (default), SecureOn or SecureAuto.
	Secure SecureMode
	// DisableHTTPOnly sends the cookie without HttpOnly, letting scripts
	// read it (express: httpOnly: false). HttpOnly is on by default.
	DisableHTTPOnly bool
	// SameSite: http.SameSiteLaxMode, StrictMode, NoneMode (needs Secure),
	// SameSiteAuto (None over HTTPS, Lax otherwise; needs SecureAuto or
	// SecureOn), or the zero value for
	// no attribute (express's default).
	SameSite http.SameSite
	// Partitioned adds the Partitioned attribute (CHIPS).
	Partitioned bool
	// Priority adds the Priority attribute: "low", "medium" or "high".
	Priority string
}

// Options configures a Manager. Secrets is required; every other field has
// a default.
type Options struct {
	// Name of the session cookie; default "sid".
	Name string
	// Secrets sign the cookie: the first signs, all verify, so a secret can
	// be rotated by putting the new one first. Required; load them from
	// the environment, never from source. Use 32 or more random bytes
	// (openssl rand -base64 32): New logs a warning for a shorter secret
	// and refuses one shorter than MinSecretBytes unless AllowWeakSecrets.
	Secrets []string
	// AllowWeakSecrets accepts secrets shorter than MinSecretBytes, for
	// tests and throwaway demos; New still logs a warning. Never set it in
	// production: a short secret can be guessed offline from one cookie.
	AllowWeakSecrets bool
	// Cookie holds the cookie's attributes.
	Cookie CookieOptions
	// Resave writes an unmodified session back to the store on every
	// request (express: resave). Off by default: unmodified sessions are
	// only touched.
	Resave bool
	// SaveUninitialized saves and cookies new sessions that the request did
	// not modify (express: saveUninitialized). Off by default, which keeps
	// anonymous traffic out of the store.
	SaveUninitialized bool
	// Rolling re-sends the cookie, with a fresh expiry, whenever the
	// session's stored expiry moves (express: rolling): on every response
	// with TouchAfter = TouchEveryRequest, as express does; at most once
	// per TouchAfter otherwise (a response that moves nothing sends no
	// cookie: it would only repeat the last one).
	Rolling bool
	// TrustProxy honours X-Forwarded-Proto (SecureAuto) and
	// X-Forwarded-For (client IP in logs) from a reverse proxy
	// (express: proxy).
	TrustProxy bool
	// Unset says what Session.Unset does: UnsetKeep (default) or
	// UnsetDestroy (express: unset).
	Unset UnsetMode
	// GenID returns a new session id (express: genid). It must return a
	// unique, unguessable, non-empty string. Default: 24 bytes from
	// crypto/rand, base64url without padding.
	GenID func(*http.Request) string
	// TouchAfter skips the store write that moves an unmodified session's
	// expiry when it would move it by less than this (connect-mongo's
	// touchAfter), so most reads are one statement. Default
	// DefaultTouchAfter (one minute); whatever its value, a session is
	// touched at least every tenth of its lifetime, so short sessions still
	// slide. TouchEveryRequest touches on every request, as
	// express-session does. When a touch is skipped, a re-sent cookie
	// (Rolling) carries the stored expiry: it never outlives the row.
	TouchAfter time.Duration
	// AbsoluteTimeout, when set, ends every session this long after it was
	// created, however active (rolling or not).
	AbsoluteTimeout time.Duration
	// RenewAfter, when positive, gives a stored session a new id
	// (Session.Regenerate) on its first non-passive request once its id
	// is this old: OWASP's "renewal timeout", which bounds how long a
	// stolen id stays useful in a long session. 0: only explicit
	// Regenerate calls rotate ids.
	RenewAfter time.Duration
	// RenewGrace is how long an id that Regenerate retired still leads to
	// its successor: a request already in flight with the old cookie (a
	// parallel request, another tab) lands on the new session and gets
	// its cookie, instead of a fresh anonymous one. After the grace, a
	// retired id of a signed-in session is treated as a replayed stolen
	// token (see OnReuse). Default DefaultRenewGrace (30 s); NoRenewGrace
	// keeps no record of retired ids (no grace, no reuse detection).
	RenewGrace time.Duration
	// OnReuse, when set, is called when a request presents an id that was
	// retired while its session was signed in, after RenewGrace: the id
	// was copied before the rotation and is replayed. Unless KeepOnReuse
	// is set, the session it was rotated into (its whole family) has been
	// revoked by then. The request goes on with a new, empty session.
	OnReuse func(r *http.Request, ev ReuseEvent)
	// KeepOnReuse, when true, only logs and reports (OnReuse) a reused
	// retired id; by default the session family is revoked.
	KeepOnReuse bool
	// DefaultTTL is how long the store keeps a session whose cookie has no
	// max age (a browser-session cookie); default 24h.
	DefaultTTL time.Duration
	// MaxDataBytes limits the JSON size of a session's values; default
	// DefaultMaxDataBytes. Session.Set returns ErrTooLarge beyond it.
	MaxDataBytes int
	// StoreTimeout bounds each store call the middleware makes; default 5s.
	// The load and the commit share deadlines between calls that begin
	// within 10 ms of each other, so one of them may run up to 10 ms longer.
	StoreTimeout time.Duration
	// ErrorHandler answers a request whose session could not be loaded or
	// saved. Default: log with Logger and respond 500 without details.
	ErrorHandler func(http.ResponseWriter, *http.Request, error)
	// Logger receives session events (created, regenerated, destroyed,
	// with the id's hash, never the id) and errors; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now. For tests.
	Now func() time.Time

	// CookieFor, when set, chooses the cookie's attributes per request
	// (express: cookie as a function of req), in place of Cookie. Its
	// result is validated as Cookie is, and must keep Cookie's Path and
	// Domain (one cookie name under two paths or domains reaches the
	// browser twice, and the session is then ignored); an invalid result
	// is answered by the ErrorHandler with an error naming CookieFor. For
	// part of a site with a cookie of its own, nest a second Manager with
	// its own Name.
	CookieFor func(*http.Request) CookieOptions
	// Header, when set (e.g. "X-Session-Token"), also accepts the session
	// for API and mobile clients in this request header: the same signed
	// value as the cookie. A request that carries the header (empty, for a
	// client with no session yet) is answered in the same header instead
	// of with a cookie: a new or regenerated token is sent there, and an
	// empty value when the session is destroyed. When a request carries
	// both a cookie and the header naming different sessions, it gets none
	// (logged). Ids in URLs are never accepted.
	Header string
	// CacheControl is added to every response that carries a session id
	// (a Set-Cookie or Header); default "no-store" (OWASP). Set it to
	// `no-cache="Set-Cookie"` to let browsers keep such pages while
	// shared caches still drop the cookie.
	CacheControl string
	// ClearSiteData adds `Clear-Site-Data: "cookies"` to the response of a
	// request that destroyed its session (logout), so the browser drops
	// every cookie of the site (OWASP).
	ClearSiteData bool
	// PassivePaths are paths whose requests read the session without
	// extending it (Session.Passive): polls, such as a timeout warning's.
	// A path ending in "/" covers everything under it.
	PassivePaths []string
	// MaxSessionsPerUser, when positive, caps how many sessions one user
	// (Session.SetUser) may have (OWASP ASVS 7.1.2): when a save gives a
	// user one more, that user's oldest sessions beyond the cap are
	// deleted in the same transaction (logged); the session being saved
	// always survives.
	MaxSessionsPerUser int
	// RecordDevice records, with each session, when it was last seen and
	// its client's IP (TrustProxy-aware) and user agent, for "your active
	// sessions" pages (ListUserSessions). They are written only with a
	// write the request makes anyway (a save or a touch): last seen moves
	// at TouchAfter's pace.
	RecordDevice bool
	// ValueKeys, when set, encrypts every session value at rest (but the
	// cookie's settings): Set seals it with AES-256-GCM under a key
	// derived (HKDF-SHA256) from the first entry, Get opens it with
	// whichever entry sealed it, so a key is rotated by putting a new one
	// first and keeping the old ones until the sessions they sealed have
	// expired. A value sealed under an old key is re-sealed under the
	// first when a request sets it. Each entry must hold at least 32
	// random bytes; load them from the environment, never from source.
	// Values are bound to their key and session: a value copied to another
	// key or session does not open (ErrDecrypt). See docs/ENCRYPTION.md.
	ValueKeys []string
}

// Defaults.
const (
	// DefaultName is the default cookie name.
	DefaultName = "sid"
	// DefaultTTL is how long the store keeps a browser-session cookie's
	// session by default.
	DefaultTTL = 24 * time.Hour
	// DefaultStoreTimeout bounds each store call the middleware makes.
	DefaultStoreTimeout = 5 * time.Second
)

// DefaultTouchAfter is the default Options.TouchAfter.
const DefaultTouchAfter = time.Minute

// TouchEveryRequest, as Options.TouchAfter, moves an unmodified session's
// expiry in the store on every request, as express-session does: one
// write per read.
const TouchEveryRequest time.Duration = -1

// maxCookieBytes is the largest session cookie value accepted; longer ones
// are ignored unread (browsers keep at most 4096 bytes a cookie).
const maxCookieBytes = 4096

// withDefaults validates o and returns it with defaults filled in.
func (o Options) withDefaults() (Options, error) {
	if err := o.checkSecrets(); err != nil {
		return o, err
	}
	o.Secrets = append([]string(nil), o.Secrets...)
	if o.Name == "" {
		o.Name = DefaultName
	}
	if !isToken(o.Name) {
		return o, fmt.Errorf("sessions: Options.Name %q is not a valid cookie name", o.Name)
	}
	if err := o.Cookie.normalize(o.Name); err != nil {
		return o, err
	}
	if err := o.checkHeader(); err != nil {
		return o, err
	}
	if o.Unset != UnsetKeep && o.Unset != UnsetDestroy {
		return o, fmt.Errorf("sessions: Options.Unset %d is not UnsetKeep or UnsetDestroy", o.Unset)
	}
	if err := o.checkLimits(); err != nil {
		return o, err
	}
	o.DefaultTTL = cmp.Or(o.DefaultTTL, DefaultTTL)
	if life := cmp.Or(o.Cookie.MaxAge, o.DefaultTTL); o.TouchAfter >= life {
		return o, fmt.Errorf("sessions: Options.TouchAfter %v is not shorter than the session lifetime %v: active users would be logged out", o.TouchAfter, life)
	}
	o.TouchAfter = cmp.Or(o.TouchAfter, DefaultTouchAfter)
	o.RenewGrace = cmp.Or(o.RenewGrace, DefaultRenewGrace)
	o.StoreTimeout = cmp.Or(o.StoreTimeout, DefaultStoreTimeout)
	o.MaxDataBytes = cmp.Or(o.MaxDataBytes, DefaultMaxDataBytes)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	o.CacheControl = cmp.Or(o.CacheControl, "no-store")
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

func (o *Options) checkSecrets() error {
	if len(o.Secrets) == 0 {
		return errors.New("sessions: Options.Secrets is required (at least one secret to sign cookies)")
	}
	for i, s := range o.Secrets {
		if s == "" {
			return fmt.Errorf("sessions: Options.Secrets[%d] is empty", i)
		}
	}
	return nil
}

// checkLimits rejects negative durations and sizes, naming the first.
func (o *Options) checkLimits() error {
	if o.TouchAfter < 0 && o.TouchAfter != TouchEveryRequest {
		return fmt.Errorf("sessions: Options.TouchAfter %v is negative (TouchEveryRequest is the one negative value allowed)", o.TouchAfter)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"AbsoluteTimeout", o.AbsoluteTimeout}, {"DefaultTTL", o.DefaultTTL}, {"StoreTimeout", o.StoreTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("sessions: Options.%s %v is negative", d.name, d.v)
		}
	}
	if o.MaxSessionsPerUser < 0 {
		return fmt.Errorf("sessions: Options.MaxSessionsPerUser %d is negative", o.MaxSessionsPerUser)
	}
	if o.MaxDataBytes < 0 {
		return fmt.Errorf("sessions: Options.MaxDataBytes %d is negative", o.MaxDataBytes)
	}
	return nil
}

// normalize fills in the cookie's default Path and validates it for the
// cookie name.
func (c *CookieOptions) normalize(name string) error {
	if c.Path == "" {
		c.Path = "/"
	}
	if err := c.check(); err != nil {
		return err
	}
	// Cookie name prefixes (RFC 6265bis): browsers reject the cookie when
	// they are not met, so refuse them here.
	if (strings.HasPrefix(name, "__Secure-") || strings.HasPrefix(name, "__Host-")) && c.Secure != SecureOn {
		return fmt.Errorf("sessions: cookie name %q needs Cookie.Secure = SecureOn", name)
	}
	if strings.HasPrefix(name, "__Host-") && (c.Path != "/" || c.Domain != "") {
		return fmt.Errorf("sessions: cookie name %q needs Cookie.Path \"/\" and no Cookie.Domain", name)
	}
	return nil
}

// checkHeader validates Options.Header.
func (o *Options) checkHeader() error {
	if o.Header == "" {
		return nil
	}
	switch http.CanonicalHeaderKey(o.Header) {
	case "Cookie", "Set-Cookie", "Authorization", "Host", "Content-Type", "Content-Length":
		return fmt.Errorf("sessions: Options.Header %q is a standard header; name one of your own, such as X-Session-Token", o.Header)
	}
	if !isToken(o.Header) {
		return fmt.Errorf("sessions: Options.Header %q is not a valid header name", o.Header)
	}
	o.Header = http.CanonicalHeaderKey(o.Header)
	return nil
}

// check validates the cookie's attributes.
func (c *CookieOptions) check() error {
	if !strings.HasPrefix(c.Path, "/") || strings.ContainsFunc(c.Path, badAttrRune) {
		return fmt.Errorf("sessions: Cookie.Path %q must start with / and hold no ';' or control characters", c.Path)
	}
	if c.Domain != "" && !validDomain(c.Domain) {
		return fmt.Errorf("sessions: Cookie.Domain %q is not a valid domain", c.Domain)
	}
	if c.MaxAge < 0 {
		return fmt.Errorf("sessions: Cookie.MaxAge %v is negative", c.MaxAge)
	}
	if c.Secure != SecureOff && c.Secure != SecureOn && c.Secure != SecureAuto {
		return fmt.Errorf("sessions: Cookie.Secure %d is not SecureOff, SecureOn or SecureAuto", c.Secure)
	}
	switch c.SameSite {
	case 0, http.SameSiteDefaultMode, http.SameSiteLaxMode, http.SameSiteStrictMode:
	case SameSiteAuto:
		if c.Secure == SecureOff {
			return errors.New("sessions: Cookie.SameSite SameSiteAuto needs Cookie.Secure SecureAuto (or SecureOn): it sends SameSite=None over HTTPS, and browsers reject SameSite=None cookies without Secure")
		}
	case http.SameSiteNoneMode:
		if c.Secure == SecureOff {
			return errors.New("sessions: Cookie.SameSite None needs Cookie.Secure (SecureOn or SecureAuto): browsers reject SameSite=None cookies without Secure")
		}
	default:
		return fmt.Errorf("sessions: Cookie.SameSite %d is not a valid http.SameSite", c.SameSite)
	}
	switch c.Priority {
	case "", "low", "medium", "high":
	default:
		return fmt.Errorf("sessions: Cookie.Priority %q must be low, medium or high", c.Priority)
	}
	return nil
}

// isToken reports whether s is an RFC 7230 token (a valid cookie name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 126 || r <= 32 || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return true
}

func badAttrRune(r rune) bool { return r == ';' || r < 32 || r == 127 }

func validDomain(d string) bool {
	d = strings.TrimPrefix(d, ".")
	if d == "" || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
