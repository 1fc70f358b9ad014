// Package testpg finds a PostgreSQL server for the integration tests:
// SQLSESSION_TEST_POSTGRES_DSN when set, else a postgres:16-alpine container
// from testcontainers-go when a Docker engine answers, else the test is
// skipped with a one-line reason, or failed when
// SQLSESSION_REQUIRE_POSTGRES=1 (CI). Each test gets its own random schema
// (internal/pgtest), dropped when it ends.
package testpg

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgtest"
)

var (
	once      sync.Once
	serverDSN string
	whyNot    string
)

// ServerDSN returns the DSN of the server to test against.
func ServerDSN(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv(pgtest.EnvDSN); dsn != "" {
		return dsn
	}
	once.Do(func() { serverDSN, whyNot = startContainer() })
	if serverDSN == "" {
		pgtest.Unavailable(t, whyNot+"; set "+pgtest.EnvDSN+" to a server (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) or start a Docker engine")
	}
	return serverDSN
}

// Migrated returns a private, migrated schema on the server (with the
// table distributed when the server is a Citus coordinator).
func Migrated(t testing.TB) *pgtest.Env {
	t.Helper()
	e := pgtest.NewOn(t, ServerDSN(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Migrate(ctx, e.DB, db.Postgres); err != nil {
		t.Fatalf("testpg: migrate: %v", err)
	}
	if err := db.Distribute(ctx, e.DB); err != nil { // on Citus (make test-citus); a no-op elsewhere
		t.Fatalf("testpg: distribute: %v", err)
	}
	return e
}

// startContainer starts postgres:16-alpine, or says why it could not. The
// container lives as long as the test process; testcontainers' reaper
// removes it afterwards.
func startContainer() (dsn, why string) {
	defer func() {
		if r := recover(); r != nil { // testcontainers panics in some no-Docker setups
			dsn, why = "", fmt.Sprintf("no Docker engine (testcontainers: %v)", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	provider, err := testcontainers.ProviderDefault.GetProvider()
	if err != nil {
		return "", "no Docker engine: " + err.Error()
	}
	if err := provider.Health(ctx); err != nil {
		_ = provider.Close()
		return "", "no Docker engine answers: " + err.Error()
	}
	_ = provider.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctr, err := tcpostgres.Run(ctx, "postgres:16-alpine",
		tcpostgres.WithDatabase("sqlsession"), tcpostgres.WithUsername("postgres"), tcpostgres.WithPassword("postgres"),
		tcpostgres.BasicWaitStrategies())
	if err != nil {
		return "", "testcontainers could not start postgres:16-alpine: " + err.Error()
	}
	dsn, err = ctr.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		return "", "testcontainers: " + err.Error()
	}
	return dsn, ""
}
