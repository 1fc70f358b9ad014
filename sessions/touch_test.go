package sessions_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
)

// By default reads slide the expiry with a store write at most once a
// minute, and at least every tenth of a short session's lifetime.
func TestDefaultTouchThrottle(t *testing.T) {
	for _, tc := range []struct {
		maxAge  time.Duration
		step    time.Duration
		reads   int
		touches int
	}{
		{time.Hour, 10 * time.Second, 60, 10},      // 10 minutes of reads: one touch a minute
		{5 * time.Minute, 5 * time.Second, 60, 10}, // 5-minute sessions: one touch each 30 s
	} {
		hs := newHarness(t, sessions.Options{Cookie: sessions.CookieOptions{MaxAge: tc.maxAge}}, noop)
		cookie := login(t, hs)
		hs.store.reset()
		for range tc.reads {
			hs.clock.Add(tc.step)
			if res := hs.get(cookie); res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
		}
		if got := hs.store.count("Touch"); got != tc.touches || hs.store.count("Update") != 0 {
			t.Errorf("MaxAge %v, %d reads %v apart: %d touches, %d updates; want %d touches, no update",
				tc.maxAge, tc.reads, tc.step, got, hs.store.count("Update"), tc.touches)
		}
	}
}

// A rolling or remember-me cookie never claims a later expiry than the
// row: it is re-sent when the row's expiry moves, with that expiry.
func TestCookieNeverOutlivesRow(t *testing.T) {
	for _, opts := range []sessions.Options{
		{Rolling: true, Cookie: sessions.CookieOptions{MaxAge: time.Hour}},
		{Rolling: true, TouchAfter: 10 * time.Minute, Cookie: sessions.CookieOptions{MaxAge: 2 * time.Hour}},
		{Rolling: true, AbsoluteTimeout: 90 * time.Minute, Cookie: sessions.CookieOptions{MaxAge: time.Hour}},
	} {
		hs := newHarness(t, opts, noop)
		cookie := login(t, hs)
		h := hashOf(t, cookie)
		sent := 0
		for i := range 40 {
			hs.clock.Add(time.Duration(7+i%5) * time.Second * 13)
			res := hs.get(cookie)
			sc := sessionCookie(res, "sid")
			if sc == "" {
				continue // nothing moved: the browser keeps the last cookie
			}
			sent++
			c := parseSetCookie(t, sc)
			rec, err := hs.store.Store.Load(context.Background(), h, hs.clock.Now())
			if err != nil {
				t.Fatalf("read %d: row gone: %v", i, err)
			}
			maxAgeEnd := hs.clock.Now().Add(time.Duration(c.MaxAge) * time.Second)
			if c.Expires.After(rec.ExpiresAt) || maxAgeEnd.After(rec.ExpiresAt) {
				t.Fatalf("read %d (%+v): cookie Expires %v, Max-Age %d s; row expires_at %v", i, opts, c.Expires, c.MaxAge, rec.ExpiresAt)
			}
		}
		if sent == 0 {
			t.Errorf("%+v: no cookie re-sent in 40 rolling reads over %v", opts, hs.clock.Now().Sub(newClock().Now()))
		}
	}
}

func parseSetCookie(t *testing.T, setCookie string) *http.Cookie {
	t.Helper()
	c, err := http.ParseSetCookie(setCookie)
	if err != nil {
		t.Fatalf("Set-Cookie %q: %v", setCookie, err)
	}
	return c
}
