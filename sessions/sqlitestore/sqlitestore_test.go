package sqlitestore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
	"github.com/sqlsession/sqlsession/sessions/storetest"
)

func openMigrated(t testing.TB, open func(path string) (*sql.DB, error)) *sql.DB {
	t.Helper()
	conn, err := open(filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := db.Migrate(context.Background(), conn, db.SQLite); err != nil {
		t.Fatal(err)
	}
	return conn
}

func recommended(path string) (*sql.DB, error) { return sqlitestore.Open(context.Background(), path) }

// plain is what a user gets from sql.Open without our DSN: deferred
// transactions, no WAL, no busy timeout.
func plain(path string) (*sql.DB, error) { return sql.Open("sqlite", "file:"+path) }

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessions.Store { return sqlitestore.New(openMigrated(t, recommended)) })
}

// Merges must not lose updates even with the driver's default (deferred)
// transactions; one connection keeps SQLite's lock from failing fast.
func TestContractPlainDSN(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessions.Store {
		conn := openMigrated(t, plain)
		conn.SetMaxOpenConns(1)
		return sqlitestore.New(conn)
	})
}

func TestOpenConfiguresWAL(t *testing.T) {
	conn := openMigrated(t, recommended)
	for pragma, want := range map[string]string{"journal_mode": "wal", "busy_timeout": "10000", "synchronous": "1"} {
		var got string
		if err := conn.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

func TestStoresOnlyTheHash(t *testing.T) {
	conn := openMigrated(t, recommended)
	s := sqlitestore.New(conn)
	const id = "raw-session-id-that-must-not-be-stored"
	now := time.Now()
	rec := sessionstore.Record{
		Data:      map[string]json.RawMessage{"cart": json.RawMessage(`[1,2]`)},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserID: "u1",
	}
	if err := s.Create(context.Background(), sessions.HashID(id), rec, now); err != nil {
		t.Fatal(err)
	}
	var (
		idHash           []byte
		data, user       string
		expires, created int64
	)
	if err := conn.QueryRow(`SELECT id_hash, data, expires_at, created_at, user_id FROM http_sessions`).Scan(&idHash, &data, &expires, &created, &user); err != nil {
		t.Fatal(err)
	}
	storetest.CheckRowHoldsNoID(t, id, idHash, data, user)
	if data != `{"cart":[1,2]}` {
		t.Errorf("data = %s", data)
	}
	if expires != now.Add(time.Hour).UnixMilli() || created != now.UnixMilli() {
		t.Errorf("expires_at, created_at = %d, %d; want unix ms %d, %d", expires, created, now.Add(time.Hour).UnixMilli(), now.UnixMilli())
	}
}

// 64 goroutines writing and reading at once through the recommended DSN:
// not one "database is locked".
func TestNoLockErrorsUnderConcurrency(t *testing.T) {
	conn := openMigrated(t, recommended)
	s := sqlitestore.New(conn)
	ctx := context.Background()
	now := time.Now()
	const workers, iterations = 64, 40
	var ops, failures atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			h := sessions.HashID(fmt.Sprint("worker-", w%8))
			for i := range iterations {
				var err error
				switch i % 4 {
				case 0:
					err = s.Create(ctx, h, sessionstore.Record{Data: map[string]json.RawMessage{"w": json.RawMessage(fmt.Sprint(w))}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, now)
					if errors.Is(err, sessionstore.ErrExists) {
						err = nil
					}
				case 1:
					err = s.Update(ctx, h, sessionstore.Change{Set: map[string]json.RawMessage{fmt.Sprint("k", w): json.RawMessage(fmt.Sprint(i))}, ExpiresAt: now.Add(time.Hour)}, now)
				case 2:
					_, err = s.Load(ctx, h, now)
				case 3:
					err = s.Touch(ctx, h, now.Add(2*time.Hour), nil, now)
				}
				ops.Add(1)
				if err != nil && !errors.Is(err, sessions.ErrNotFound) {
					failures.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d operations failed; first: %v", failures.Load(), ops.Load(), firstErr)
	}
	// Every worker's key landed in its session.
	for g := range 8 {
		r, err := s.Load(ctx, sessions.HashID(fmt.Sprint("worker-", g)), now)
		if err != nil {
			t.Fatal(err)
		}
		if r.Data, err = r.Values(); err != nil {
			t.Fatal(err)
		}
		if len(r.Data) != 1+workers/8 {
			t.Errorf("session %d has %d keys, want %d", g, len(r.Data), 1+workers/8)
		}
	}
}

func TestDSN(t *testing.T) {
	got := sqlitestore.DSN("/var/lib/app/s.db")
	for _, want := range []string{"file:/var/lib/app/s.db?", "journal_mode%28WAL%29", "busy_timeout%2810000%29", "synchronous%28NORMAL%29", "_txlock=immediate"} {
		if !strings.Contains(got, want) {
			t.Errorf("DSN = %s, missing %s", got, want)
		}
	}
}

// A reaping run ends with a WAL checkpoint that truncates the WAL file, so
// the pages it wrote do not keep the file large (the in-process Reaper and
// sess-gc both end their runs this way).
func TestReapTruncatesWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	conn, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := db.Migrate(context.Background(), conn, db.SQLite); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := conn.Exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19999)
		INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT randomblob(32), json_object('pad', printf('%.200c', 'x')), ?, ? FROM n`, now.Add(-time.Minute).UnixMilli(), now.Add(-time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if walSize() == 0 {
		t.Fatal("seeding left an empty WAL; the test would prove nothing")
	}
	res, err := sessions.ReapExpired(context.Background(), sqlitestore.New(conn), now, 1000)
	if err != nil || res.Deleted != 20000 {
		t.Fatalf("DeleteExpired = %+v, %v; want 20000 deleted", res, err)
	}
	if n := walSize(); n != 0 {
		t.Errorf("WAL file after the reaping run: %d bytes, want 0 (checkpointed and truncated)", n)
	}
}

func TestDSNLimitsJournalSize(t *testing.T) {
	conn, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var limit int64
	if err := conn.QueryRow(`PRAGMA journal_size_limit`).Scan(&limit); err != nil || limit != sqlitestore.JournalSizeLimit {
		t.Errorf("journal_size_limit = %d (err %v), want %d", limit, err, sqlitestore.JournalSizeLimit)
	}
}
