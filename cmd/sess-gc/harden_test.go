package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/internal/pgtest"
)

// -migrate and the reaper open exactly the SQLite file named, whatever
// bytes its name holds ('#', '?' and '%XX' mean something in a file: URI).
func TestSQLiteHostilePaths(t *testing.T) {
	for _, name := range []string{"a#b.db", "a?b.db", "a%41b.db", "with space.db", "x&mode=ro.db"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			if r := runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-migrate"); r.code != 0 {
				t.Fatalf("-migrate: exit %d %s", r.code, r.stderr)
			}
			if r := runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-once"); r.code != 0 {
				t.Fatalf("reap without -migrate: exit %d %s", r.code, r.stderr)
			}
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				if n := e.Name(); !strings.HasSuffix(n, "-wal") && !strings.HasSuffix(n, "-shm") {
					names = append(names, n)
				}
			}
			if !slices.Equal(names, []string{name}) {
				t.Errorf("sess-gc created %q, want exactly %q", names, name)
			}
		})
	}
}

// SIGTERM while sess-gc is still connecting (a server that never answers)
// is a clean stop: exit 0, as documented.
func TestSIGTERMWhileConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	dsn := fmt.Sprintf("postgres://postgres@%s/x?sslmode=disable&connect_timeout=120", ln.Addr())
	cmd := exec.Command(binary(t), "-driver", "postgres", "-dsn", dsn, "-once")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("sess-gc never connected")
	}
	stopAndWait(t, cmd, &stderr, "while connecting")
}

// A table named http_sessions that is not sqlsession's (another library's:
// no id_hash) is refused by -dry-run exactly as by the real run, with the
// same advice, and nothing is deleted.
func TestForeignTable(t *testing.T) {
	check := func(t *testing.T, driver, dsn string, count func() int) {
		for _, args := range [][]string{{"-dry-run"}, {"-once"}} {
			r := runGC(t, nil, append([]string{"-driver", driver, "-dsn", dsn}, args...)...)
			if r.code != exitFailure || !strings.Contains(r.stderr, "is not sqlsession's session table") {
				t.Errorf("%v on a foreign table: exit %d, stdout %q, stderr %q; want exit 1 and the advice", args, r.code, r.stdout, r.stderr)
			}
		}
		if n := count(); n != 1 {
			t.Errorf("%d rows left in the foreign table, want 1", n)
		}
	}
	t.Run("postgres", func(t *testing.T) {
		e := pgtest.New(t)
		for _, q := range []string{
			`CREATE TABLE http_sessions (sid text PRIMARY KEY, data jsonb NOT NULL, expires_at timestamptz NOT NULL,
				expires_bucket timestamptz NOT NULL, created_at timestamptz, user_id text)`,
			`INSERT INTO http_sessions VALUES ('x', '{}', now() - interval '1 day', now() - interval '1 day', now(), NULL)`,
		} {
			if _, err := e.DB.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		check(t, "postgres", e.DSN, func() int { return countRows(t, e.DB, `SELECT count(*) FROM http_sessions`) })
	})
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "foreign.db")
		conn := openSQLiteDB(t, path)
		for _, q := range []string{
			`CREATE TABLE http_sessions (sid TEXT PRIMARY KEY, data TEXT, expires_at INTEGER, created_at INTEGER, user_id TEXT)`,
			`INSERT INTO http_sessions VALUES ('x', '{}', 0, 0, NULL)`,
		} {
			if _, err := conn.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		check(t, "sqlite", path, func() int { return countRows(t, conn, `SELECT count(*) FROM http_sessions`) })
	})
}

var (
	skewedOnce sync.Once
	skewedPath string
	skewedErr  error
)

// skewedBinary builds sess-gc with a host clock running 2 hours fast.
func skewedBinary(t *testing.T) string {
	t.Helper()
	skewedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sess-gc-skewed")
		if err != nil {
			skewedErr = err
			return
		}
		skewedPath = filepath.Join(dir, "sess-gc")
		out, err := exec.Command("go", "build", "-ldflags", "-X main.fakeClockSkew=2h", "-o", skewedPath, ".").CombinedOutput()
		if err != nil {
			skewedErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if skewedErr != nil {
		t.Fatal(skewedErr)
	}
	return skewedPath
}

// On a host whose clock runs 2 hours fast, sess-gc on Postgres deletes only
// what the database's clock says has expired: sessions with 30 minutes to
// live survive, in the dry run and the real one.
func TestPostgresFastHostClock(t *testing.T) {
	e := pgtest.Migrated(t)
	if _, err := e.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT sha256(i::text::bytea), '{}', now() + CASE WHEN i <= 4 THEN interval '-1 hour' ELSE interval '30 minutes' END, now()
		FROM generate_series(1, 10) AS i`); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) result {
		cmd := exec.Command(skewedBinary(t), append([]string{"-driver", "postgres", "-dsn", e.DSN}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		code := 0
		if err := cmd.Run(); err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatal(err)
			}
			code = ee.ExitCode()
		}
		return result{code, out.String(), errb.String()}
	}
	if r := run("-dry-run"); r.code != 0 || !strings.HasPrefix(r.stdout, "would_delete=4 ") {
		t.Errorf("dry run with a fast host clock: exit %d %q %q; want would_delete=4", r.code, r.stdout, r.stderr)
	}
	r := run("-once")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if d, _ := parseDeleted(t, r.stdout); d != 4 {
		t.Errorf("deleted=%d with a host clock 2 h fast, want the 4 expired sessions only", d)
	}
	if n := countRows(t, e.DB, `SELECT count(*) FROM http_sessions`); n != 6 {
		t.Errorf("%d sessions left, want the 6 live ones", n)
	}
}

func openSQLiteDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
