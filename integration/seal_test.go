package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
)

const (
	valueKeyOld = "integration value key, old: 32+ bytes"
	valueKeyNew = "integration value key, new: 32+ bytes"
)

// dumpData returns the data column of every row as the database prints
// it: what a dump or a replica shows.
func dumpData(t *testing.T, b backend) string {
	t.Helper()
	q := `SELECT data FROM http_sessions`
	if b.name == "postgres" {
		q = `SELECT data::text FROM http_sessions`
	}
	rows, err := b.sqlDB.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var all []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(all, "\n")
}

// With Options.ValueKeys, no value reaches the database in plaintext,
// while logins, counters, concurrent merges of disjoint keys, rotation of
// the id and of the key, ListUserSessions and DestroyUser work as without.
func TestEncryptedValuesOnEveryStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		srv := httptest.NewServer(app(t, b.store, sessions.Options{ValueKeys: []string{valueKeyOld}}))
		defer srv.Close()
		c := newClient(t, srv)
		if code, body, _ := c.do("POST", "/login", url.Values{"user": {"alice"}}); code != 200 {
			t.Fatalf("login: %d %s", code, body)
		}
		for i := 1; i <= 2; i++ {
			if _, n, _ := c.do("GET", "/count", nil); n != fmt.Sprint(i) {
				t.Fatalf("count = %q, want %d", n, i)
			}
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if code, body, _ := c.do("POST", "/set", url.Values{"k": {fmt.Sprint("card", i)}, "v": {fmt.Sprint("4111-secret-", i)}}); code != 200 {
					t.Errorf("set %d: %d %s", i, code, body)
				}
			})
		}
		wg.Wait()

		dump := dumpData(t, b)
		if strings.Contains(dump, "4111") || strings.Contains(dump, `"alice"`) || !strings.Contains(dump, `"enc:v1:`) {
			t.Fatalf("the table shows values in plaintext:\n%s", dump)
		}

		// A new first key: old values open, the app goes on.
		srv.Config.Handler = app(t, b.store, sessions.Options{ValueKeys: []string{valueKeyNew, valueKeyOld}})
		if _, n, _ := c.do("GET", "/count", nil); n != "3" {
			t.Errorf("count after a key rotation = %q, want 3", n)
		}
		if _, u, _ := c.do("GET", "/peek", nil); u != "alice" {
			t.Errorf("user after a key rotation = %q", u)
		}

		m, err := sessions.New(b.store, sessions.Options{Secrets: []string{secret}, ValueKeys: []string{valueKeyNew, valueKeyOld}})
		if err != nil {
			t.Fatal(err)
		}
		list, err := m.ListUserSessions(t.Context(), "alice")
		if err != nil || len(list) != 1 {
			t.Fatalf("ListUserSessions: %d sessions, %v", len(list), err)
		}
		for i := range 8 {
			var v string
			if ok, err := m.GetValue(list[0], fmt.Sprint("card", i), &v); !ok || err != nil || v != fmt.Sprint("4111-secret-", i) {
				t.Errorf("card%d: %v %v %q (a concurrent merge lost it, or it does not open)", i, ok, err, v)
			}
		}
		if n, err := m.DestroyUser(t.Context(), "alice"); n != 1 || err != nil {
			t.Errorf("DestroyUser = %d, %v", n, err)
		}
		if b.count(t) != 0 {
			t.Errorf("%d rows left", b.count(t))
		}
	})
}

// The login of app regenerates the id after values were sealed: they
// still open under the new id.
func TestEncryptedValuesSurviveLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		srv := httptest.NewServer(app(t, b.store, sessions.Options{ValueKeys: []string{valueKeyOld}}))
		defer srv.Close()
		c := newClient(t, srv)
		if _, n, _ := c.do("GET", "/count", nil); n != "1" {
			t.Fatalf("count = %q", n)
		}
		before := c.sessionID()
		if code, body, _ := c.do("POST", "/login", url.Values{"user": {"bob"}}); code != http.StatusOK {
			t.Fatalf("login: %d %s", code, body)
		}
		if c.sessionID() == before {
			t.Fatal("login kept the id")
		}
		if _, n, _ := c.do("GET", "/count", nil); n != "2" {
			t.Errorf("count after login = %q, want 2 (the sealed count did not open)", n)
		}
	})
}
