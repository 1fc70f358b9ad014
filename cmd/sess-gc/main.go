// Command sess-gc deletes expired sqlsession sessions, from cron or as a
// long-running process. Several copies may run against one database at
// once: on Postgres each batch skips rows another copy is deleting.
//
//	sess-gc -driver postgres -dsn "$DATABASE_URL" -once
//	sess-gc -driver sqlite -dsn /var/lib/app/sessions.db -every 5m
//	sess-gc migrations -dump ./migrations/sqlsession   # for teams that run goose themselves
//
// It prints one summary line per run on stdout (deleted=N batches=B
// took=D, or JSON with -json) and logs the rest on stderr. Exit status: 0
// on success (also when stopped by SIGINT/SIGTERM, after the batch in
// flight), 1 when the run failed, 2 for a usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions"
)

// sqliteBatch is sess-gc's default batch on SQLite: another process's
// writes wait for a whole batch (and SQLite's busy-handler backoff), and
// 250 rows kept their p99 wait at ~13 ms against ~41 ms for 1,000, in the
// same total time (BENCHMARKS.md).
const sqliteBatch = 250

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageText is the start of sess-gc -h.
const usageText = `sess-gc deletes expired sqlsession sessions (table http_sessions) in batches.

Usage:
  sess-gc -driver postgres|sqlite -dsn DSN [-once | -every D] [-batch N] [-wal-rate R] [-wal-compression M] [-dry-run] [-migrate] [-vacuum] [-timeout D] [-json]
  sess-gc migrations -dump DIR [-driver postgres|sqlite]   (write the goose migration files out)

Examples:
  sess-gc -driver postgres -dsn 'postgres://app@db/app' -once
  DATABASE_URL=postgres://app@db/app sess-gc -driver postgres -every 5m
  sess-gc -driver sqlite -dsn /var/lib/app/sessions.db -dry-run

Output: one line per run on stdout, "deleted=N batches=B took=D"
("would_delete=N dry_run=true took=D" with -dry-run; " interrupted=true" when a
signal stopped the run; " migrated=1,2,3,4 schema_version=4" or " migrated=none
schema_version=4" with -migrate), or one JSON object per line with -json:
  deleted       rows deleted by this run (0 with -dry-run)
  batches       DELETE statements (of at most -batch rows) that deleted rows
  would_delete  with -dry-run only: expired rows a real run would delete now
  took_ms       duration of the run in milliseconds
  dry_run       true with -dry-run
  interrupted   present (true) when SIGINT/SIGTERM stopped the run: between
                batches, or cancelling -vacuum or -dry-run's count (then no
                would_delete); the exit status is still 0
  vacuumed      present (true) when -vacuum gave the freed space back after the run
  migrated      with -migrate: the migration versions applied ([] / "none" when none
                were pending); with -every, on the first run after connecting
  schema_version with -migrate: the schema version afterwards
  time          when the run ended, RFC 3339 (UTC)
With -every, every text line (stdout and stderr) starts with an RFC 3339
timestamp. A failed run is logged and retried at the next interval; sess-gc
exits 1 after -max-failures failed runs in a row, or at once on an error that
retrying cannot fix (missing table, permission denied, bad password, unknown
database). Exit status: 0 ok (also after SIGINT/SIGTERM), 1 run failed, 2 usage.

Flags:
`

type config struct {
	driver, dsn string
	once        bool
	every       time.Duration
	batch       int
	dryRun      bool
	migrate     bool
	timeout     time.Duration
	json        bool
	maxFailures int
	vacuum      bool
	walRate     int64 // bytes/s; 0: unpaced
	// walCompression is the wal_compression sess-gc asks for its own
	// Postgres sessions ("off": leave the server's).
	walCompression string
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("sess-gc", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line below; -h prints the usage
	fs.StringVar(&c.driver, "driver", "", "database: postgres or sqlite (required)")
	fs.StringVar(&c.dsn, "dsn", "", "database DSN: a postgres:// URL, or a SQLite file path or file: DSN (default $DATABASE_URL)")
	fs.BoolVar(&c.once, "once", false, "run once and exit (the default when -every is not given)")
	fs.DurationVar(&c.every, "every", 0, "run now, then at this interval until SIGINT/SIGTERM (e.g. 5m)")
	fs.IntVar(&c.batch, "batch", 0, fmt.Sprintf("rows deleted per statement (default %d on Postgres, %d on SQLite)", sessions.DefaultBatchSize, sqliteBatch))
	fs.Func("wal-rate", "Postgres: pace the batches to at most this much WAL per second, e.g. 64MB (units B, kB, MB, GB; 0: unpaced, the default), so that the application's commits do not queue behind the reaper's WAL; see docs/OPERATIONS.md", func(v string) error {
		n, err := parseByteRate(v)
		c.walRate = n
		return err
	})
	fs.StringVar(&c.walCompression, "wal-compression", "lz4", "Postgres: wal_compression for sess-gc's own sessions, when its role may set it (lz4, zstd, pglz, or off to leave the server's); a wal_compression in the DSN wins")
	fs.BoolVar(&c.dryRun, "dry-run", false, "count the expired sessions, delete nothing")
	fs.BoolVar(&c.migrate, "migrate", false, "apply sqlsession's migrations first (creates http_sessions; on a Citus coordinator also distributes it by id_hash)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "limit on one run (connecting, migrating and deleting)")
	fs.BoolVar(&c.json, "json", false, "print the summary as JSON (fields above)")
	fs.IntVar(&c.maxFailures, "max-failures", 5, "with -every: exit 1 after this many failed runs in a row (0: never give up)")
	fs.BoolVar(&c.vacuum, "vacuum", false, "after reaping, give the freed space back: SQLite VACUUM (or incremental_vacuum), Postgres VACUUM of the table")
	usage := func() {
		fmt.Fprint(stderr, usageText)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
	}
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return c, err
		}
		return c, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if strings.TrimSpace(c.dsn) == "" {
		c.dsn = strings.TrimSpace(getenv("DATABASE_URL"))
	}
	batchSet := false
	fs.Visit(func(f *flag.Flag) { batchSet = batchSet || f.Name == "batch" })
	if !batchSet {
		c.batch = sessions.DefaultBatchSize
		if c.driver == "sqlite" {
			c.batch = sqliteBatch
		}
	}
	return c, validate(c)
}

// validate reports a usage error in c.
func validate(c config) error {
	switch {
	case c.driver == "":
		return usageError{"-driver is required (postgres or sqlite)"}
	case c.driver != "postgres" && c.driver != "sqlite":
		return usageError{fmt.Sprintf("unknown -driver %q (want postgres or sqlite)", c.driver)}
	case c.dsn == "":
		return usageError{"no DSN: pass -dsn or set DATABASE_URL; sess-gc never guesses a database"}
	case c.once && c.every != 0:
		return usageError{"-once and -every exclude each other"}
	case c.every < 0:
		return usageError{"-every must be positive"}
	case c.batch <= 0:
		return usageError{"-batch must be positive"}
	case c.timeout <= 0:
		return usageError{"-timeout must be positive"}
	case c.maxFailures < 0:
		return usageError{"-max-failures must be 0 or more"}
	case !slices.Contains([]string{"lz4", "zstd", "pglz", "off"}, c.walCompression):
		return usageError{fmt.Sprintf("unknown -wal-compression %q (want lz4, zstd, pglz or off)", c.walCompression)}
	case c.walRate != 0 && c.driver != "postgres":
		return usageError{"-wal-rate is for Postgres (SQLite has no shared WAL to pace)"}
	}
	return nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "migrations" {
		return runMigrations(args[1:], stdout, stderr)
	}
	c, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "sess-gc: %v (see sess-gc -h)\n", err)
		return exitUsage
	}
	if c.every != 0 {
		return runEvery(ctx, c, stdout, stderr)
	}
	tgt, err := openTarget(ctx, c)
	if err != nil && ctx.Err() != nil { // SIGINT/SIGTERM while connecting: a clean stop
		fmt.Fprintln(stderr, "sess-gc: stopped before connecting")
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "sess-gc: %s\n", oneLine(err))
		return exitCode(err)
	}
	defer tgt.close()
	if err := runOnce(ctx, c, tgt, stdout); err != nil {
		fmt.Fprintf(stderr, "sess-gc: %s\n", oneLine(err))
		return exitFailure
	}
	return exitOK
}

// openTarget opens the database within -timeout.
func openTarget(ctx context.Context, c config) (target, error) {
	openCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return open(openCtx, c)
}

// exitCode is 2 for usage errors (a bad DSN) and 1 for the rest.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

type summary struct {
	Deleted     int   `json:"deleted"`
	Batches     int   `json:"batches"`
	WouldDelete *int  `json:"would_delete,omitempty"`
	TookMS      int64 `json:"took_ms"`
	DryRun      bool  `json:"dry_run"`
	Interrupted bool  `json:"interrupted,omitempty"`
	Vacuumed    bool  `json:"vacuumed,omitempty"`
	// With -migrate: the versions applied ([] when none were pending) and
	// the schema version afterwards.
	Migrated      *[]int64 `json:"migrated,omitempty"`
	SchemaVersion *int64   `json:"schema_version,omitempty"`
	Time          string   `json:"time"`
}

// setMigrated copies what -migrate did into s.
func (s *summary) setMigrated(rep *db.Report) {
	if rep == nil {
		return
	}
	applied := append([]int64{}, rep.Applied...)
	v := rep.Version
	s.Migrated, s.SchemaVersion = &applied, &v
}

// migratedText is the summary line's " migrated=1,2,3,4 schema_version=4"
// (" migrated=none …" when nothing was pending), or "" without -migrate.
func (s summary) migratedText() string {
	if s.Migrated == nil {
		return ""
	}
	list := "none"
	if len(*s.Migrated) > 0 {
		parts := make([]string, len(*s.Migrated))
		for i, v := range *s.Migrated {
			parts[i] = strconv.FormatInt(v, 10)
		}
		list = strings.Join(parts, ",")
	}
	return fmt.Sprintf(" migrated=%s schema_version=%d", list, *s.SchemaVersion)
}

// runOnce reaps once and prints the summary. A signal is never a failure:
// a run that SIGINT/SIGTERM stopped (the batch in flight completes) and
// anything that fails after the signal (the VACUUM or count it cancels, a
// batch) make an interrupted run, whose summary says interrupted=true.
func runOnce(ctx context.Context, c config, tgt target, stdout io.Writer) error {
	if ctx.Err() != nil {
		return nil
	}
	runCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s, took, err := reap(ctx, runCtx, c, tgt)
	if err != nil && ctx.Err() != nil {
		s.Interrupted, s.Vacuumed, err = true, false, nil
	}
	if err != nil {
		return err
	}
	s.TookMS = took.Milliseconds()
	return printSummary(stdout, c, s, took)
}

// reap counts (-dry-run) or deletes the expired rows, then vacuums
// (-vacuum), on runCtx; ctx is the signal's, for testPause. took is how
// long the count or the reaping took.
func reap(ctx, runCtx context.Context, c config, tgt target) (s summary, took time.Duration, err error) {
	now := hostNow()
	s.setMigrated(tgt.migrated)
	if c.dryRun {
		s.DryRun = true
		pause(ctx, "count")
		n, err := tgt.store.CountExpired(runCtx, now)
		if err != nil {
			return s, time.Since(now), explain(err)
		}
		s.WouldDelete = &n
		return s, time.Since(now), nil
	}
	pause(ctx, "reap")
	res, err := sessions.Reap(runCtx, tgt.store, now, sessions.ReapOptions{BatchSize: c.batch, WALRate: c.walRate})
	s.Deleted, s.Batches = res.Deleted, res.Batches
	if err != nil {
		return s, res.Took, explain(err)
	}
	if c.vacuum {
		pause(ctx, "vacuum")
		if err := tgt.vacuum(runCtx); err != nil {
			return s, res.Took, err
		}
		s.Vacuumed = true
	}
	return s, res.Took, nil
}

// printSummary writes the run's one line (text or JSON). An interrupted
// -dry-run has no count: its line has no would_delete.
func printSummary(w io.Writer, c config, s summary, took time.Duration) error {
	s.Time = time.Now().UTC().Format(time.RFC3339)
	if c.json {
		return json.NewEncoder(w).Encode(s)
	}
	var line string
	switch {
	case s.DryRun && s.WouldDelete != nil:
		line = fmt.Sprintf("would_delete=%d dry_run=true took=%s", *s.WouldDelete, took.Round(time.Millisecond))
	case s.DryRun:
		line = fmt.Sprintf("dry_run=true took=%s", took.Round(time.Millisecond))
	default:
		line = fmt.Sprintf("deleted=%d batches=%d took=%s", s.Deleted, s.Batches, took.Round(time.Millisecond))
	}
	if s.Interrupted {
		line += " interrupted=true"
	}
	if s.Vacuumed {
		line += " vacuumed=true"
	}
	_, err := fmt.Fprintln(w, line+s.migratedText())
	return err
}

// parseByteRate parses -wal-rate: a whole number of bytes per second,
// optionally followed by B, kB, MB or GB (powers of 1024, as PostgreSQL's
// settings count) and optionally "/s".
func parseByteRate(v string) (int64, error) {
	s := strings.TrimSuffix(strings.TrimSpace(v), "/s")
	units := []struct {
		suffix string
		shift  uint
	}{{"GB", 30}, {"MB", 20}, {"kB", 10}, {"B", 0}}
	var shift uint
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = strings.TrimSpace(rest), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q is not a rate like 64MB (B, kB, MB or GB per second)", v)
	}
	return n << shift, nil
}

// oneLine folds a multi-line error (pgconn lists every address it tried)
// into the one line sess-gc prints.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
