package sqlitestore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the driver Open uses; any database/sql SQLite driver works with New

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

// Sessions in a SQLite file: Open applies the recommended settings (WAL,
// busy timeout), Migrate creates the table, New gives the Store.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "sqlsession-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	conn, err := sqlitestore.Open(ctx, filepath.Join(dir, "sessions.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if err := db.Migrate(ctx, conn, db.SQLite); err != nil {
		log.Fatal(err)
	}
	m, err := sessions.New(sqlitestore.New(conn), sessions.Options{Secrets: []string{"a-secret-from-the-environment-32+-bytes"}})
	fmt.Println(m != nil, err)
	// Output: true <nil>
}
