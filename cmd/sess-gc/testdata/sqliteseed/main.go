// Command sqliteseed fills a SQLite sessions database for sess-gc's tests:
// it runs as its own (never race-instrumented) process, so that seeding
// hundreds of thousands of rows takes seconds under go test -race too.
//
//	sqliteseed PATH DEAD LIVE
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sqliteseed:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: sqliteseed PATH DEAD LIVE")
	}
	dead, err1 := strconv.Atoi(args[1])
	live, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("DEAD and LIVE must be numbers")
	}
	ctx := context.Background()
	conn, err := sqlitestore.Open(ctx, args[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := db.Migrate(ctx, conn, db.SQLite); err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	// About 360 bytes of JSON per session; dead ones expired up to a day ago.
	if _, err := conn.Exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
		INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
		SELECT randomblob(32),
		       json_object('cookie', json_object('originalMaxAge', 86400000, 'expires', '2026-01-01T00:00:00.000Z', 'httpOnly', json('true'), 'path', '/', 'sameSite', 'lax'),
		                   'user', 'user' || i || '@example.com', 'csrf', hex(randomblob(16)), 'flash', printf('%.120c', 'x')),
		       CASE WHEN i < ? THEN ? - 1000 - (i % 86400) * 1000 ELSE ? + 86400000 END,
		       ? - 172800000,
		       CASE WHEN i % 3 = 0 THEN 'user' || i END
		FROM n`, dead+live, dead, now, now, now); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	_, err = conn.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}
