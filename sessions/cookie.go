package sessions

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sqlsession/sqlsession/sessions/cookiesig"
)

// newID returns 24 random bytes, base64url without padding (as uid-safe).
func newID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionIDFromRequest returns the session id carried by r's cookie, or ""
// when there is none or it must be ignored: unsigned, wrongly signed,
// malformed, oversized, or sent twice with different values.
func (m *Manager) sessionIDFromRequest(r *http.Request) string {
	raw := ""
	for _, c := range r.CookiesNamed(m.opts.Name) {
		if raw != "" && c.Value != raw {
			return "" // two different values: a tossed cookie; trust neither
		}
		raw = c.Value
	}
	if raw == "" || len(raw) > maxCookieBytes {
		return ""
	}
	if v, err := url.PathUnescape(raw); err == nil {
		raw = v // like decodeURIComponent; undecodable values are used as they are
	}
	signed, ok := strings.CutPrefix(raw, "s:")
	if !ok {
		return ""
	}
	id, ok := cookiesig.Unsign(signed, m.opts.Secrets...)
	if !ok || id == "" {
		return ""
	}
	return id
}

// encodeCookieValue is encodeURIComponent of the signed value, as
// express-session (through the cookie package) writes it.
func encodeCookieValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// cookieHeader serialises a Set-Cookie value. expires is the zero time for
// a browser-session cookie; clear sets an already expired cookie.
func (m *Manager) cookieHeader(value string, expires time.Time, secure, clear bool) string {
	c := m.opts.Cookie
	var b strings.Builder
	b.WriteString(m.opts.Name)
	b.WriteByte('=')
	b.WriteString(value)
	b.WriteString("; Path=")
	b.WriteString(c.Path)
	if c.Domain != "" {
		b.WriteString("; Domain=")
		b.WriteString(c.Domain)
	}
	switch {
	case clear:
		b.WriteString("; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0")
	case !expires.IsZero():
		b.WriteString("; Expires=")
		b.WriteString(expires.UTC().Format(http.TimeFormat))
		secs := int(expires.Sub(m.opts.Now()).Round(time.Second) / time.Second)
		b.WriteString("; Max-Age=")
		b.WriteString(strconv.Itoa(max(secs, 0)))
	}
	if !c.DisableHTTPOnly {
		b.WriteString("; HttpOnly")
	}
	if secure {
		b.WriteString("; Secure")
	}
	if c.Partitioned {
		b.WriteString("; Partitioned")
	}
	switch c.Priority {
	case "low":
		b.WriteString("; Priority=Low")
	case "medium":
		b.WriteString("; Priority=Medium")
	case "high":
		b.WriteString("; Priority=High")
	}
	switch c.SameSite {
	case http.SameSiteLaxMode:
		b.WriteString("; SameSite=Lax")
	case http.SameSiteStrictMode:
		b.WriteString("; SameSite=Strict")
	case http.SameSiteNoneMode:
		b.WriteString("; SameSite=None")
	}
	return b.String()
}

// isSecure reports whether r came over HTTPS (express-session's issecure).
func (m *Manager) isSecure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !m.opts.TrustProxy {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// clientIP is the request's client address for logs.
func (m *Manager) clientIP(r *http.Request) string {
	if m.opts.TrustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			return strings.TrimSpace(first)
		}
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// storedCookie is the express-session cookie JSON kept under the reserved
// key "cookie" of the session's data.
type storedCookie struct {
	OriginalMaxAge *int64  `json:"originalMaxAge"`
	Partitioned    bool    `json:"partitioned,omitempty"`
	Priority       string  `json:"priority,omitempty"`
	Expires        *string `json:"expires"`
	Secure         bool    `json:"secure"`
	HTTPOnly       bool    `json:"httpOnly"`
	Domain         *string `json:"domain,omitempty"`
	Path           string  `json:"path"`
	SameSite       any     `json:"sameSite,omitempty"`
}

// cookieKey is the reserved data key holding the cookie JSON.
const cookieKey = "cookie"

func (m *Manager) encodeStoredCookie(maxAge time.Duration, expires time.Time, secure bool) json.RawMessage {
	c := m.opts.Cookie
	sc := storedCookie{Secure: secure, HTTPOnly: !c.DisableHTTPOnly, Path: c.Path, Partitioned: c.Partitioned, Priority: c.Priority}
	if maxAge > 0 {
		ms := maxAge.Milliseconds()
		sc.OriginalMaxAge = &ms
		e := expires.UTC().Format("2006-01-02T15:04:05.000Z")
		sc.Expires = &e
	}
	if c.Domain != "" {
		sc.Domain = &c.Domain
	}
	switch c.SameSite {
	case http.SameSiteLaxMode:
		sc.SameSite = "lax"
	case http.SameSiteStrictMode:
		sc.SameSite = "strict"
	case http.SameSiteNoneMode:
		sc.SameSite = "none"
	}
	b, _ := json.Marshal(sc) // plain struct: cannot fail
	return b
}

// storedMaxAge reads originalMaxAge from a stored cookie JSON; ok is false
// when there is no cookie JSON to read (a session stored by other code).
func storedMaxAge(raw json.RawMessage) (time.Duration, bool) {
	if raw == nil {
		return 0, false
	}
	var sc struct {
		OriginalMaxAge *float64 `json:"originalMaxAge"`
	}
	if err := json.Unmarshal(raw, &sc); err != nil {
		return 0, false
	}
	if sc.OriginalMaxAge == nil || *sc.OriginalMaxAge <= 0 {
		return 0, true
	}
	return time.Duration(*sc.OriginalMaxAge) * time.Millisecond, true
}

func signFirst(id string, secrets []string) string { return cookiesig.Sign(id, secrets[0]) }
