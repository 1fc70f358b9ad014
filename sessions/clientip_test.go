package sessions_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
)

// Recorded and logged client IPs are addresses without an IPv6 zone, or
// nothing (issue #19, item 9), on memstore; integration's
// TestRecordedClientIP runs the same cases on Postgres and SQLite.
func TestClientIPIsAnAddress(t *testing.T) {
	big := strings.Repeat("A", 100<<10)
	for i, tc := range []struct {
		name, xff, remote, want string
	}{
		{"X-Forwarded-For", "198.51.100.1, 203.0.113.9", "", "203.0.113.9"},
		{"X-Forwarded-For with a 100 KB zone", "fe80::1%" + big, "", "fe80::1"},
		{"X-Forwarded-For with a non-UTF-8 zone", "fe80::1%\xff\xfe", "", "fe80::1"},
		{"X-Forwarded-For not an address", "\xff" + big, "", "192.0.2.1"},
		{"RemoteAddr with a 100 KB zone", "", "[fe80::2%" + big + "]:4711", "fe80::2"},
		{"RemoteAddr without a port, zoned", "", "fe80::3%\xff", "fe80::3"},
		{"RemoteAddr not an address", "", "\xff" + big, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprint("u", i)
			hs := newHarness(t, sessions.Options{RecordDevice: true, TrustProxy: true}, func(w http.ResponseWriter, r *http.Request) {
				s := sessions.FromContext(r.Context())
				if err := s.Regenerate(r.Context()); err != nil {
					t.Error(err)
				}
				_ = s.SetUser(user)
			})
			res := hs.do("POST", "/login", "", func(r *http.Request) {
				r.RemoteAddr = "192.0.2.1:1234"
				if tc.remote != "" {
					r.RemoteAddr = tc.remote
				}
				if tc.xff != "" {
					r.Header.Set("X-Forwarded-For", tc.xff)
				}
			})
			if res.StatusCode != 200 || sessionCookie(res, "sid") == "" {
				t.Fatalf("login: status %d, cookie %q", res.StatusCode, sessionCookie(res, "sid"))
			}
			list, err := hs.m.ListUserSessions(context.Background(), user)
			if err != nil || len(list) != 1 || list[0].IP != tc.want {
				t.Fatalf("ListUserSessions = %.200v, %v; want one session from %q", list, err, tc.want)
			}
			if logs := hs.logs.String(); strings.Contains(logs, big[:64]) || strings.Contains(logs, "\xff") {
				t.Errorf("the logs carry the forged address: %.300q", logs)
			}
		})
	}
}
