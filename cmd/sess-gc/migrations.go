package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sqlsession/sqlsession/db"
)

const migrationsUsage = `sess-gc migrations writes sqlsession's goose migration files out, for teams
that run goose themselves.

Usage:
  sess-gc migrations -dump DIR [-driver postgres|sqlite]

Then, with sqlsession's own version table:
  goose -dir DIR -table ` + db.VersionTable + ` postgres "$DATABASE_URL" up

Flags:
`

// runMigrations is the "migrations" subcommand: it copies the embedded
// migration files of one dialect into a directory and lists them.
func runMigrations(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("sess-gc migrations", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	dir := fset.String("dump", "", "directory to write the .sql files to (created if missing; files are overwritten)")
	driver := fset.String("driver", "postgres", "dialect of the files: postgres or sqlite")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, migrationsUsage)
			fset.SetOutput(stderr)
			fset.PrintDefaults()
			return exitOK
		}
		return usage(stderr, err.Error())
	}
	switch {
	case fset.NArg() > 0:
		return usage(stderr, fmt.Sprintf("unexpected argument %q", fset.Arg(0)))
	case *dir == "":
		return usage(stderr, "migrations: -dump DIR is required")
	case *driver != "postgres" && *driver != "sqlite":
		return usage(stderr, fmt.Sprintf("unknown -driver %q (want postgres or sqlite)", *driver))
	}
	if err := dumpMigrations(db.Dialect(*driver), *dir, stdout); err != nil {
		fmt.Fprintf(stderr, "sess-gc: migrations: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func usage(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "sess-gc: %s (see sess-gc migrations -h)\n", msg)
	return exitUsage
}

// dumpMigrations writes every file of db.Migrations(d) into dir and prints
// each path written.
func dumpMigrations(d db.Dialect, dir string, stdout io.Writer) error {
	fsys, err := db.Migrations(d)
	if err != nil {
		return err
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, path)
	}
	return nil
}
