package integration

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/cookiesig"
	"github.com/sqlsession/sqlsession/sessions/memstore"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

const secret = "integration secret, 32 bytes or more"

// row is one http_sessions row as read with SQL.
type row struct {
	idHash    []byte
	data      map[string]any
	rawData   string
	expiresAt time.Time
	createdAt time.Time
	userID    sql.NullString
}

// backend is a migrated database with its Store and a way to read rows.
type backend struct {
	name  string
	store sessions.Store
	sqlDB *sql.DB
	// query reads the row of an id hash; times are converted per dialect.
	query func(t *testing.T, h sessions.IDHash) (row, bool)
}

func (b backend) count(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.sqlDB.QueryRow(`SELECT count(*) FROM http_sessions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func postgresBackend(t testing.TB) backend {
	e := testpg.Migrated(t)
	return backend{name: "postgres", store: pgstore.New(e.Pool), sqlDB: e.DB, query: func(t *testing.T, h sessions.IDHash) (row, bool) {
		t.Helper()
		var r row
		err := e.DB.QueryRow(`SELECT id_hash, data::text, expires_at, created_at, user_id FROM http_sessions WHERE id_hash = $1`, h[:]).
			Scan(&r.idHash, &r.rawData, &r.expiresAt, &r.createdAt, &r.userID)
		return finishRow(t, r, err)
	}}
}

func sqliteBackend(t testing.TB) backend {
	conn, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := db.Migrate(context.Background(), conn, db.SQLite); err != nil {
		t.Fatal(err)
	}
	return backend{name: "sqlite", store: sqlitestore.New(conn), sqlDB: conn, query: func(t *testing.T, h sessions.IDHash) (row, bool) {
		t.Helper()
		var r row
		var exp, created int64
		err := conn.QueryRow(`SELECT id_hash, data, expires_at, created_at, user_id FROM http_sessions WHERE id_hash = ?`, h[:]).
			Scan(&r.idHash, &r.rawData, &exp, &created, &r.userID)
		r.expiresAt, r.createdAt = time.UnixMilli(exp), time.UnixMilli(created)
		return finishRow(t, r, err)
	}}
}

func finishRow(t *testing.T, r row, err error) (row, bool) {
	t.Helper()
	if err == sql.ErrNoRows {
		return r, false
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(r.rawData), &r.data); err != nil {
		t.Fatalf("data column is not a JSON object: %q: %v", r.rawData, err)
	}
	return r, true
}

// eachBackend runs f on Postgres and on SQLite.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("postgres", func(t *testing.T) { f(t, postgresBackend(t)) })
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteBackend(t)) })
}

// countingStore counts Load calls: bad cookies must never reach the store.
type countingStore struct {
	sessions.Store
	loads atomic.Int64
}

func (c *countingStore) Load(ctx context.Context, h sessions.IDHash, now time.Time) (sessionstore.Record, error) {
	c.loads.Add(1)
	return c.Store.Load(ctx, h, now)
}

// app is the test application: login, counter, remember-me, logout.
func app(t testing.TB, store sessions.Store, opts sessions.Options) http.Handler {
	t.Helper()
	opts.Secrets = []string{secret}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	m, err := sessions.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if err := s.Regenerate(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		user := r.FormValue("user")
		s.SetUser(user)
		_ = s.Set("user", user)
		if r.FormValue("remember") == "on" {
			s.SetMaxAge(30 * 24 * time.Hour)
		}
		fmt.Fprint(w, "hello ", user)
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		var n int
		_, _ = s.Get("count", &n)
		n++
		if err := s.Set("count", n); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("GET /peek", func(w http.ResponseWriter, r *http.Request) {
		var u string
		_, _ = sessions.FromContext(r.Context()).Get("user", &u)
		fmt.Fprint(w, u)
	})
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Set(r.FormValue("k"), r.FormValue("v")); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	return m.Handler(mux)
}

type client struct {
	t    testing.TB
	base string
	http *http.Client
}

func newClient(t testing.TB, srv *httptest.Server) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: srv.URL, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (c *client) do(method, path string, form url.Values) (int, string, *http.Response) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res
}

// sessionID returns the id in the jar's sid cookie (unsigned), or "".
func (c *client) sessionID() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name != "sid" {
			continue
		}
		v, err := url.PathUnescape(ck.Value)
		if err != nil {
			c.t.Fatal(err)
		}
		id, ok := cookiesig.Unsign(strings.TrimPrefix(v, "s:"), secret)
		if !ok {
			c.t.Fatalf("jar cookie %q does not verify", ck.Value)
		}
		return id
	}
	return ""
}

func hashOf(id string) sessions.IDHash { return sha256.Sum256([]byte(id)) }

func memstoreQuiet() sessions.Store {
	return memstore.NewWithOptions(memstore.Options{Logger: slog.New(slog.DiscardHandler)})
}
