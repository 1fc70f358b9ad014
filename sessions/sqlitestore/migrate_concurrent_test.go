package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/testsql"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

// migrators is how many migrate one file at once in these tests.
const migrators = 6

// openers are the two ways an application opens SQLite: the recommended
// DSN (WAL, busy_timeout, _txlock=immediate) and a plain one (no busy
// timeout, rollback journal).
var openers = map[string]func(path string) string{
	"DSN":   sqlitestore.DSN,
	"plain": func(path string) string { return "file:" + path },
}

// Several *sql.DB (app workers, sess-gc -migrate) migrate one new SQLite
// file at once (issue #19, item 7): every Migrate succeeds, each migration
// is applied and recorded once, and the schema is complete. Also an
// upgrade: the file is at version 2 and all migrate to the latest at once.
func TestMigrateSQLiteConcurrent(t *testing.T) {
	for name, dsn := range openers {
		for _, from := range []int64{0, 2} {
			t.Run(fmt.Sprintf("%s/from-%d", name, from), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "s.db")
				if from > 0 {
					first := openDSN(t, dsn(path))
					if err := db.MigrateTo(context.Background(), first, db.SQLite, from); err != nil {
						t.Fatal(err)
					}
					_ = first.Close()
				}
				conns := make([]*sql.DB, migrators)
				for i := range conns {
					conns[i] = openDSN(t, dsn(path))
				}
				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make([]error, migrators)
				for i, c := range conns {
					wg.Go(func() {
						<-start
						errs[i] = db.Migrate(context.Background(), c, db.SQLite)
					})
				}
				close(start)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("migrator %d: %v", i, err)
					}
				}
				assertMigratedOnce(t, conns[0])
			})
		}
	}
}

// The same with processes: this test binary, re-run as a helper that
// migrates the file named in SQLSESSION_MIGRATE_HELPER, several at once.
func TestMigrateSQLiteConcurrentProcesses(t *testing.T) {
	for _, from := range []int64{0, 2} {
		t.Run(fmt.Sprintf("from-%d", from), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s.db")
			if from > 0 {
				first := openDSN(t, "file:"+path)
				if err := db.MigrateTo(context.Background(), first, db.SQLite, from); err != nil {
					t.Fatal(err)
				}
				_ = first.Close()
			}
			goFile := filepath.Join(dir, "go")
			cmds := make([]*exec.Cmd, migrators)
			outs := make([][]byte, migrators)
			var wg sync.WaitGroup
			for i := range cmds {
				cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateHelperProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), "SQLSESSION_MIGRATE_HELPER="+path, "SQLSESSION_MIGRATE_GO="+goFile)
				cmds[i] = cmd
				wg.Go(func() { outs[i], _ = cmd.CombinedOutput() })
			}
			time.Sleep(300 * time.Millisecond) // let them start and open the file; not a timing assertion
			if err := os.WriteFile(goFile, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			for i, cmd := range cmds {
				if !cmd.ProcessState.Success() {
					t.Errorf("migrating process %d failed:\n%s", i, outs[i])
				}
			}
			assertMigratedOnce(t, openDSN(t, "file:"+path))
		})
	}
}

// TestMigrateHelperProcess is TestMigrateSQLiteConcurrentProcesses's
// migrating process; run directly, it does nothing.
func TestMigrateHelperProcess(t *testing.T) {
	path := os.Getenv("SQLSESSION_MIGRATE_HELPER")
	if path == "" {
		return
	}
	conn := openDSN(t, "file:"+path) // plain DSN: no busy timeout of its own
	for {
		if _, err := os.Stat(os.Getenv("SQLSESSION_MIGRATE_GO")); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := db.Migrate(context.Background(), conn, db.SQLite); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

func openDSN(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	conn, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// assertMigratedOnce checks the schema and that every version is recorded
// exactly once (version 0 included, as goose does).
func assertMigratedOnce(t *testing.T, conn *sql.DB) {
	t.Helper()
	assertSQLiteSchema(t, conn)
	got := testsql.Strings(t, conn, `SELECT version_id || 'x' || count(*) FROM sqlsession_goose_version GROUP BY version_id ORDER BY version_id`)
	want := []string{"0x1"} // goose's initial row, then one row per migration
	files, err := fs.Glob(mustMigrations(t), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for i := range files {
		want = append(want, fmt.Sprintf("%dx1", i+1))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("version rows (version x count) = %v, want %v", got, want)
	}
}

func mustMigrations(t *testing.T) fs.FS {
	t.Helper()
	fsys, err := db.Migrations(db.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}
