package integration

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// execModes are pgx's five query exec modes, set with the DSN parameter
// default_query_exec_mode.
var execModes = []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"}

// TestExecModesHTTP runs login, read, write and logout for 16 concurrent
// clients through a pgstore whose pool uses each pgx exec mode.
func TestExecModesHTTP(t *testing.T) {
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) {
			e := testpg.Migrated(t)
			pool := poolWithParams(t, e.DSN, "default_query_exec_mode="+mode)
			runFlows(t, pgstore.New(pool), 16, 5)
			var n int
			if err := e.DB.QueryRow(`SELECT count(*) FROM http_sessions`).Scan(&n); err != nil || n != 0 {
				t.Errorf("rows left after every client logged out: %d (err %v)", n, err)
			}
		})
	}
}

// poolWithParams opens a pgx pool on dsn with extra URL query parameters
// ("k=v&k2=v2"), closed when the test ends.
func poolWithParams(t *testing.T, dsn, params string) *pgxpool.Pool {
	t.Helper()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	cfg, err := pgxpool.ParseConfig(dsn + sep + params)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// runFlows serves the test app on store and has clients concurrent users
// each run rounds of login → read → write ×2 → logout, checking every
// answer. It fails the test with the number of flows that went wrong.
func runFlows(t *testing.T, store sessions.Store, clients, rounds int) {
	t.Helper()
	srv := httptest.NewServer(app(t, store, sessions.Options{}))
	defer srv.Close()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
	)
	for i := range clients {
		wg.Go(func() {
			for r := range rounds {
				if err := oneFlow(newClient(t, srv), fmt.Sprintf("user%02d-%d", i, r)); err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d flows failed; first: %s", len(failed), clients*rounds, failed[0])
	}
}

// oneFlow is one user's visit. It returns what went wrong, if anything.
func oneFlow(c *client, user string) error {
	if code, body, _ := c.do("POST", "/login", url.Values{"user": {user}}); code != 200 || body != "hello "+user {
		return fmt.Errorf("%s login: %d %q", user, code, body)
	}
	id := c.sessionID()
	if id == "" {
		return fmt.Errorf("%s login: no session cookie", user)
	}
	if code, body, _ := c.do("GET", "/peek", nil); code != 200 || body != user {
		return fmt.Errorf("%s read: %d %q (session lost?)", user, code, body)
	}
	for want := 1; want <= 2; want++ {
		if code, body, _ := c.do("GET", "/count", nil); code != 200 || body != fmt.Sprint(want) {
			return fmt.Errorf("%s write: %d %q, want %d", user, code, body, want)
		}
	}
	if c.sessionID() != id {
		return fmt.Errorf("%s: session id changed without a login", user)
	}
	if code, body, _ := c.do("POST", "/logout", nil); code != 200 {
		return fmt.Errorf("%s logout: %d %q", user, code, body)
	}
	if code, body, _ := c.do("GET", "/peek", nil); code != 200 || body != "" || c.sessionID() != "" {
		return fmt.Errorf("%s after logout: %d %q, cookie %v", user, code, body, c.sessionID() != "")
	}
	return nil
}
