package sessions

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	raw, ok := cookieValue(r.Header["Cookie"], m.opts.Name)
	if !ok || raw == "" || len(raw) > maxCookieBytes {
		return ""
	}
	if strings.IndexByte(raw, '%') >= 0 {
		if v, err := url.PathUnescape(raw); err == nil {
			raw = v // like decodeURIComponent; undecodable values are used as they are
		}
	}
	signed, ok := strings.CutPrefix(raw, "s:")
	if !ok {
		return ""
	}
	id, ok := m.signer.Unsign(signed)
	if !ok || id == "" {
		return ""
	}
	return id
}

// cookieValue finds the cookie name in Cookie header lines, as
// http.Request.CookiesNamed does (surrounding double quotes removed) but
// without allocating. ok is false when it is absent, or present twice
// with different values (a tossed cookie: trust neither).
func cookieValue(lines []string, name string) (value string, ok bool) {
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			k, v, found := strings.Cut(strings.TrimSpace(part), "=")
			if !found || k != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if ok && v != value {
				return "", false
			}
			value, ok = v, true
		}
	}
	return value, ok
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

// clientIP is the request's client address for logs. With TrustProxy it
// is the right-most address of X-Forwarded-For, the one the trusted proxy
// in front of the server appended (the entries left of it are whatever the
// client sent), when it parses as an IP address; otherwise the peer's.
func (m *Manager) clientIP(r *http.Request) string {
	if m.opts.TrustProxy {
		xff := r.Header.Values("X-Forwarded-For")
		if n := len(xff); n > 0 {
			last := xff[n-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return ip.String()
			}
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().String()
	}
	return r.RemoteAddr
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
	v, flat := flatField(raw, "originalMaxAge")
	if !flat { // not the flat object express-session writes: decode it fully
		var fields map[string]json.RawMessage // exact key match, as JavaScript reads it
		if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
			return 0, false
		}
		v = fields["originalMaxAge"]
	}
	ms, err := strconv.ParseFloat(string(v), 64)
	if err != nil || ms <= 0 { // null, absent or not positive: a browser-session cookie
		return 0, true
	}
	return time.Duration(ms) * time.Millisecond, true
}

// flatField returns the raw value of key in a JSON object whose values are
// all scalars and whose keys have no escapes, without allocating; flat is
// false for anything else, which the caller decodes in full.
func flatField(obj []byte, key string) (value []byte, flat bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	for i = skipSpace(obj, i+1); i < len(obj) && obj[i] != '}'; {
		k, next, ok := scanString(obj, i)
		if i = skipSpace(obj, next); !ok || bytes.IndexByte(k, '\\') >= 0 || i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		start := skipSpace(obj, i+1)
		end := start
		if end < len(obj) && (obj[end] == '{' || obj[end] == '[') {
			return nil, false
		}
		if end < len(obj) && obj[end] == '"' {
			if _, end, ok = scanString(obj, end); !ok {
				return nil, false
			}
		} else {
			for end < len(obj) && strings.IndexByte(",} \t\r\n{[\"", obj[end]) < 0 {
				end++
			}
		}
		if string(k) == key {
			value = obj[start:end]
		}
		if i = skipSpace(obj, end); i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return value, i < len(obj)
}

// scanString returns the contents of the JSON string starting at obj[i]
// and the index after its closing quote.
func scanString(obj []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(obj) || obj[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(obj); j++ {
		switch obj[j] {
		case '\\':
			j++
		case '"':
			return obj[i+1 : j], j + 1, true
		}
	}
	return nil, i, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
