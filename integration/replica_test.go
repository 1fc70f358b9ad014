package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sqlsession/sqlsession/internal/testskip"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// envRequireFailover set to 1 (as in CI) turns a missing PostgreSQL server
// binary, postgres user or runuser into a failure of the failover tests
// instead of a skip.
const envRequireFailover = "SQLSESSION_REQUIRE_FAILOVER"

// failoverUnavailable skips the test with reason, or fails it in CI.
func failoverUnavailable(t *testing.T) func(reason string) {
	return func(reason string) {
		t.Helper()
		testskip.Skip(t, "Postgres failover tests (private primary + standby)", envRequireFailover, reason)
	}
}

// startPrimaryStandby starts a private primary and a hot standby streaming
// from it synchronously (synchronous_standby_names = '*',
// synchronous_commit = on: a commit returns once the standby has flushed
// its WAL), each on its own temp dir and free loopback port, both stopped
// when the test ends. The standby is made with pg_basebackup -R, so it
// follows the primary at once; its own synchronous_standby_names is empty,
// so once promoted it commits without waiting for a standby it lacks.
func startPrimaryStandby(t *testing.T) (primary, standby *privatePG) {
	t.Helper()
	unavailable := failoverUnavailable(t)
	primary = newPrivatePG(t, unavailable)
	primary.initdb()
	primary.conf("synchronous_standby_names = '*'", "synchronous_commit = on")
	primary.start()
	standby = newPrivatePG(t, unavailable)
	if out, err := standby.run("pg_basebackup", "-D", standby.data, "-R", "-X", "stream", "-c", "fast",
		"-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres"); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	standby.conf("synchronous_standby_names = ''")
	standby.start()

	pool := connect(t, primary.dsn(), 1)
	defer pool.Close()
	var state string
	for range 300 { // 30 s
		err := pool.QueryRow(context.Background(), `SELECT sync_state FROM pg_stat_replication`).Scan(&state)
		if err == nil && state == "sync" {
			return primary, standby
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the standby did not become a synchronous standby (sync_state %q)", state)
	return nil, nil
}

// connect opens a pool of at most max connections, closed when the test
// ends.
func connect(t *testing.T, dsn string, max int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = max
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// migrate applies the migrations through pool.
func migrate(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	if err := db.Migrate(context.Background(), sqlDB, db.Postgres); err != nil {
		t.Fatal(err)
	}
}

// pgstore on a hot standby: every call is refused with ErrStandby (a read
// would be served, possibly stale), unless AllowStandby, which reads what
// the standby has replayed; once the standby is promoted the refusing
// store works, without being made again.
func TestPgstoreRefusesStandby(t *testing.T) {
	primary, standby := startPrimaryStandby(t)
	ctx := context.Background()
	onPrimary := connect(t, primary.dsn(), 2)
	migrate(t, onPrimary)
	now := time.Now().Truncate(time.Microsecond)
	h := sessions.HashID("made-on-the-primary")
	rec := sessionstore.Record{Data: map[string]json.RawMessage{"user": json.RawMessage(`"alice"`)}, CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserID: "alice"}
	if err := pgstore.New(onPrimary).Create(ctx, h, rec, now); err != nil {
		t.Fatal(err)
	}

	onStandby := connect(t, standby.dsn(), 2)
	refusing := pgstore.New(onStandby)
	_, err := refusing.Load(ctx, h, now)
	if !errors.Is(err, pgstore.ErrStandby) {
		t.Fatalf("Load on a standby: %v, want ErrStandby", err)
	}
	t.Logf("Load on a standby: %v", err)
	if err := refusing.Create(ctx, sessions.HashID("new"), rec, now); !errors.Is(err, pgstore.ErrStandby) {
		t.Errorf("Create on a standby: %v, want ErrStandby", err)
	}
	if _, err := refusing.DestroyUser(ctx, "alice", sessions.IDHash{}); !errors.Is(err, pgstore.ErrStandby) {
		t.Errorf("DestroyUser on a standby: %v, want ErrStandby", err)
	}

	// AllowStandby reads the replayed row (replay follows the synchronous
	// flush, so it may take a moment); writes still fail there.
	allowing := pgstore.NewWithOptions(onStandby, pgstore.Options{AllowStandby: true})
	var got sessionstore.Record
	for range 100 {
		if got, err = allowing.Load(ctx, h, now); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || got.UserID != "alice" {
		t.Fatalf("AllowStandby Load: %+v, %v; want alice's session", got, err)
	}
	if err := allowing.Create(ctx, sessions.HashID("new"), rec, now); err == nil {
		t.Error("AllowStandby Create on a standby succeeded, want the server's read-only error")
	}

	primary.stop()
	if out, err := standby.run("pg_ctl", "-D", standby.data, "-w", "-t", "60", "promote"); err != nil {
		t.Fatalf("pg_ctl promote: %v\n%s", err, out)
	}
	if got, err := refusing.Load(ctx, h, now); err != nil || got.UserID != "alice" {
		t.Errorf("Load after promotion, same store: %+v, %v; want alice's session", got, err)
	}
	if err := refusing.Create(ctx, sessions.HashID("new"), rec, now); err != nil {
		t.Errorf("Create after promotion: %v", err)
	}
}

// multiHostDSN is a DSN naming both servers, which pgx tries in order,
// keeping only a connection that accepts writes.
func multiHostDSN(a, b *privatePG) string {
	return fmt.Sprintf("host=127.0.0.1,127.0.0.1 port=%d,%d user=postgres dbname=postgres sslmode=disable "+
		"target_session_attrs=read-write connect_timeout=2", a.port, b.port)
}
