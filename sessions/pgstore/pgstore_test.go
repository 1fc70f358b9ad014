package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
	"github.com/sqlsession/sqlsession/sessions/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessions.Store { return pgstore.New(pgtest.Migrated(t).Pool) })
}

// execModes are pgx's five query exec modes, chosen by the DSN parameter
// default_query_exec_mode (poolers such as PgBouncer need one of the last
// three, or cache_describe).
var execModes = []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"}

// TestContractExecModes runs the contract through a pool in each pgx exec
// mode: jsonb parameters must reach the server as JSON text in all of them.
func TestContractExecModes(t *testing.T) {
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) sessions.Store { return pgstore.New(poolInMode(t, mode)) })
		})
	}
}

// poolInMode returns a pool on a fresh migrated schema whose connections
// use the given default_query_exec_mode.
func poolInMode(t *testing.T, mode string) *pgxpool.Pool {
	t.Helper()
	e := pgtest.Migrated(t)
	cfg, err := pgxpool.ParseConfig(e.DSN + "&default_query_exec_mode=" + mode)
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

func TestStoresOnlyTheHash(t *testing.T) {
	e := pgtest.Migrated(t)
	s := pgstore.New(e.Pool)
	const id = "raw-session-id-that-must-not-be-stored"
	now := time.Now().Truncate(time.Microsecond)
	rec := sessionstore.Record{
		Data:      map[string]json.RawMessage{"cart": json.RawMessage(`[1, 2]`)},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserID: "u1",
	}
	if err := s.Create(context.Background(), sessions.HashID(id), rec, now); err != nil {
		t.Fatal(err)
	}
	var (
		idHash           []byte
		data, user       string
		expires, created time.Time
	)
	if err := e.DB.QueryRow(`SELECT id_hash, data::text, expires_at, created_at, user_id FROM http_sessions`).Scan(&idHash, &data, &expires, &created, &user); err != nil {
		t.Fatal(err)
	}
	storetest.CheckRowHoldsNoID(t, id, idHash, data, user)
	if data != `{"cart": [1, 2]}` {
		t.Errorf("data = %s", data)
	}
	if !expires.Equal(now.Add(time.Hour)) || !created.Equal(now) {
		t.Errorf("expires_at, created_at = %v, %v; want %v, %v", expires, created, now.Add(time.Hour), now)
	}
}

func TestDatabaseDown(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://postgres@127.0.0.1:1/none?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	_, err = pgstore.New(pool).Load(context.Background(), sessions.HashID("x"), time.Now())
	if err == nil || errors.Is(err, sessions.ErrNotFound) || !strings.HasPrefix(err.Error(), "pgstore: load: ") {
		t.Errorf("Load with the database down: err = %v, want a wrapped connection error (not ErrNotFound)", err)
	}
}
