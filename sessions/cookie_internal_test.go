package sessions

import (
	"encoding/json"
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
	good := encodeCookieValue("s:" + m.signer.Sign("some-id_123"))
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
