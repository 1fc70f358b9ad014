// Package pgtest gives tests a private schema on a real PostgreSQL server.
//
// The server is named by SQLSESSION_TEST_POSTGRES_DSN. When it is unset the
// test is skipped with a one-line reason, unless SQLSESSION_REQUIRE_POSTGRES=1
// (as in CI), which makes it a failure. Each call creates a schema with a
// random name, points every connection's search_path at it, and drops it
// (CASCADE) when the test ends, so concurrent runs never see each other's
// rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/testskip"
)

// EnvDSN names the variable holding the test server's DSN.
const EnvDSN = "SQLSESSION_TEST_POSTGRES_DSN"

// EnvRequire names the variable that, set to 1, turns a missing server into
// a test failure instead of a skip.
const EnvRequire = "SQLSESSION_REQUIRE_POSTGRES"

// Required reports whether SQLSESSION_REQUIRE_POSTGRES=1.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Unavailable skips the test with reason (recorded for make test's
// summary, see internal/testskip), or fails it when Postgres is required.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	testskip.Skip(t, testskip.Postgres, EnvRequire, reason)
}

// ServerDSN returns SQLSESSION_TEST_POSTGRES_DSN, or skips (fails when
// required) if it is unset.
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		Unavailable(t, "set "+EnvDSN+" (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return dsn
}

// Env is one test's private schema.
type Env struct {
	Schema string        // the random schema name
	DSN    string        // a DSN whose connections use the schema
	Pool   *pgxpool.Pool // a pool on DSN, closed at cleanup
	DB     *sql.DB       // a database/sql handle on DSN (pgx stdlib), closed at cleanup
}

// New creates an empty private schema on the server named by
// SQLSESSION_TEST_POSTGRES_DSN.
func New(t testing.TB) *Env {
	t.Helper()
	return NewOn(t, ServerDSN(t))
}

// Migrated is New followed by db.Migrate and db.Distribute: on a Citus
// coordinator (SQLSESSION_TEST_POSTGRES_DSN pointed at one, as make
// test-citus does) the table is distributed by id_hash; elsewhere
// Distribute does nothing.
func Migrated(t testing.TB) *Env {
	t.Helper()
	e := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Migrate(ctx, e.DB, db.Postgres); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	if err := db.Distribute(ctx, e.DB); err != nil {
		t.Fatalf("pgtest: distribute: %v", err)
	}
	return e
}

// IsCitus reports whether the test server is a Citus coordinator (the
// citus extension is installed in its database).
func IsCitus(t testing.TB, e *Env) bool {
	t.Helper()
	var citus bool
	if err := e.DB.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil {
		t.Fatalf("pgtest: look for citus: %v", err)
	}
	return citus
}

// EnvCitusDSN names the variable holding the DSN of a Citus coordinator
// (.ci/run starts a private cluster and sets it).
const EnvCitusDSN = "SQLSESSION_TEST_CITUS_DSN"

// EnvRequireCitus names the variable that, set to 1 (CI), turns a missing
// Citus cluster into a test failure instead of a skip.
const EnvRequireCitus = "SQLSESSION_REQUIRE_CITUS"

// CitusDSN returns SQLSESSION_TEST_CITUS_DSN, or skips the test with one
// line (fails it when SQLSESSION_REQUIRE_CITUS=1) if it is unset.
func CitusDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvCitusDSN)
	if dsn == "" {
		if os.Getenv(EnvRequireCitus) == "1" {
			t.Fatalf("citus required (%s=1) but %s is unset", EnvRequireCitus, EnvCitusDSN)
		}
		t.Skipf("citus unavailable: set %s (../shared/citus/cluster.sh start prints one; .ci/run does it)", EnvCitusDSN)
	}
	return dsn
}

// Citus is NewOn the Citus coordinator of CitusDSN, migrated and with the
// table distributed.
func Citus(t testing.TB) *Env {
	t.Helper()
	e := NewOn(t, CitusDSN(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Migrate(ctx, e.DB, db.Postgres); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	if err := db.Distribute(ctx, e.DB); err != nil {
		t.Fatalf("pgtest: distribute: %v", err)
	}
	return e
}

// NewOn creates an empty private schema on the server at serverDSN.
func NewOn(t testing.TB, serverDSN string) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	admin, err := pgx.Connect(ctx, serverDSN)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvDSN, err)
	}
	defer admin.Close(context.Background())

	schema := "sqlsession_test_" + randomHex(8)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, serverDSN)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})

	e := &Env{Schema: schema, DSN: WithSearchPath(serverDSN, schema)}
	var citus bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil {
		t.Fatalf("pgtest: look for citus: %v", err)
	}
	if citus {
		e.DSN = withParam(e.DSN, "citus.shard_count", CitusShards)
	}
	pcfg, err := pgxpool.ParseConfig(e.DSN)
	if err != nil {
		t.Fatalf("pgtest: parse dsn: %v", err)
	}
	e.Pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	t.Cleanup(e.Pool.Close)

	ccfg, err := pgx.ParseConfig(e.DSN)
	if err != nil {
		t.Fatalf("pgtest: parse dsn: %v", err)
	}
	e.DB = stdlib.OpenDB(*ccfg)
	t.Cleanup(func() { _ = e.DB.Close() })
	return e
}

// CitusShards is the citus.shard_count of the tests' tables on Citus: 4
// (over 2 workers) instead of Citus's 32 keeps every multi-shard path (a
// per-user statement meets shards on both workers) and makes creating and
// dropping a test's table about 5 times faster.
const CitusShards = "4"

// CitusShardCount is CitusShards as a number.
const CitusShardCount = 4

// withParam returns dsn (URL or keyword/value form) with a run-time
// parameter set.
func withParam(dsn, name, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set(name, value)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return strings.TrimSpace(dsn) + " " + name + "=" + value
}

// WithSearchPath returns dsn (URL or keyword/value form) with its
// search_path set to schema.
func WithSearchPath(dsn, schema string) string {
	return withParam(dsn, "search_path", schema)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
