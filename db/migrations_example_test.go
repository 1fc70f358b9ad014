package db_test

import (
	"fmt"
	"io/fs"
	"log"

	"github.com/sqlsession/sqlsession/db"
)

// Teams that run goose themselves hand it sqlsession's files and version
// table, for example goose.NewProvider(goose.DialectPostgres, conn, fsys,
// goose.WithTableName(db.VersionTable)), or copy the files out with
// `sess-gc migrations -dump DIR` for the goose CLI.
func ExampleMigrations() {
	fsys, err := db.Migrations(db.Postgres)
	if err != nil {
		log.Fatal(err)
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(names, "with -table", db.VersionTable)
	// Output: [00001_create_http_sessions.sql 00002_expires_bucket.sql 00003_device.sql 00004_retired_ids.sql] with -table sqlsession_goose_version
}
