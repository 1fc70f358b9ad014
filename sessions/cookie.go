package sessions

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sqlsession/sqlsession/internal/jsonobj"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// newID returns 24 random bytes, base64url without padding (as uid-safe).
func newID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// requestID returns the verified session id r carries, in its cookie or,
// with Options.Header, in that header (viaHeader), or "" when there is
// none or it must be ignored: unsigned, wrongly signed, malformed,
// oversized, sent twice with different values, or a cookie and a header
// naming different sessions.
func (m *Manager) requestID(r *http.Request) (id, raw string, viaHeader bool) {
	raw, hasCookie := cookieValue(r.Header["Cookie"], m.opts.Name)
	if m.opts.Header == "" {
		return m.verify(raw, hasCookie), raw, false
	}
	values, viaHeader := r.Header[m.opts.Header]
	if !viaHeader {
		return m.verify(raw, hasCookie), raw, false
	}
	id = m.verify(values[0], len(values) == 1)
	if hasCookie && raw != "" && m.verify(raw, true) != id {
		m.opts.Logger.WarnContext(r.Context(), "sessions: the cookie and "+m.opts.Header+" name different sessions; the request gets none",
			"method", r.Method, "path", r.URL.Path, "ip", m.clientIP(r))
		return "", raw, true
	}
	return id, values[0], true
}

// claimedID is the id part of a session cookie or token that did not
// verify, for its fingerprint in the debug log.
func claimedID(raw string) string {
	if v, err := url.PathUnescape(raw); err == nil {
		raw = v
	}
	raw = strings.TrimPrefix(raw, "s:")
	if i := strings.LastIndexByte(raw, '.'); i >= 0 {
		raw = raw[:i]
	}
	return raw
}

// verify returns the id of a signed value as the cookie carries it
// ("s:" + id + "." + signature, URL-encoded or not), or "".
func (m *Manager) verify(raw string, ok bool) string {
	if !ok || raw == "" || len(raw) > maxCookieBytes {
		return ""
	}
	if id, done := m.verifyEncoded(raw); done {
		return id
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

// verifyEncoded is verify's allocation-free path for the value as
// express-session and this package write it: "s%3A" + id + "." + the
// signature, where only the signature may hold %XX escapes. done is false
// for any other shape, which verify then decodes in full.
func (m *Manager) verifyEncoded(raw string) (id string, done bool) {
	rest, ok := strings.CutPrefix(raw, "s%3A")
	dot := strings.LastIndexByte(rest, '.')
	if !ok || dot <= 0 || strings.IndexByte(rest[:dot], '%') >= 0 {
		return "", false
	}
	var buf [64]byte
	sig, ok := unescapeTo(buf[:0], rest[dot+1:])
	if !ok {
		return "", false
	}
	if !m.signer.Verify(rest[:dot], sig) {
		return "", true
	}
	return rest[:dot], true
}

// unescapeTo appends s with its %XX escapes decoded to dst; ok is false for
// a malformed escape or a result longer than dst's capacity.
func unescapeTo(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) {
				return nil, false
			}
			hi, lo := unhex(s[i+1]), unhex(s[i+2])
			if hi < 0 || lo < 0 {
				return nil, false
			}
			c, i = byte(hi<<4|lo), i+2
		}
		if len(dst) == cap(dst) {
			return nil, false
		}
		dst = append(dst, c)
	}
	return dst, true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
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

// appendCookieValue appends encodeURIComponent of the signed value to b,
// as express-session (through the cookie package) writes it.
func appendCookieValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b = append(b, c)
			continue
		}
		b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
	}
	return b
}

// cookieHeader serialises the Set-Cookie value carrying value ("" and
// clear: an already expired cookie that deletes it), in one allocation.
// A persistent cookie carries the row's stored expiry, never a later one,
// and a Max-Age counted from now, the commit's clock reading.
func (s *Session) cookieHeader(value string, clear bool, now time.Time) string {
	c := s.c
	b := make([]byte, 0, 256) // on the stack: only the string below is allocated
	b = append(append(b, s.m.opts.Name...), '=')
	b = appendCookieValue(b, value)
	b = append(append(b, "; Path="...), c.Path...)
	if c.Domain != "" {
		b = append(append(b, "; Domain="...), c.Domain...)
	}
	switch {
	case clear:
		b = append(b, "; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"...)
	case s.cur.maxAge > 0:
		b = s.storedExpiry.UTC().AppendFormat(append(b, "; Expires="...), http.TimeFormat)
		secs := int64(s.storedExpiry.Sub(now).Round(time.Second) / time.Second)
		b = strconv.AppendInt(append(b, "; Max-Age="...), max(secs, 0), 10)
	}
	if !c.DisableHTTPOnly {
		b = append(b, "; HttpOnly"...)
	}
	if s.secureFlag() {
		b = append(b, "; Secure"...)
	}
	if c.Partitioned {
		b = append(b, "; Partitioned"...)
	}
	if p := priorityAttr[c.Priority]; p != "" {
		b = append(append(b, "; Priority="...), p...)
	}
	if v := sameSiteAttr[s.sameSite()]; v != "" {
		b = append(append(b, "; SameSite="...), v...)
	}
	return string(b)
}

var (
	priorityAttr = map[string]string{"low": "Low", "medium": "Medium", "high": "High"}
	sameSiteAttr = map[http.SameSite]string{http.SameSiteLaxMode: "Lax", http.SameSiteStrictMode: "Strict", http.SameSiteNoneMode: "None"}
)

// sameSite is the SameSite attribute for this request: SameSiteAuto is
// None over HTTPS and Lax otherwise.
func (s *Session) sameSite() http.SameSite {
	if s.c.SameSite != SameSiteAuto {
		return s.c.SameSite
	}
	if s.m.isSecure(s.r) {
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
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

// clientIP is the request's client address, for logs and RecordDevice.
// With TrustProxy it is the right-most address of X-Forwarded-For, the one
// the trusted proxy in front of the server appended (the entries left of
// it are whatever the client sent), when it parses as an IP address;
// otherwise the peer's (RemoteAddr, with or without a port, as a
// middleware may have rewritten it). It is always an address without its
// IPv6 zone (a zone means nothing off the host, and netip accepts any
// bytes in one), so at most 45 bytes of ASCII, or "" when there is none.
func (m *Manager) clientIP(r *http.Request) string {
	if m.opts.TrustProxy {
		xff := r.Header.Values("X-Forwarded-For")
		if n := len(xff); n > 0 {
			last := xff[n-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return ip.WithZone("").String()
			}
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().WithZone("").String()
	}
	if ip, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return ip.WithZone("").String()
	}
	return ""
}

// cookieKey is the reserved data key holding the cookie JSON.
const cookieKey = "cookie"

// storedCookie returns the cookie JSON stored with the values: the
// express-session cookie object, byte for byte as json.Marshal writes it
// (TestStoredCookieIsJSONMarshal), in one allocation.
func (c *CookieOptions) storedCookie(maxAge time.Duration, expires time.Time, secure bool, sameSite http.SameSite) json.RawMessage {
	b := make([]byte, 0, 160)
	b = append(b, `{"originalMaxAge":`...)
	if maxAge > 0 {
		b = strconv.AppendInt(b, maxAge.Milliseconds(), 10)
	} else {
		b = append(b, "null"...)
	}
	if c.Partitioned {
		b = append(b, `,"partitioned":true`...)
	}
	if c.Priority != "" {
		b = appendJSONString(append(b, `,"priority":`...), c.Priority)
	}
	if maxAge > 0 {
		b = expires.UTC().AppendFormat(append(b, `,"expires":"`...), "2006-01-02T15:04:05.000Z")
		b = append(b, '"')
	} else {
		b = append(b, `,"expires":null`...)
	}
	b = strconv.AppendBool(append(b, `,"secure":`...), secure)
	b = strconv.AppendBool(append(b, `,"httpOnly":`...), !c.DisableHTTPOnly)
	if c.Domain != "" {
		b = appendJSONString(append(b, `,"domain":`...), c.Domain)
	}
	b = appendJSONString(append(b, `,"path":`...), c.Path)
	if v := sameSiteJSON[sameSite]; v != "" {
		b = append(append(append(b, `,"sameSite":"`...), v...), '"')
	}
	return append(b, '}')
}

// sameSiteJSON is the cookie JSON's sameSite, as express-session stores it.
var sameSiteJSON = map[http.SameSite]string{http.SameSiteLaxMode: "lax", http.SameSiteStrictMode: "strict", http.SameSiteNoneMode: "none"}

// appendJSONString appends s as json.Marshal writes a string.
func appendJSONString(b []byte, s string) []byte {
	if !marshalsAsIs(s) {
		q, _ := json.Marshal(s) // a string: cannot fail
		return append(b, q...)
	}
	return append(append(append(b, '"'), s...), '"')
}

// reserve is an upper bound of the bytes the cookie JSON takes in a stored
// session (sessionstore.Size): Session.Set counts it against MaxDataBytes.
func (c *CookieOptions) reserve() int {
	longest := c.storedCookie(time.Duration(math.MaxInt64), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), true, http.SameSiteStrictMode)
	return sessionstore.EntrySize(cookieKey, sessionstore.ValueSize(longest)) + metaReserve
}

// storedMaxAge reads originalMaxAge from a stored cookie JSON; ok is false
// when there is no cookie JSON to read (a session stored by other code).
func storedMaxAge(raw json.RawMessage) (time.Duration, bool) {
	if raw == nil {
		return 0, false
	}
	// Keys matched as JSON.parse reads them: escapes decoded, the last of
	// duplicates winning.
	v, _, err := jsonobj.Lookup(raw, "originalMaxAge")
	if err != nil {
		return 0, false // not a JSON object
	}
	if len(v) == 0 || string(v) == "null" {
		return 0, true // a browser-session cookie
	}
	ms, err := strconv.ParseFloat(string(v), 64)
	if err != nil || ms <= 0 { // not a positive number: a browser-session cookie
		return 0, true
	}
	return time.Duration(ms) * time.Millisecond, true
}
