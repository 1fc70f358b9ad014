package sessions

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// storedMaxAge reads the cookie JSON as express-session and Postgres's
// jsonb write it, and falls back to a full decode for anything else.
func TestStoredMaxAge(t *testing.T) {
	tests := []struct {
		raw  string
		want time.Duration
		ok   bool
	}{
		{`{"originalMaxAge":3600000,"expires":"2026-01-01T00:00:00.000Z","secure":false,"httpOnly":true,"path":"/"}`, time.Hour, true},
		{`{"path": "/", "secure": false, "expires": null, "httpOnly": true, "originalMaxAge": null}`, 0, true}, // jsonb's order and spacing
		{`{"expires":"x,\"originalMaxAge\":5","originalMaxAge":1000}`, time.Second, true},                      // key-like text inside a string
		{`{"originalMaxAge":1.5e3}`, 1500 * time.Millisecond, true},
		{`{"originalMaxAge":-5}`, 0, true},
		{`{"path":"/"}`, 0, true},
		{`{"orig\u0069nalMaxAge":2000}`, 2 * time.Second, true}, // escaped key: full decode
		{`{"nested":{"originalMaxAge":1},"originalMaxAge":3000}`, 3 * time.Second, true},
		{`{"originalMaxAge":`, 0, false},
		{`[1,2]`, 0, false},
		{`"cookie"`, 0, false},
	}
	for _, tc := range tests {
		got, ok := storedMaxAge(json.RawMessage(tc.raw))
		if got != tc.want || ok != tc.ok {
			t.Errorf("storedMaxAge(%s) = %v, %v; want %v, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := storedMaxAge(nil); ok {
		t.Error("storedMaxAge(nil): ok, want no cookie JSON")
	}
}

func FuzzStoredMaxAge(f *testing.F) {
	f.Add(`{"originalMaxAge":3600000,"path":"/"}`)
	f.Add(`{"a":"\"","originalMaxAge":1}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var fields map[string]any // keys matched exactly, the last of duplicates winning, as JSON.parse does
		if json.Unmarshal([]byte(raw), &fields) != nil || fields == nil {
			return
		}
		var want time.Duration
		if ms, ok := fields["originalMaxAge"].(float64); ok && ms > 0 {
			want = time.Duration(ms) * time.Millisecond
		}
		if got, ok := storedMaxAge(json.RawMessage(raw)); !ok || got != want {
			t.Fatalf("storedMaxAge(%s) = %v, %v; json.Unmarshal says %v", raw, got, ok, want)
		}
	})
}

// verify's allocation-free path accepts and refuses exactly what the full
// decode (url.PathUnescape, then cookiesig.Unsign) does.
func FuzzVerify(f *testing.F) {
	m, err := New(nopStore{}, Options{Secrets: []string{"first secret: 32 bytes or more!!", "second secret: 32 bytes or more!"}})
	if err != nil {
		f.Fatal(err)
	}
	good := string(appendCookieValue(nil, "s:"+m.signer.Sign("some-id_123")))
	for _, seed := range []string{good, good + "x", good[:len(good)-3], "s%3Aa.b", "s:abc.def", "s%3A%41.x", "s%3Aid.%2", "s%3A.abc"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want := ""
		v := raw
		if u, err := url.PathUnescape(raw); err == nil {
			v = u
		}
		if signed, ok := strings.CutPrefix(v, "s:"); ok {
			if id, ok := m.signer.Unsign(signed); ok {
				want = id
			}
		}
		if len(raw) > maxCookieBytes || raw == "" {
			want = ""
		}
		if got := m.verify(raw, true); got != want {
			t.Fatalf("verify(%q) = %q, the full decode says %q", raw, got, want)
		}
	})
}

// marshalledCookie is the express-session cookie object as a struct, the
// reference storedCookie must match byte for byte.
type marshalledCookie struct {
	OriginalMaxAge *int64  `json:"originalMaxAge"`
	Partitioned    bool    `json:"partitioned,omitempty"`
	Priority       string  `json:"priority,omitempty"`
	Expires        *string `json:"expires"`
	Secure         bool    `json:"secure"`
	HTTPOnly       bool    `json:"httpOnly"`
	Domain         *string `json:"domain,omitempty"`
	Path           string  `json:"path"`
	SameSite       string  `json:"sameSite,omitempty"`
}

// storedCookie writes what json.Marshal of the cookie object writes, for
// every combination of attributes, including strings JSON or
// json.Marshal's HTML escaping must escape.
func TestStoredCookieIsJSONMarshal(t *testing.T) {
	expires := time.Date(2031, 7, 9, 10, 11, 12, 345_000_000, time.FixedZone("x", 3600))
	n := 0
	for _, maxAge := range []time.Duration{0, 90 * time.Minute, time.Duration(math.MaxInt64)} {
		for _, path := range []string{"/", "/a b", "/<&>", `/"q"\`, "/ü\x7f\x01"} {
			for _, domain := range []string{"", "example.com", "ex&mple.com"} {
				for _, priority := range []string{"", "high", "h<i"} {
					for _, ss := range []http.SameSite{http.SameSiteDefaultMode, http.SameSiteLaxMode, http.SameSiteStrictMode, http.SameSiteNoneMode} {
						for flags := range 8 {
							c := CookieOptions{Path: path, Domain: domain, Priority: priority, Partitioned: flags&1 != 0, DisableHTTPOnly: flags&2 != 0}
							secure := flags&4 != 0
							want := marshalledCookie{Partitioned: c.Partitioned, Priority: priority, Secure: secure, HTTPOnly: !c.DisableHTTPOnly, Path: path, SameSite: strings.ToLower(sameSiteAttr[ss])}
							if maxAge > 0 {
								ms, e := maxAge.Milliseconds(), expires.UTC().Format("2006-01-02T15:04:05.000Z")
								want.OriginalMaxAge, want.Expires = &ms, &e
							}
							if domain != "" {
								want.Domain = &domain
							}
							wantJSON, err := json.Marshal(want)
							if err != nil {
								t.Fatal(err)
							}
							if got := c.storedCookie(maxAge, expires, secure, ss); string(got) != string(wantJSON) {
								t.Fatalf("storedCookie(%v, %+v, secure %v, %v)\n got %s\nwant %s", maxAge, c, secure, ss, got, wantJSON)
							}
							n++
						}
					}
				}
			}
		}
	}
	if n != 3*5*3*3*4*8 {
		t.Fatalf("compared %d combinations", n)
	}
}
