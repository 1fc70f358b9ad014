package integration

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
)

// storedSize is the size of a session's data as the database keeps it
// (jsonb's text form on Postgres, the JSON column on SQLite).
func storedSize(t *testing.T, b backend, h sessions.IDHash) int {
	t.Helper()
	q := `SELECT octet_length(data::text) FROM http_sessions WHERE id_hash = $1`
	if b.name == "sqlite" {
		q = `SELECT length(CAST(data AS BLOB)) FROM http_sessions WHERE id_hash = ?`
	}
	var n int
	if err := b.sqlDB.QueryRow(q, h[:]).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Four requests on one session each add 300 KB under a 1 MiB limit; each
// Set fits the request's own view, and all four save at once (the handlers
// wait for each other before responding). The store enforces the limit on
// the merged row: the row never exceeds it, each request either saved its
// key (200) or got the ErrorHandler with ErrTooLarge and saved nothing, and
// no key of a successful request, nor any stored before, is lost.
func TestSizeLimitConcurrentRequests(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const limit, requests = 1 << 20, 4
		var arrived sync.WaitGroup
		arrived.Add(requests)
		var mu sync.Mutex
		var handled []error
		opts := sessions.Options{MaxDataBytes: limit, ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			mu.Lock()
			handled = append(handled, err)
			mu.Unlock()
			http.Error(w, "session too large", http.StatusInternalServerError)
		}}
		inner := app(t, b.store, opts)
		big := strings.Repeat("x", 300<<10)
		mux := http.NewServeMux()
		mux.Handle("/", inner)
		m, err := sessions.New(b.store, sessions.Options{Secrets: []string{secret}, MaxDataBytes: limit, ErrorHandler: opts.ErrorHandler})
		if err != nil {
			t.Fatal(err)
		}
		mux.Handle("POST /fill", m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := sessions.FromContext(r.Context()).Set(r.FormValue("k"), big); err != nil {
				t.Errorf("Set %s: %v (the request's own view fits)", r.FormValue("k"), err)
			}
			arrived.Done()
			arrived.Wait() // every request has loaded and Set before any saves
			fmt.Fprint(w, "ok")
		})))
		srv := httptest.NewServer(mux)
		defer srv.Close()
		c := newClient(t, srv)
		if code, body, _ := c.do("POST", "/login", url.Values{"user": {"alice"}}); code != 200 {
			t.Fatalf("login: %d %s", code, body)
		}
		h := hashOf(c.sessionID())

		codes := make([]int, requests)
		var wg sync.WaitGroup
		for i := range requests {
			wg.Go(func() { codes[i], _, _ = c.do("POST", "/fill", url.Values{"k": {fmt.Sprint("k", i)}}) })
		}
		wg.Wait()

		r, ok := b.query(t, h)
		if !ok {
			t.Fatal("the session row is gone")
		}
		if n := storedSize(t, b, h); n > limit {
			t.Errorf("stored session data is %d bytes, over the %d-byte limit", n, limit)
		}
		if r.data["user"] != "alice" {
			t.Errorf("key stored before the race: user = %v, want alice", r.data["user"])
		}
		saved := 0
		for i, code := range codes {
			_, stored := r.data[fmt.Sprint("k", i)]
			switch {
			case code == 200 && stored:
				saved++
			case code == 200:
				t.Errorf("request %d: 200 but its key was not stored", i)
			case code != 500 || stored:
				t.Errorf("request %d: status %d, key stored %v; want 500 with nothing stored", i, code, stored)
			}
		}
		if saved != 3 {
			t.Errorf("%d of %d requests saved 300 KB each under a 1 MiB limit, want 3", saved, requests)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(handled) != requests-saved {
			t.Errorf("ErrorHandler called %d times, want %d", len(handled), requests-saved)
		}
		for _, err := range handled {
			if !errors.Is(err, sessions.ErrTooLarge) {
				t.Errorf("ErrorHandler got %v, want an error matching ErrTooLarge", err)
			}
		}
	})
}
