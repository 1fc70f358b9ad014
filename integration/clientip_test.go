package integration

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sqlsession/sqlsession/sessions"
)

// Recorded client IPs are addresses (issue #19, item 9): with RecordDevice
// and TrustProxy, an X-Forwarded-For (or a RemoteAddr a middleware such as
// chi's RealIP rewrote) holding an IPv6 zone of 100 KB, or non-UTF-8 bytes,
// is a login like any other: 200, a cookie, and the row's ip column holds
// the address without its zone, or nothing when there is no address.
func TestRecordedClientIP(t *testing.T) {
	eachBackend(t, testRecordedClientIP)
}

func testRecordedClientIP(t *testing.T, b backend) {
	big := strings.Repeat("A", 100<<10)
	for i, tc := range []struct {
		name, xff, remote, want string
	}{
		{"plain X-Forwarded-For", "203.0.113.9", "", "203.0.113.9"},
		{"X-Forwarded-For with a 100 KB zone", "fe80::1%" + big, "", "fe80::1"},
		{"X-Forwarded-For with a non-UTF-8 zone", "fe80::1%\xff\xfe\xc0", "", "fe80::1"},
		{"X-Forwarded-For not an address, non-UTF-8", "\xff\xfe" + big, "", "192.0.2.77"},
		{"RemoteAddr with a 100 KB zone", "", "[fe80::2%" + big + "]:4711", "fe80::2"},
		{"RemoteAddr without a port, zoned", "", "fe80::3%\xff\xfe", "fe80::3"},
		{"RemoteAddr not an address, non-UTF-8", "", "\xff\xfe" + big, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprintf("ip-user-%d", i)
			h := app(t, b.store, sessions.Options{RecordDevice: true, TrustProxy: true})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.RemoteAddr = "192.0.2.77:1234" // what the proxy in front connects from
				if tc.remote != "" {
					r.RemoteAddr = tc.remote // a RealIP-style middleware's rewrite
				}
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(url.Values{"user": {user}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 || res.Header.Get("Set-Cookie") == "" {
				t.Fatalf("login: status %d, Set-Cookie %q; want 200 and a cookie", res.StatusCode, res.Header.Get("Set-Cookie"))
			}
			var ip sql.NullString
			q := `SELECT ip FROM http_sessions WHERE user_id = $1`
			if b.name == "sqlite" {
				q = `SELECT ip FROM http_sessions WHERE user_id = ?`
			}
			if err := b.sqlDB.QueryRow(q, user).Scan(&ip); err != nil {
				t.Fatalf("reading the row: %v", err)
			}
			if ip.String != tc.want || len(ip.String) > 64 || !utf8.ValidString(ip.String) {
				t.Errorf("stored ip = %.80q (%d bytes), want %q", ip.String, len(ip.String), tc.want)
			}
		})
	}
}
