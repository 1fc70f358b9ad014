package integration

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/storetest"
)

// bouncerModes are the pgx exec modes that work through a transaction
// pooler: each statement is sent in one round trip (or described once and
// then sent in one). cache_statement (named prepared statements, 42P05)
// and describe_exec (Parse and Bind in two round trips, which the pooler
// may send to two servers) do not.
var bouncerModes = []string{"cache_describe", "exec", "simple_protocol"}

// TestBouncerContract runs the store contract through a private PgBouncer
// in transaction pooling mode, in each working exec mode.
func TestBouncerContract(t *testing.T) {
	b, user, name, direct := bouncerSetup(t)
	admin := openSQL(t, direct)
	for _, mode := range bouncerModes {
		t.Run(mode, func(t *testing.T) {
			pool := poolWithParams(t, b.dsn(user, name), "default_query_exec_mode="+mode)
			storetest.Run(t, func(t *testing.T) sessions.Store {
				if _, err := admin.Exec(`TRUNCATE http_sessions`); err != nil {
					t.Fatal(err)
				}
				return pgstore.New(pool)
			})
		})
	}
}

// TestBouncerHTTP runs login, read, write and logout for 16 concurrent
// clients through PgBouncer in transaction mode, with 0 failures.
func TestBouncerHTTP(t *testing.T) {
	b, user, name, direct := bouncerSetup(t)
	admin := openSQL(t, direct)
	for _, mode := range bouncerModes {
		t.Run(mode, func(t *testing.T) {
			pool := poolWithParams(t, b.dsn(user, name), "default_query_exec_mode="+mode+"&pool_max_conns=16")
			runFlows(t, pgstore.New(pool), 16, 5)
			var n int
			if err := admin.QueryRowContext(context.Background(), `SELECT count(*) FROM http_sessions`).Scan(&n); err != nil || n != 0 {
				t.Errorf("rows left after every client logged out: %d (err %v)", n, err)
			}
		})
	}
}

// TestBouncerMigrate: db.Migrate through a transaction pooler refuses,
// before changing anything, with an error that names the fix; over a
// direct connection it works (bouncerSetup migrated that way).
func TestBouncerMigrate(t *testing.T) {
	b, user, name, direct := bouncerSetup(t)
	admin := openSQL(t, direct)
	if _, err := admin.Exec(`DROP TABLE http_sessions; DROP TABLE http_sessions_retired; DROP TABLE sqlsession_goose_version`); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"cache_statement", "exec", "simple_protocol"} {
		viaBouncer := openSQL(t, b.dsn(user, name)+"&default_query_exec_mode="+mode)
		err := db.Migrate(context.Background(), viaBouncer, db.Postgres)
		if !errors.Is(err, db.ErrPooler) || !strings.Contains(err.Error(), "direct connection") {
			t.Errorf("%s: Migrate through PgBouncer: err = %v, want db.ErrPooler naming the fix", mode, err)
		}
		if testing.Verbose() {
			t.Logf("%s: %v", mode, err)
		}
	}
	var tables int
	if err := admin.QueryRow(`SELECT count(*) FROM pg_tables WHERE tablename IN ('http_sessions', 'http_sessions_retired', 'sqlsession_goose_version')`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("refused Migrate created %d tables (err %v)", tables, err)
	}
	if err := db.Migrate(context.Background(), admin, db.Postgres); err != nil {
		t.Fatalf("Migrate over the direct connection: %v", err)
	}
}
