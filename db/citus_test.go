package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgtest"
)

// On Citus, Migrate then Distribute gives a table distributed by id_hash,
// and both are no-ops when called again; the later migrations apply to a
// table distributed at version 1 (statement by statement), and roll back.
func TestCitusMigrateAndDistribute(t *testing.T) {
	e := pgtest.NewOn(t, pgtest.CitusDSN(t))
	ctx := context.Background()
	if err := db.MigrateTo(ctx, e.DB, db.Postgres, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Distribute(ctx, e.DB); err != nil {
		t.Fatalf("Distribute at version 1: %v", err)
	}
	if _, err := e.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		VALUES (sha256('a'), '{}', now() + interval '1 hour', now())`); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := db.Migrate(ctx, e.DB, db.Postgres); err != nil {
			t.Fatalf("Migrate #%d on a distributed table: %v", i+1, err)
		}
		if err := db.Distribute(ctx, e.DB); err != nil {
			t.Fatalf("Distribute #%d of a distributed table: %v", i+1, err)
		}
	}
	assertDistributed(t, e.DB)
	var bucketed int
	if err := e.DB.QueryRow(`SELECT count(*) FROM http_sessions WHERE expires_bucket <= expires_at`).Scan(&bucketed); err != nil || bucketed != 1 {
		t.Errorf("rows with expires_bucket after the upgrade: %d, %v; want 1", bucketed, err)
	}
	if err := db.MigrateReset(ctx, e.DB, db.Postgres); err != nil {
		t.Fatalf("MigrateReset of a distributed table: %v", err)
	}
}

// Distributing a table that already holds rows moves them to the shards
// and leaves no copy on the coordinator.
func TestCitusDistributeMovesRows(t *testing.T) {
	e := pgtest.NewOn(t, pgtest.CitusDSN(t))
	ctx := context.Background()
	if err := db.Migrate(ctx, e.DB, db.Postgres); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT sha256(i::text::bytea), '{}', now() + interval '1 hour', now() FROM generate_series(1, 100) AS i`); err != nil {
		t.Fatal(err)
	}
	if err := db.Distribute(ctx, e.DB); err != nil {
		t.Fatal(err)
	}
	assertDistributed(t, e.DB)
	var n, local int
	if err := e.DB.QueryRow(`SELECT count(*) FROM http_sessions`).Scan(&n); err != nil || n != 100 {
		t.Errorf("rows after Distribute: %d, %v; want 100", n, err)
	}
	// The coordinator's own heap of the shell table must be empty.
	if err := e.DB.QueryRow(`SELECT pg_relation_size('http_sessions')`).Scan(&local); err != nil || local != 0 {
		t.Errorf("coordinator's local copy: %d bytes, %v; want 0", local, err)
	}
}

// Through a worker node, Migrate and Distribute refuse with
// ErrCitusWorker before changing anything.
func TestCitusWorkerRefused(t *testing.T) {
	e := pgtest.NewOn(t, pgtest.CitusDSN(t)) // the schema exists on every node
	var host string
	var port int
	if err := e.DB.QueryRow(`SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 ORDER BY nodeport LIMIT 1`).Scan(&host, &port); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = fmt.Sprintf("%s:%d", host, port)
	worker, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Close()
	ctx := context.Background()
	if err := db.Migrate(ctx, worker, db.Postgres); !errors.Is(err, db.ErrCitusWorker) {
		t.Errorf("Migrate through a worker: err = %v, want ErrCitusWorker", err)
	}
	if err := db.Distribute(ctx, worker); !errors.Is(err, db.ErrCitusWorker) {
		t.Errorf("Distribute through a worker: err = %v, want ErrCitusWorker", err)
	}
	var tables int
	if err := worker.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = $1`, e.Schema).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("tables the refused calls left on the worker: %d, %v; want 0", tables, err)
	}
}

// Distribute without Citus does nothing (and needs no table).
func TestDistributeWithoutCitus(t *testing.T) {
	e := pgtest.New(t)
	if pgtest.IsCitus(t, e) {
		t.Skip("the test server is Citus: see TestCitusMigrateAndDistribute")
	}
	if err := db.Distribute(context.Background(), e.DB); err != nil {
		t.Errorf("Distribute without Citus: %v, want nil", err)
	}
}

func assertDistributed(t *testing.T, conn *sql.DB) {
	t.Helper()
	colocation := map[string]int{}
	for _, table := range []string{db.TableName, db.RetiredTableName} {
		var method, column string
		var group int
		err := conn.QueryRow(`SELECT partmethod::text, column_to_column_name(logicalrelid, partkey), colocationid
			FROM pg_dist_partition WHERE logicalrelid = $1::regclass`, table).Scan(&method, &column, &group)
		if err != nil || method != "h" || column != "id_hash" {
			t.Errorf("%s distribution: method %q column %q, %v; want hash on id_hash", table, method, column, err)
		}
		colocation[table] = group
	}
	if colocation[db.TableName] != colocation[db.RetiredTableName] {
		t.Errorf("colocation groups %v: the retired ids' table must be colocated with http_sessions", colocation)
	}
}
