package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

// hostilePaths are file names that a file: URI would misread unescaped:
// '#' ends the path (fragment), '?' starts the query, %XX is decoded,
// and the rest are bytes a URI does not carry as they are.
var hostilePaths = []string{
	"a#b.db", "a?b.db", "a?mode=ro.db", "a%41b.db", "100%.db", "with space.db", "x&y=z;w.db",
	"ünïcødé.db", "plus+sign.db", "'quote\".db", "semi;colon:.db",
}

// Open (and DSN) open exactly the file named, creating nothing else.
func TestOpenEscapesPath(t *testing.T) {
	for _, name := range hostilePaths {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			conn, err := sqlitestore.Open(context.Background(), path)
			if err != nil {
				t.Fatalf("Open(%q): %v", path, err)
			}
			if err := db.Migrate(context.Background(), conn, db.SQLite); err != nil {
				t.Fatal(err)
			}
			_ = conn.Close()
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				if n := e.Name(); !strings.HasSuffix(n, "-wal") && !strings.HasSuffix(n, "-shm") {
					names = append(names, n)
				}
			}
			if !slices.Equal(names, []string{name}) {
				t.Fatalf("Open(%q) created %q, want exactly %q", name, names, name)
			}
			// Re-opened, it is the same database: the table is there.
			conn, err = sqlitestore.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var n int
			if err := conn.QueryRow(`SELECT count(*) FROM http_sessions`).Scan(&n); err != nil {
				t.Errorf("re-opened %q has no sessions table: %v", name, err)
			}
		})
	}
}

func TestOpenRefusesNUL(t *testing.T) {
	if _, err := sqlitestore.Open(context.Background(), "a\x00b.db"); err == nil {
		t.Error("Open of a path with a NUL byte: no error")
	}
}

// A database opened with a plain DSN (sql.Open("sqlite", path): no WAL, no
// busy timeout, deferred transactions, an unlimited pool) serves 200
// concurrent clients through the middleware without one "database is
// locked" (SQLITE_BUSY).
func TestPlainDSNConcurrentRequests(t *testing.T) {
	conn, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := db.Migrate(context.Background(), conn, db.SQLite); err != nil {
		t.Fatal(err)
	}
	m, err := sessions.New(sqlitestore.New(conn), sessions.Options{Secrets: []string{"a test secret of 32 bytes or more"}, Logger: slog.New(slog.DiscardHandler),
		// 200 clients queue for SQLite's one writer: on a loaded machine (-race) that
		// takes longer than the default StoreTimeout, which is not what this tests.
		StoreTimeout: time.Minute, ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { http.Error(w, err.Error(), 500) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		var n int
		_, _ = s.Get("n", &n)
		if err := s.Set("n", n+1); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, n+1)
	})))
	defer srv.Close()
	const clients, requests = 200, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range clients {
		wg.Go(func() {
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar}
			for i := range requests {
				res, err := c.Get(srv.URL)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
				b, _ := io.ReadAll(res.Body)
				_ = res.Body.Close()
				if res.StatusCode != 200 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("request %d: status %d: %s", i, res.StatusCode, b))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed; first: %s", len(failures), clients*requests, failures[0])
	}
	var rows, total int
	if err := conn.QueryRow(`SELECT count(*), coalesce(sum(json_extract(data, '$.n')), 0) FROM http_sessions`).Scan(&rows, &total); err != nil {
		t.Fatal(err)
	}
	if rows != clients || total != clients*requests {
		t.Errorf("%d sessions with n summing to %d; want %d and %d", rows, total, clients, clients*requests)
	}
}
