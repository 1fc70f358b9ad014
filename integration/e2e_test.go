package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
)

// Login → Regenerate → counter → remember-me → logout, through a real
// server and a cookie jar, with the rows checked after each step.
func TestEndToEnd(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		// TouchEveryRequest: this walk-through checks express-session's touch on every read.
		srv := httptest.NewServer(app(t, b.store, sessions.Options{TouchAfter: sessions.TouchEveryRequest}))
		defer srv.Close()
		c := newClient(t, srv)

		// An anonymous visit stores nothing (saveUninitialized off).
		if code, _, _ := c.do("GET", "/peek", nil); code != 200 || c.sessionID() != "" || b.count(t) != 0 {
			t.Fatalf("anonymous visit: status %d, cookie %q, %d rows", code, c.sessionID(), b.count(t))
		}

		// Counter before login: a session is created.
		c.do("GET", "/count", nil)
		anonID := c.sessionID()
		if anonID == "" {
			t.Fatal("no session after /count")
		}
		if _, ok := b.query(t, hashOf(anonID)); !ok {
			t.Fatal("anonymous session not stored")
		}

		// Login regenerates: new id, old row gone, values kept, user set.
		before := time.Now()
		if code, body, _ := c.do("POST", "/login", url.Values{"user": {"alice"}}); code != 200 || body != "hello alice" {
			t.Fatalf("login: %d %q", code, body)
		}
		id := c.sessionID()
		if id == anonID {
			t.Fatal("login did not regenerate the id")
		}
		if _, ok := b.query(t, hashOf(anonID)); ok {
			t.Error("pre-login row still exists after Regenerate")
		}
		r, ok := b.query(t, hashOf(id))
		if !ok {
			t.Fatal("logged-in session not stored")
		}
		sum := hashOf(id)
		if string(r.idHash) != string(sum[:]) || strings.Contains(r.rawData, id) || strings.Contains(r.userID.String, id) {
			t.Errorf("row does not hold exactly sha256(id), or holds the raw id: %x %s", r.idHash, r.rawData)
		}
		if r.data["user"] != "alice" || r.data["count"] != float64(1) || r.userID.String != "alice" {
			t.Errorf("row after login: data %v user %v", r.data, r.userID)
		}
		// Browser-session cookie: the store keeps it for DefaultTTL (24h).
		if r.expiresAt.Before(before.Add(24*time.Hour-time.Second)) || r.expiresAt.After(time.Now().Add(24*time.Hour+time.Second)) {
			t.Errorf("expires_at %v, want about now+24h", r.expiresAt)
		}

		// Counter increments, and each save is visible in the row.
		for want := 2; want <= 4; want++ {
			if _, body, _ := c.do("GET", "/count", nil); body != fmt.Sprint(want) {
				t.Fatalf("count = %s, want %d", body, want)
			}
		}
		if r, _ := b.query(t, hashOf(id)); r.data["count"] != float64(4) {
			t.Errorf("row count = %v, want 4", r.data["count"])
		}

		// An unmodified request moves the expiry (touch) without writing data.
		r1, _ := b.query(t, hashOf(id))
		time.Sleep(20 * time.Millisecond)
		c.do("GET", "/peek", nil)
		r2, _ := b.query(t, hashOf(id))
		if !r2.expiresAt.After(r1.expiresAt) || r2.rawData != r1.rawData {
			t.Errorf("touch: expiry %v -> %v, data changed %v", r1.expiresAt, r2.expiresAt, r2.rawData != r1.rawData)
		}

		// Remember me: a 30-day cookie and store expiry, kept in the session's cookie JSON.
		_, _, res := c.do("POST", "/login", url.Values{"user": {"alice"}, "remember": {"on"}})
		if sc := res.Header.Get("Set-Cookie"); !strings.Contains(sc, "Max-Age=2592000") {
			t.Errorf("remember-me Set-Cookie = %q", sc)
		}
		id = c.sessionID()
		r, _ = b.query(t, hashOf(id))
		if d := time.Until(r.expiresAt); d < 30*24*time.Hour-time.Minute || d > 30*24*time.Hour+time.Minute {
			t.Errorf("remember-me expires_at in %v, want 30 days", d)
		}
		if ck, _ := r.data["cookie"].(map[string]any); ck["originalMaxAge"] != float64(30*24*time.Hour/time.Millisecond) {
			t.Errorf("stored cookie JSON = %v", r.data["cookie"])
		}

		// Logout: row gone, cookie cleared.
		if code, _, _ := c.do("POST", "/logout", nil); code != 200 {
			t.Fatalf("logout: %d", code)
		}
		if _, ok := b.query(t, hashOf(id)); ok {
			t.Error("row still exists after Destroy")
		}
		if c.sessionID() != "" {
			t.Error("cookie still in the jar after logout")
		}
		if n := b.count(t); n != 0 {
			t.Errorf("%d rows left after logout", n)
		}
	})
}

// 200 concurrent requests on one session, each setting its own key: all
// 200 keys are stored (merge saves, no lost update).
func TestNoLostUpdates(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		srv := httptest.NewServer(app(t, b.store, sessions.Options{}))
		defer srv.Close()
		c := newClient(t, srv)
		c.do("POST", "/login", url.Values{"user": {"bob"}})
		id := c.sessionID()
		const n = 200
		var wg sync.WaitGroup
		codes := make(chan int, n)
		for i := range n {
			wg.Go(func() {
				code, _, _ := c.do("POST", "/set", url.Values{"k": {fmt.Sprintf("key%03d", i)}, "v": {"x"}})
				codes <- code
			})
		}
		wg.Wait()
		close(codes)
		for code := range codes {
			if code != http.StatusOK {
				t.Errorf("status %d", code)
			}
		}
		r, _ := b.query(t, hashOf(id))
		missing := 0
		for i := range n {
			if r.data[fmt.Sprintf("key%03d", i)] != "x" {
				missing++
			}
		}
		if missing != 0 {
			t.Errorf("%d of %d concurrently set keys are missing from the row", missing, n)
		}
	})
}
