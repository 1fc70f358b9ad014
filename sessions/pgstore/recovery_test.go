package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// statementCounter counts the statements a pool runs, and among them the
// standby checks.
type statementCounter struct{ all, checks atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.all.Add(1)
	if strings.Contains(d.SQL, "pg_is_in_recovery") {
		c.checks.Add(1)
	}
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// The standby check is one statement on the store's first call and none
// on the calls after it (a read stays one statement); a lost connection
// makes the next call check again, since the pool may reconnect elsewhere.
func TestStandbyCheckOncePerStore(t *testing.T) {
	e := pgtest.Migrated(t)
	cfg, err := pgxpool.ParseConfig(e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	var n statementCounter
	cfg.ConnConfig.Tracer = &n
	cfg.MaxConns = 1
	// Hand out a killed connection as is, so the store sees the error.
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := pgstore.New(pool)
	ctx := context.Background()
	h := sessions.HashID("standby-check")

	for i := range 3 {
		before := n.all.Load()
		if _, err := s.Load(ctx, h, time.Now()); !errors.Is(err, sessions.ErrNotFound) {
			t.Fatalf("Load %d: %v, want ErrNotFound", i, err)
		}
		if want := map[bool]int64{true: 2, false: 1}[i == 0]; n.all.Load()-before != want {
			t.Errorf("Load %d ran %d statements, want %d", i, n.all.Load()-before, want)
		}
	}
	if got := n.checks.Load(); got != 1 {
		t.Fatalf("standby checks after three Loads: %d, want 1", got)
	}

	var pid int
	if err := pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.Exec("SELECT pg_terminate_backend($1::integer)", pid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, h, time.Now()); err == nil || errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Load on a terminated connection: %v, want a connection error", err)
	}
	if _, err := s.Load(ctx, h, time.Now()); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Load after reconnecting: %v, want ErrNotFound", err)
	}
	if got := n.checks.Load(); got != 2 {
		t.Errorf("standby checks after a lost connection: %d, want 2 (checked again)", got)
	}
}

// AllowStandby skips the check: no statement beyond the query itself.
func TestAllowStandbySkipsCheck(t *testing.T) {
	e := pgtest.Migrated(t)
	cfg, err := pgxpool.ParseConfig(e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	var n statementCounter
	cfg.ConnConfig.Tracer = &n
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := pgstore.NewWithOptions(pool, pgstore.Options{AllowStandby: true})
	if _, err := s.Load(context.Background(), sessions.HashID("x"), time.Now()); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Load: %v", err)
	}
	if n.all.Load() != 1 || n.checks.Load() != 0 {
		t.Errorf("AllowStandby: %d statements, %d checks; want 1 and 0", n.all.Load(), n.checks.Load())
	}
}
