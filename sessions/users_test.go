package sessions_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
)

// "Log out my other devices": every other session of the user goes, this
// one stays.
func TestDestroyOtherSessions(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	routes := accountRoutes(map[string]http.HandlerFunc{"/others": func(w http.ResponseWriter, r *http.Request) {
		n, err := sessions.FromContext(r.Context()).DestroyOtherSessions(r.Context())
		fmt.Fprint(w, n, err)
	}})
	laptop, phone, tablet := newBrowser(t, hs, routes), newBrowser(t, hs, routes), newBrowser(t, hs, routes)
	for _, b := range []*browser{laptop, phone, tablet} {
		b.get("/login")
	}
	if _, body := laptop.get("/others"); body != "2 <nil>" {
		t.Fatalf("DestroyOtherSessions = %q, want 2 destroyed", body)
	}
	if _, me := laptop.get("/whoami"); me != "alice|alice's" {
		t.Errorf("the laptop was logged out too: %q", me)
	}
	for _, b := range []*browser{phone, tablet} {
		if _, me := b.get("/whoami"); me != "|" {
			t.Errorf("another device is still logged in: %q", me)
		}
	}
	anon := newBrowser(t, hs, routes)
	if _, body := anon.get("/others"); body == "0 <nil>" {
		t.Errorf("DestroyOtherSessions without a user: %q, want an error", body)
	}
}

// MaxSessionsPerUser: concurrent logins never leave more than the cap, and
// the newest logins win.
func TestMaxSessionsPerUser(t *testing.T) {
	hs := newHarness(t, sessions.Options{MaxSessionsPerUser: 3}, noop)
	srv := newBrowser(t, hs, accountRoutes(nil)).srv
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			jar, _ := cookiejar.New(nil)
			res, err := (&http.Client{Jar: jar}).Get(srv.URL + "/login")
			if err == nil {
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	list, err := hs.m.ListUserSessions(context.Background(), "alice")
	if err != nil || len(list) != 3 {
		t.Errorf("12 concurrent logins under a cap of 3: %d sessions (%v)", len(list), err)
	}
	if !strings.Contains(hs.logs.String(), "per-user session cap") {
		t.Errorf("the cap is not logged:\n%s", hs.logs.String())
	}
}

// RecordDevice: the device list shows when, from where and with what each
// session was last seen; last seen moves only with a write the request
// makes anyway.
func TestRecordDevice(t *testing.T) {
	hs := newHarness(t, sessions.Options{RecordDevice: true, TrustProxy: true, Cookie: sessions.CookieOptions{MaxAge: time.Hour}}, noop)
	b := newBrowser(t, hs, accountRoutes(map[string]http.HandlerFunc{"/read": noop}))
	b.http.Transport = headerTransport{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "X-Forwarded-For": "203.0.113.5"}
	loggedIn := hs.clock.Now()
	b.get("/login")
	hs.store.reset()
	hs.clock.Add(10 * time.Second)
	b.get("/read") // within TouchAfter: no write, last seen stays
	seen := func() sessions.SessionInfo {
		list, err := hs.m.ListUserSessions(context.Background(), "alice")
		if err != nil || len(list) != 1 {
			t.Fatalf("ListUserSessions = %v, %v", list, err)
		}
		return list[0]
	}
	if d := seen(); !d.LastSeen.Equal(loggedIn) || d.IP != "203.0.113.5" || d.UserAgent == "" || hs.store.count("Touch")+hs.store.count("Update") != 0 {
		t.Errorf("after a read: last seen %v (want %v), ip %q, ua %q, %d writes", d.LastSeen, loggedIn, d.IP, d.UserAgent, hs.store.count("Touch")+hs.store.count("Update"))
	}
	hs.clock.Add(10 * time.Minute)
	b.get("/read") // past TouchAfter: the touch records the device
	if d := seen(); !d.LastSeen.Equal(hs.clock.Now()) || hs.store.count("Touch") != 1 {
		t.Errorf("after a touch: last seen %v, want %v (%d touches)", d.LastSeen, hs.clock.Now(), hs.store.count("Touch"))
	}
}

// headerTransport adds headers to every request.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}
