package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/internal/pgtest"
)

// walCompressionOf connects to dsn as sess-gc would with -wal-compression
// method and returns the session's wal_compression.
func walCompressionOf(t *testing.T, dsn, method string) string {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	compressWAL(cfg, method)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var got string
	if err := pool.QueryRow(context.Background(), "SHOW wal_compression").Scan(&got); err != nil {
		t.Fatalf("-wal-compression %s: %v", method, err)
	}
	return got
}

func TestWALCompressionForItsOwnSession(t *testing.T) {
	e := pgtest.New(t) // the tests connect as a superuser, who may set it
	var server string
	if err := e.Pool.QueryRow(context.Background(), "SHOW wal_compression").Scan(&server); err != nil {
		t.Fatal(err)
	}
	if got := walCompressionOf(t, e.DSN, "pglz"); got != "pglz" {
		t.Errorf("-wal-compression pglz: session has %q", got)
	}
	if got := walCompressionOf(t, e.DSN, "off"); got != server {
		t.Errorf("-wal-compression off: session has %q, want the server's %q", got, server)
	}
	// A value the server refuses (as one built without lz4 refuses lz4)
	// leaves the setting alone instead of failing the connection.
	if got := walCompressionOf(t, e.DSN, "no-such-method"); got != server {
		t.Errorf("refused method: session has %q, want the server's %q", got, server)
	}
	// The DSN's own setting wins.
	dsn := e.DSN + " wal_compression=pglz"
	if strings.Contains(e.DSN, "://") {
		dsn = e.DSN + "&wal_compression=pglz" // pgtest's DSN has a query already (search_path)
	}
	if got := walCompressionOf(t, dsn, "lz4"); got != "pglz" {
		t.Errorf("DSN with wal_compression=pglz: session has %q", got)
	}
}
