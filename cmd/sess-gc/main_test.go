package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds sess-gc once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sess-gc-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sess-gc")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type result struct {
	code           int
	stdout, stderr string
}

func runGC(t testing.TB, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

var summaryRE = regexp.MustCompile(`^deleted=(\d+) batches=(\d+) took=\S+\n$`)

// migratedRE is the summary of a first -migrate run on an empty database.
var migratedRE = regexp.MustCompile(`^deleted=0 batches=0 took=\S+ migrated=1,2,3,4 schema_version=4\n$`)

func parseDeleted(t testing.TB, stdout string) (deleted, batches int) {
	t.Helper()
	m := summaryRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("summary line %q does not match %s", stdout, summaryRE)
	}
	deleted, _ = strconv.Atoi(m[1])
	batches, _ = strconv.Atoi(m[2])
	return deleted, batches
}

func TestUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"no driver":        {"-dsn", "x"},
		"unknown driver":   {"-driver", "mysql", "-dsn", "x"},
		"no dsn":           {"-driver", "sqlite"},
		"blank dsn":        {"-driver", "postgres", "-dsn", "  "},
		"once and every":   {"-driver", "sqlite", "-dsn", "x", "-once", "-every", "1m"},
		"zero batch":       {"-driver", "sqlite", "-dsn", "x", "-batch", "0"},
		"unknown flag":     {"-driver", "sqlite", "-dsn", "x", "-bogus"},
		"bad postgres dsn": {"-driver", "postgres", "-dsn", "postgres://%zz"},
		"bad wal rate":     {"-driver", "postgres", "-dsn", "x", "-wal-rate", "fast"},
		"wal rate unit":    {"-driver", "postgres", "-dsn", "x", "-wal-rate", "64MiB"},
		"wal rate sqlite":  {"-driver", "sqlite", "-dsn", "x", "-wal-rate", "64MB"},
		"wal compression":  {"-driver", "postgres", "-dsn", "x", "-wal-compression", "gzip"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			r := runGC(t, []string{"DATABASE_URL="}, args...)
			if r.code != exitUsage || r.stdout != "" || !strings.HasPrefix(r.stderr, "sess-gc: ") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and a sess-gc: line", r.code, r.stdout, r.stderr)
			}
		})
	}
	// An empty DSN is never passed on: libpq-style defaults would reach some
	// database (the local one, as the OS user) and migrate or reap it.
	r := runGC(t, []string{"DATABASE_URL= "}, "-driver", "postgres", "-migrate")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no DSN: pass -dsn or set DATABASE_URL") {
		t.Errorf("empty DATABASE_URL: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runGC(t, nil, "-h")
	if r.code != 0 || !strings.Contains(r.stderr, "Examples:") || !strings.Contains(r.stderr, "-dry-run") || !strings.Contains(r.stderr, "-wal-rate") {
		t.Errorf("-h: exit %d, %q", r.code, r.stderr)
	}
}

// Connection errors are one line that says where, as whom and why, each
// once (pgconn's own text repeats the address three times).
func TestConnectErrorWording(t *testing.T) {
	cases := []struct {
		name, dsn, want string
		code            int
	}{
		{"not a DSN", "notadsn", "sess-gc: bad postgres DSN `notadsn`: failed to parse as keyword/value (invalid keyword/value)\n", exitUsage},
		{"bad URL, password masked", "postgres://u:secret@h/%zz?sslmode=bogus", "sess-gc: bad postgres DSN `postgres://u:xxxxx@h/%zz?sslmode=bogus`: failed to parse as URL (invalid percent-encoded token: \"%zz\")\n", exitUsage},
		{"empty DSN", "", "sess-gc: no DSN: pass -dsn or set DATABASE_URL; sess-gc never guesses a database (see sess-gc -h)\n", exitUsage},
		{"refused port", "postgres://postgres@127.0.0.1:1/x?connect_timeout=2", "sess-gc: cannot connect to postgres at 127.0.0.1:1 (user postgres, database x): connection refused\n", exitFailure},
		{"refused port, sslmode=prefer tries twice", "postgres://postgres@127.0.0.1:1/x", "sess-gc: cannot connect to postgres at 127.0.0.1:1 (user postgres, database x): connection refused\n", exitFailure},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runGC(t, []string{"DATABASE_URL="}, "-driver", "postgres", "-dsn", c.dsn)
			if r.code != c.code || r.stdout != "" || r.stderr != c.want {
				t.Errorf("exit %d, stdout %q, stderr\n%q\nwant exit %d, stderr\n%q", r.code, r.stdout, r.stderr, c.code, c.want)
			}
		})
	}
	t.Run("missing database", func(t *testing.T) {
		server := pgtest.ServerDSN(t)
		cfg, err := pgconn.ParseConfig(server)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(server)
		if err != nil || u.Scheme == "" {
			t.Skipf("%s is not a URL", pgtest.EnvDSN)
		}
		u.Path = "/sqlsession_no_such_db"
		r := runGC(t, nil, "-driver", "postgres", "-dsn", u.String())
		want := fmt.Sprintf("sess-gc: cannot connect to postgres at %s:%d (user %s, database sqlsession_no_such_db): database \"sqlsession_no_such_db\" does not exist (SQLSTATE 3D000)\n", cfg.Host, cfg.Port, cfg.User)
		if r.code != exitFailure || r.stderr != want {
			t.Errorf("exit %d, stderr\n%q\nwant exit 1, stderr\n%q", r.code, r.stderr, want)
		}
	})
}

func TestRuntimeErrors(t *testing.T) {
	r := runGC(t, nil, "-driver", "postgres", "-dsn", "postgres://postgres@127.0.0.1:1/x?connect_timeout=2")
	if r.code != exitFailure || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "cannot connect to postgres") {
		t.Errorf("unreachable: exit %d, stderr %q; want exit 1 and one line", r.code, r.stderr)
	}
	missing := filepath.Join(t.TempDir(), "missing.db")
	r = runGC(t, nil, "-driver", "sqlite", "-dsn", missing)
	if r.code != exitFailure || !strings.Contains(r.stderr, "unable to open") {
		t.Errorf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("sess-gc created the database file it was pointed at by mistake")
	}
	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r = runGC(t, nil, "-driver", "sqlite", "-dsn", empty)
	if r.code != exitFailure || !strings.Contains(r.stderr, "table http_sessions not found: create it with sess-gc -migrate") {
		t.Errorf("no table: exit %d, stderr %q", r.code, r.stderr)
	}
}

func seedSQLite(t *testing.T, conn *sql.DB, dead, live int) {
	t.Helper()
	now := time.Now().UnixMilli()
	tx, err := conn.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range dead + live {
		exp := now - 60_000
		if i >= dead {
			exp = now + 3_600_000
		}
		if _, err := tx.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at) VALUES (randomblob(32), '{}', ?, ?)`, exp, now-7_200_000); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func countRows(t testing.TB, conn *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	if r := runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-migrate"); r.code != 0 || !migratedRE.MatchString(r.stdout) {
		t.Fatalf("-migrate on a new file: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	conn, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	seedSQLite(t, conn, 30, 5)

	r := runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-dry-run")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "would_delete=30 dry_run=true took=") {
		t.Fatalf("dry run: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM http_sessions`); n != 35 {
		t.Fatalf("dry run deleted rows: %d left", n)
	}
	r = runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-batch", "7", "-once")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if d, b := parseDeleted(t, r.stdout); d != 30 || b != 5 {
		t.Errorf("deleted=%d batches=%d, want 30 in 5 batches of 7", d, b)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM http_sessions`); n != 5 {
		t.Errorf("%d rows left, want the 5 live ones", n)
	}
	r = runGC(t, []string{"DATABASE_URL=" + path}, "-driver", "sqlite", "-json")
	var s summary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || r.code != 0 || s.Deleted != 0 || s.DryRun {
		t.Errorf("-json with DATABASE_URL: exit %d %q (%v)", r.code, r.stdout, err)
	}
}

func TestPostgresConcurrentReapers(t *testing.T) {
	e := pgtest.Migrated(t)
	const dead, live = 20000, 50
	if _, err := e.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT sha256(('dead' || i)::bytea), '{}', now() - interval '1 minute', now() - interval '2 hours' FROM generate_series(1, $1) i`, dead); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT sha256(('live' || i)::bytea), '{}', now() + interval '1 hour', now() FROM generate_series(1, $1) i`, live); err != nil {
		t.Fatal(err)
	}
	r := runGC(t, nil, "-driver", "postgres", "-dsn", e.DSN, "-dry-run")
	if r.code != 0 || !strings.HasPrefix(r.stdout, fmt.Sprintf("would_delete=%d ", dead)) {
		t.Fatalf("dry run: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	var wg sync.WaitGroup
	results := make([]result, 3)
	paced := !pgtest.IsCitus(t, e) // Citus refuses a WAL budget (its workers write the WAL)
	for i := range results {
		args := []string{"-driver", "postgres", "-dsn", e.DSN, "-batch", "200"}
		if i == 0 && paced { // one of them paced by a WAL budget (large enough not to slow the test)
			args = append(args, "-wal-rate", "1GB")
		}
		wg.Go(func() { results[i] = runGC(t, nil, args...) })
	}
	wg.Wait()
	total := 0
	for i, r := range results {
		if r.code != 0 || r.stderr != "" {
			t.Errorf("reaper %d: exit %d, stderr %q", i, r.code, r.stderr)
			continue
		}
		d, _ := parseDeleted(t, r.stdout)
		total += d
	}
	if total != dead {
		t.Errorf("reapers deleted %d rows between them, want exactly %d", total, dead)
	}
	if n := countRows(t, e.DB, `SELECT count(*) FROM http_sessions`); n != live {
		t.Errorf("%d rows left, want the %d live ones", n, live)
	}
}

func TestEveryStopsOnSIGTERM(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	if r := runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-migrate"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	cmd := exec.Command(binary(t), "-driver", "sqlite", "-dsn", path, "-every", "1h")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err == nil {
		line = unstamp(t, line)
	}
	if err != nil || !summaryRE.MatchString(line) {
		_ = cmd.Process.Kill()
		t.Fatalf("first run: %q %v", line, err)
	}
	stopAndWait(t, cmd, &stderr, "after a run of -every")
}

func TestMigrateRunTwice(t *testing.T) {
	e := pgtest.New(t)
	for i, want := range []string{" migrated=1,2,3,4 schema_version=4\n", " migrated=none schema_version=4\n"} {
		r := runGC(t, nil, "-driver", "postgres", "-dsn", e.DSN, "-migrate")
		if r.code != 0 {
			t.Fatalf("run %d with -migrate: exit %d %s", i+1, r.code, r.stderr)
		}
		if !strings.HasPrefix(r.stdout, "deleted=0 batches=0 took=") || !strings.HasSuffix(r.stdout, want) {
			t.Errorf("run %d with -migrate printed %q, want a summary ending in %q", i+1, r.stdout, want)
		}
	}
	fsys, err := db.Migrations(db.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(fsys, "*.sql")
	if n := countRows(t, e.DB, `SELECT count(*) FROM `+db.VersionTable+` WHERE version_id > 0`); n != len(files) {
		t.Errorf("%s records %d migrations, want %d (one per file), each once", db.VersionTable, n, len(files))
	}
	if pgtest.IsCitus(t, e) { // make test-citus: -migrate distributes the table too
		if n := countRows(t, e.DB, `SELECT count(*) FROM pg_dist_partition WHERE logicalrelid IN ('http_sessions'::regclass, 'http_sessions_retired'::regclass)`); n != 2 {
			t.Errorf("on Citus, http_sessions is not distributed after -migrate")
		}
	}
}

// -migrate says which versions it applied, or that none were pending, in
// the summary line and in -json; without -migrate the summary says nothing
// about migrations.
func TestMigrateReportsVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	r := runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-migrate")
	if r.code != 0 || !migratedRE.MatchString(r.stdout) {
		t.Fatalf("-migrate on a new file: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-migrate", "-dry-run")
	if r.code != 0 || !regexp.MustCompile(`^would_delete=0 dry_run=true took=\S+ migrated=none schema_version=4\n$`).MatchString(r.stdout) {
		t.Fatalf("-migrate -dry-run when up to date: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Migrated      *[]int64 `json:"migrated"`
		SchemaVersion *int64   `json:"schema_version"`
	}
	r = runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-migrate", "-json")
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 {
		t.Fatalf("-migrate -json: exit %d, stdout %q: %v", r.code, r.stdout, err)
	}
	if out.Migrated == nil || len(*out.Migrated) != 0 || out.SchemaVersion == nil || *out.SchemaVersion != 4 {
		t.Errorf("-migrate -json when up to date = %s, want \"migrated\":[] and \"schema_version\":4", r.stdout)
	}
	fresh := filepath.Join(t.TempDir(), "fresh.db")
	r = runGC(t, nil, "-driver", "sqlite", "-dsn", fresh, "-migrate", "-json")
	if !strings.Contains(r.stdout, `"migrated":[1,2,3,4],"schema_version":4`) {
		t.Errorf("-migrate -json on a new file = %q, want migrated [1,2,3] and schema_version 3", r.stdout)
	}
	r = runGC(t, nil, "-driver", "sqlite", "-dsn", path, "-json")
	if strings.Contains(r.stdout, "migrated") || strings.Contains(r.stdout, "schema_version") {
		t.Errorf("without -migrate the summary mentions migrations: %q", r.stdout)
	}
}

// sess-gc migrations -dump writes exactly the files db.Migrations holds.
func TestMigrationsDump(t *testing.T) {
	for _, d := range []db.Dialect{db.Postgres, db.SQLite} {
		dir := filepath.Join(t.TempDir(), "nested", "migrations")
		r := runGC(t, nil, "migrations", "-dump", dir, "-driver", string(d))
		if r.code != 0 {
			t.Fatalf("%s: exit %d, stderr %q", d, r.code, r.stderr)
		}
		fsys, err := db.Migrations(d)
		if err != nil {
			t.Fatal(err)
		}
		names, err := fs.Glob(fsys, "*.sql")
		if err != nil || len(names) < 2 {
			t.Fatalf("%s: migrations %v, %v", d, names, err)
		}
		var paths []string
		for _, name := range names {
			want, err := fs.ReadFile(fsys, name)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name)
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%s: %v", d, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: dumped %s differs from db.Migrations", d, name)
			}
			paths = append(paths, path)
		}
		if want := strings.Join(paths, "\n") + "\n"; r.stdout != want {
			t.Errorf("%s: stdout = %q, want the paths written, one a line: %q", d, r.stdout, want)
		}
	}
	for _, args := range [][]string{{"migrations"}, {"migrations", "-dump", t.TempDir(), "-driver", "mysql"}} {
		if r := runGC(t, nil, args...); r.code != 2 || !strings.Contains(r.stderr, "sess-gc: ") {
			t.Errorf("%v: exit %d stderr %q, want 2 and a one-line error", args, r.code, r.stderr)
		}
	}
}

// unstamp checks that line starts with an RFC 3339 timestamp and a space,
// and returns the rest.
func unstamp(t *testing.T, line string) string {
	t.Helper()
	ts, rest, ok := strings.Cut(line, " ")
	if _, err := time.Parse(time.RFC3339, ts); !ok || err != nil {
		t.Fatalf("line %q does not start with an RFC 3339 timestamp", line)
	}
	return rest
}

// A run that fails for a reason that may pass (an unreachable server) is
// logged and retried; after -max-failures in a row sess-gc exits 1.
func TestEveryRetriesThenGivesUp(t *testing.T) {
	r := runGC(t, nil, "-driver", "postgres", "-dsn", "postgres://postgres@127.0.0.1:1/x?connect_timeout=2",
		"-every", "50ms", "-max-failures", "3")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.code != exitFailure || r.stdout != "" || len(lines) != 3 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 after three logged failures", r.code, r.stdout, r.stderr)
	}
	for i, want := range []string{
		"sess-gc: run failed (1 of 3 in a row), retrying in 50ms: cannot connect to postgres",
		"sess-gc: run failed (2 of 3 in a row), retrying in 50ms: cannot connect to postgres",
		"sess-gc: giving up after 3 failed runs in a row (-max-failures 3): cannot connect to postgres",
	} {
		if got := unstamp(t, lines[i]); !strings.HasPrefix(got, want) {
			t.Errorf("line %d = %q, want it to start with %q", i+1, got, want)
		}
	}
}

// Errors the next run would hit again (here: no table) end sess-gc -every
// at once.
func TestEveryPermanentErrorExitsAtOnce(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pg := pgtest.New(t) // a schema without http_sessions: SQLSTATE 42P01
	for name, args := range map[string][]string{
		"sqlite":   {"-driver", "sqlite", "-dsn", empty},
		"postgres": {"-driver", "postgres", "-dsn", pg.DSN},
	} {
		r := runGC(t, nil, append(args, "-every", "50ms", "-max-failures", "0")...)
		if r.code != exitFailure || strings.Count(r.stderr, "\n") != 1 ||
			!strings.HasPrefix(unstamp(t, r.stderr), "sess-gc: giving up, retrying cannot fix this: table http_sessions not found") {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 with one line", name, r.code, r.stderr)
		}
	}
}

// A failed run is retried at the next tick: once the database appears,
// the next run succeeds and prints its time-stamped summary.
func TestEveryRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.db")
	// -max-failures 0: on a loaded machine creating the file may take
	// longer than the default five failed runs.
	cmd := exec.Command(binary(t), "-driver", "sqlite", "-dsn", path, "-every", "100ms", "-max-failures", "0")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	errLine, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil || !strings.HasPrefix(unstamp(t, errLine), "sess-gc: run failed (1 in a row), retrying in 100ms: open sqlite") {
		t.Fatalf("first run on a missing file: %q %v", errLine, err)
	}
	// The database appears at once, migrated (created in place, a run could
	// see it without its table, an error retrying cannot fix).
	tmp := filepath.Join(t.TempDir(), "tmp.db")
	if r := runGC(t, nil, "-driver", "sqlite", "-dsn", tmp, "-migrate"); r.code != 0 {
		t.Fatalf("creating the database: %s", r.stderr)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !summaryRE.MatchString(unstamp(t, line)) {
		rest, _ := io.ReadAll(stderr)
		t.Fatalf("after the database appeared: %q %v (stderr %q)", line, err, rest)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
}

// stopAndWait sends SIGTERM to cmd and fails t unless it exits 0 within 30 s.
func stopAndWait(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer, when string) {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("SIGTERM %s: %v (stderr %q), want exit 0", when, err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("sess-gc did not stop on SIGTERM %s", when)
	}
}

func TestParseByteRate(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "4096": 4096, "512B": 512, "64kB": 64 << 10, "96MB": 96 << 20, "96 MB/s": 96 << 20, "2GB": 2 << 30,
	} {
		if got, err := parseByteRate(in); err != nil || got != want {
			t.Errorf("parseByteRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1MB", "1.5MB", "64MiB", "64mb", "9999999999GB"} {
		if got, err := parseByteRate(in); err == nil {
			t.Errorf("parseByteRate(%q) = %d, want an error", in, got)
		}
	}
}
