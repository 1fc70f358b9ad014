package db_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/internal/testsql"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// Migration 00002 (expires_bucket) up and down on a table written under
// schema 1: no session is lost, none expires early, expired ones are still
// reaped (exactly those), and down restores the expires_at index.
func TestUpgradeExpiresBucket(t *testing.T) {
	e := pgtest.New(t)
	ctx := context.Background()
	if err := db.MigrateTo(ctx, e.DB, db.Postgres, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Microsecond)
	// 3,000 rows as the old schema stores them: expiries from 2 hours ago
	// to 2 hours ahead, one per 4.8 s, so that many 15-minute buckets are
	// split by now.
	if _, err := e.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
		SELECT sha256(i::text::bytea), jsonb_build_object('i', i), $1::timestamptz + (i - 1500) * interval '4.8 seconds', $1, 'u' || (i % 7)
		FROM generate_series(0, 2999) i`, now); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, e)
	if err := db.Migrate(ctx, e.DB, db.Postgres); err != nil {
		t.Fatalf("migrate to 00002 with rows in the table: %v", err)
	}
	if after := snapshot(t, e); after != before {
		t.Fatalf("rows changed by the migration:\nbefore %s\nafter  %s", before, after)
	}
	var wrongBucket int
	if err := e.DB.QueryRow(`SELECT count(*) FROM http_sessions
		WHERE expires_bucket > expires_at OR expires_bucket <= expires_at - interval '15 minutes'`).Scan(&wrongBucket); err != nil || wrongBucket != 0 {
		t.Fatalf("%d rows with a bucket not containing their expiry (err %v)", wrongBucket, err)
	}

	store := pgstore.New(e.Pool)
	for _, i := range []int{1501, 1600, 2999} { // live: expiring 4.8 s to 2 h from now
		if _, err := store.Load(ctx, sessions.HashID(strconv.Itoa(i)), now); err != nil {
			t.Errorf("session %d (live) after the migration: %v", i, err)
		}
	}
	if _, err := store.Load(ctx, sessions.HashID(strconv.Itoa(1499)), now); !errors.Is(err, sessions.ErrNotFound) {
		t.Errorf("expired session 1499 loads after the migration: %v", err)
	}
	if n, err := store.CountExpired(ctx, now); err != nil || n != 1501 {
		t.Errorf("CountExpired = %d, %v; want 1501 (rows 0..1500)", n, err)
	}
	res, err := sessions.ReapExpired(ctx, store, now, 100)
	if err != nil || res.Deleted != 1501 {
		t.Fatalf("reaped %d (err %v), want exactly the 1501 expired rows", res.Deleted, err)
	}
	var minLive time.Time
	if err := e.DB.QueryRow(`SELECT min(expires_at) FROM http_sessions`).Scan(&minLive); err != nil || !minLive.After(now) {
		t.Errorf("earliest row left expires at %v (err %v), want after now", minLive, err)
	}

	if err := db.MigrateTo(ctx, e.DB, db.Postgres, 1); err != nil {
		t.Fatalf("down to 1: %v", err)
	}
	cols := strings.Join(testsql.Strings(t, e.DB, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = 'http_sessions' ORDER BY column_name`, e.Schema), ",")
	idx := strings.Join(testsql.Strings(t, e.DB, `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'http_sessions'`, e.Schema), "\n")
	if cols != "created_at,data,expires_at,id_hash,user_id" || !strings.Contains(idx, "(expires_at)") {
		t.Errorf("after down: columns %s, indexes\n%s", cols, idx)
	}
	if n, err := store.CountExpired(ctx, now.Add(time.Hour)); err == nil {
		t.Errorf("CountExpired after down = %d, want an error (no expires_bucket)", n)
	}
	var left int
	if err := e.DB.QueryRow(`SELECT count(*) FROM http_sessions WHERE expires_at > $1`, now).Scan(&left); err != nil || left != 1499 {
		t.Errorf("%d live rows after down (err %v), want 1499", left, err)
	}
}

// snapshot is every row's content as one string.
func snapshot(t *testing.T, e *pgtest.Env) string {
	t.Helper()
	var s string
	if err := e.DB.QueryRow(`SELECT string_agg(concat_ws('|', encode(id_hash, 'hex'), data::text, expires_at, created_at, user_id), ';' ORDER BY id_hash)
		FROM http_sessions`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Migration 00003 (device columns) up and down on a table written under
// schema 2: every session is kept as it was and still loads; a touch can
// record the device afterwards; down drops only the new columns.
func TestUpgradeDevice(t *testing.T) {
	e := pgtest.New(t)
	ctx := context.Background()
	if err := db.MigrateTo(ctx, e.DB, db.Postgres, 2); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Microsecond)
	if _, err := e.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
		SELECT sha256(('dev-' || i)::bytea), jsonb_build_object('i', i), $1::timestamptz + interval '1 hour', $1, 'u' || (i % 3)
		FROM generate_series(0, 99) i`, now); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, e)
	if err := db.Migrate(ctx, e.DB, db.Postgres); err != nil {
		t.Fatalf("migrate to 00003 with rows in the table: %v", err)
	}
	if after := snapshot(t, e); after != before {
		t.Fatal("rows changed by the migration")
	}
	store := pgstore.New(e.Pool)
	h := sessions.HashID("dev-7")
	if _, err := store.Load(ctx, h, now); err != nil {
		t.Fatalf("a session written under schema 2 does not load: %v", err)
	}
	d := &sessionstore.Device{LastSeen: now, IP: "192.0.2.9", UserAgent: "curl"}
	if err := store.Touch(ctx, h, now.Add(2*time.Hour), d, now); err != nil {
		t.Fatal(err)
	}
	list, err := store.ListUser(ctx, "u1", now)
	if err != nil || len(list) != 33 {
		t.Fatalf("ListUser(u1) = %d sessions, %v; want 33", len(list), err)
	}
	if err := db.MigrateTo(ctx, e.DB, db.Postgres, 2); err != nil {
		t.Fatalf("down to 00002: %v", err)
	}
	var n int
	if err := e.DB.QueryRow(`SELECT count(*) FROM http_sessions`).Scan(&n); err != nil || n != 100 {
		t.Errorf("after down: %d rows, %v; want the 100", n, err)
	}
}
