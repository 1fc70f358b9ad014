package db_test

import (
	"context"
	"database/sql"
	"log"
	"os"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/sqlsession/sqlsession/db"
)

// Migrate on every start: it applies what is pending, once, even when
// several instances start together. (It needs a server, so it is compiled
// but not run here.) Run it over a direct connection, not through
// PgBouncer.
func ExampleMigrate() {
	conn, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if err := db.Migrate(context.Background(), conn, db.Postgres); err != nil {
		log.Fatal(err)
	}
}
