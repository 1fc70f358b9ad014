package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/cookiesig"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// cartKey is the typed key of the atomic-update app.
var cartKey = sessions.NewKey[[]string]("cart")

// atomicApp serves POST /incr (sessions.Update of "views", answered),
// POST /add?item=I (cartKey.Update appends I) and POST /set?k=K (an
// ordinary Set, saved by the middleware, of a key of its own).
func atomicApp(t *testing.T, store sessions.Store, name string) http.Handler {
	t.Helper()
	m, err := sessions.New(store, sessions.Options{Name: name, Secrets: []string{secret}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		n, err := sessions.Update(r.Context(), sessions.FromContext(r.Context()), r.FormValue("k"), func(n int, _ bool) (int, error) { return n + 1, nil })
		switch {
		case errors.Is(err, sessions.ErrConflict):
			http.Error(w, err.Error(), http.StatusConflict)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			fmt.Fprint(w, n)
		}
	})
	mux.HandleFunc("POST /add", func(w http.ResponseWriter, r *http.Request) {
		_, err := cartKey.Update(r.Context(), sessions.FromContext(r.Context()), func(items []string, _ bool) ([]string, error) {
			return append(items, r.FormValue("item")), nil
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Set(r.FormValue("k"), 1)
	})
	return m.Handler(mux)
}

// post sends a form POST with the cookie header and returns status and
// body; safe to call from any goroutine.
func post(hc *http.Client, target, cookie string, form url.Values) (int, string, error) {
	req, err := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// hammer runs n requests, workers at a time, and returns the first failure.
func hammer(workers, n int, req func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := req(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// jarCookie returns "name=value" of the cookie name that jar holds for base.
func jarCookie(t *testing.T, jar http.CookieJar, base, name string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == name {
			return name + "=" + ck.Value
		}
	}
	t.Fatalf("no %s cookie for %s", name, base)
	return ""
}

// cookieID returns the session id of a "name=s%3Aid.sig" cookie.
func cookieID(t *testing.T, cookie string) string {
	t.Helper()
	_, v, _ := strings.Cut(cookie, "=")
	v, err := url.QueryUnescape(v)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := cookiesig.Unsign(strings.TrimPrefix(v, "s:"), secret)
	if !ok {
		t.Fatalf("cookie %q does not verify", cookie)
	}
	return id
}

// Concurrent requests of one session over real HTTP, on every store: 40
// increments (8 at a time) give exactly 40, 16 concurrent cart additions
// all land, and ordinary saves of other keys running meanwhile keep them.
func TestAtomicUpdateOverHTTP(t *testing.T) {
	everyStore(t, func(t *testing.T, store sessions.Store) {
		srv := httptest.NewServer(atomicApp(t, store, "sid"))
		defer srv.Close()
		c := newClient(t, srv)
		if code, body, _ := c.do("POST", "/incr", url.Values{"k": {"views"}}); code != 200 || body != "1" {
			t.Fatalf("first increment: %d %q", code, body)
		}
		cookie := jarCookie(t, c.http.Jar, srv.URL, "sid")
		hc := &http.Client{}
		const incs, adds, sets = 40, 16, 8
		err := hammer(8, incs+adds+sets, func(i int) error {
			var form url.Values
			path := "/incr"
			switch {
			case i < incs:
				form = url.Values{"k": {"views"}}
			case i < incs+adds:
				path, form = "/add", url.Values{"item": {fmt.Sprintf("item%02d", i-incs)}}
			default:
				path, form = "/set", url.Values{"k": {fmt.Sprintf("other%d", i)}}
			}
			code, body, err := post(hc, srv.URL+path, cookie, form)
			if err == nil && code != 200 {
				err = fmt.Errorf("%s %v: %d %s", path, form, code, body)
			}
			return err
		})
		if err != nil {
			t.Fatalf("concurrent requests: %v", err)
		}
		rec, err := store.Load(context.Background(), hashOf(cookieID(t, cookie)), time.Now())
		rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
		if err != nil {
			t.Fatal(err)
		}
		if got := string(rec.Data["views"]); got != strconv.Itoa(1+incs) {
			t.Errorf("views = %s after %d concurrent increments and 1 before, want %d", got, incs, 1+incs)
		}
		var cart []string
		if err := json.Unmarshal(rec.Data["cart"], &cart); err != nil || len(cart) != adds {
			t.Errorf("cart holds %d items (%v) after %d concurrent additions", len(cart), err, adds)
		}
		slices.Sort(cart)
		for i := range min(adds, len(cart)) {
			if cart[i] != fmt.Sprintf("item%02d", i) {
				t.Errorf("cart[%d] = %q", i, cart[i])
			}
		}
		for i := incs + adds; i < incs+adds+sets; i++ {
			if _, ok := rec.Data[fmt.Sprintf("other%d", i)]; !ok {
				t.Errorf("key other%d, saved by a concurrent ordinary request, is missing", i)
			}
		}
	})
}

// Go and Node increment one session's counter at once, through
// sessions.Update and connect-sqlsession's store.update on one table: the
// total is exact.
func TestAtomicUpdateGoAndNode(t *testing.T) {
	requireNode(t)
	env := testpg.Migrated(t)
	nodeURL := startNodeApp(t, testpg.ServerDSN(t), env.Schema)
	srv := httptest.NewServer(atomicApp(t, pgstore.New(env.Pool), cookieName))
	defer srv.Close()
	hc := &http.Client{}
	// The session starts in Node (its first update saves it first).
	jar, _ := cookiejar.New(nil)
	code, body, err := post(&http.Client{Jar: jar}, nodeURL+"/incr", "", url.Values{"k": {"n"}})
	if err != nil || code != 200 || body != "1" {
		t.Fatalf("Node's first increment: %d %q %v", code, body, err)
	}
	cookie := jarCookie(t, jar, nodeURL, cookieName)
	const each = 30
	err = hammer(8, 2*each, func(i int) error {
		base := srv.URL
		if i%2 == 1 {
			base = nodeURL
		}
		code, body, err := post(hc, base+"/incr", cookie, url.Values{"k": {"n"}})
		if err == nil && code != 200 {
			err = fmt.Errorf("%s/incr: %d %s", base, code, body)
		}
		return err
	})
	if err != nil {
		t.Fatalf("concurrent increments: %v", err)
	}
	var n string
	h := hashOf(cookieID(t, cookie))
	if err := env.DB.QueryRow(`SELECT data->>'n' FROM http_sessions WHERE id_hash = $1`, h[:]).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != strconv.Itoa(1+2*each) {
		t.Errorf("n = %s after %d increments from Go and %d from Node (and 1 before), want %d", n, each, each, 1+2*each)
	}
}
