package db

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migration is one goose SQL file: NNNNN_name.sql with "-- +goose Up" and
// "-- +goose Down" sections, each split into its statements.
type migration struct {
	version  int64
	name     string
	up, down []string
	noTx     bool // "-- +goose NO TRANSACTION"
}

// loadMigrations parses the embedded files of d, in version order.
func loadMigrations(d Dialect) ([]migration, error) {
	fsys, err := Migrations(d)
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("db: migrations: %w", err)
	}
	var out []migration
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("db: migrations: %w", err)
		}
		m, err := parseMigration(name, string(b))
		if err != nil {
			return nil, fmt.Errorf("db: migrations: %w", err)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// parseMigration splits a goose file into its Up and Down sections, and
// each section into statements as goose does: a statement ends with a line
// ending in ";", unless it lies between "-- +goose StatementBegin" and
// "-- +goose StatementEnd" (for bodies with semicolons, such as functions),
// which make one statement. Each statement is sent on its own: Citus
// refuses several commands in one string on a distributed table.
func parseMigration(name, text string) (migration, error) {
	num, _, ok := strings.Cut(path.Base(name), "_")
	v, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || v < 1 {
		return migration{}, fmt.Errorf("%s: name must start with a version number and _", name)
	}
	m := migration{version: v, name: name}
	sp := splitter{m: &m}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		if err := sp.line(sc.Text()); err != nil {
			return migration{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return migration{}, fmt.Errorf("%s: %w", name, err)
	}
	if sp.pending() {
		return migration{}, fmt.Errorf("%s: last statement not terminated (no ; or StatementEnd)", name)
	}
	if len(m.up) == 0 {
		return migration{}, fmt.Errorf("%s: no -- +goose Up section", name)
	}
	return m, nil
}

// splitter cuts a goose file into statements, one line at a time.
type splitter struct {
	m     *migration
	cur   *[]string // the section being read: m.up, m.down or nil (header)
	buf   strings.Builder
	block bool // between StatementBegin and StatementEnd
}

// pending reports whether a statement has begun and not ended.
func (sp *splitter) pending() bool {
	return sp.block || strings.TrimSpace(sp.buf.String()) != ""
}

// flush ends the current statement.
func (sp *splitter) flush() {
	if stmt := strings.TrimSpace(sp.buf.String()); stmt != "" && sp.cur != nil {
		*sp.cur = append(*sp.cur, stmt)
	}
	sp.buf.Reset()
}

// line takes one line of the file.
func (sp *splitter) line(line string) error {
	switch a := annotation(line); a {
	case "up", "down":
		if sp.pending() {
			return fmt.Errorf("statement not terminated before %q", strings.TrimSpace(line))
		}
		sp.cur = &sp.m.up
		if a == "down" {
			sp.cur = &sp.m.down
		}
		return nil
	case "no transaction":
		sp.m.noTx = true
		return nil
	case "statementbegin":
		sp.block = true
		return nil
	case "statementend":
		sp.block = false
		sp.flush()
		return nil
	case "":
	default:
		return nil // other goose annotations (envsub) change nothing here
	}
	if sp.cur == nil || (sp.buf.Len() == 0 && !sp.block && isComment(line)) {
		return nil
	}
	sp.buf.WriteString(line + "\n")
	if !sp.block && endsStatement(line) {
		sp.flush()
	}
	return nil
}

// annotation returns the lower-cased goose annotation of line ("up",
// "statementbegin", …), or "" when line is not one.
func annotation(line string) string {
	f := strings.Fields(strings.ToLower(line))
	if len(f) < 2 || f[0] != "--" || f[1] != "+goose" {
		return ""
	}
	return strings.Join(f[2:], " ")
}

// isComment reports whether line is blank or a "--" comment.
func isComment(line string) bool {
	t := strings.TrimSpace(line)
	return t == "" || strings.HasPrefix(t, "--")
}

// endsStatement reports whether line ends a statement: its last character
// outside a trailing "--" comment is ";" (goose's rule).
func endsStatement(line string) bool {
	if i := strings.Index(line, "--"); i >= 0 {
		line = line[:i]
	}
	return strings.HasSuffix(strings.TrimSpace(line), ";")
}

// runner applies migrations on one connection, with goose's version table.
type runner struct {
	conn    *sql.Conn
	dialect Dialect
	files   []migration
	citus   bool   // the database has the Citus extension (and this is its coordinator)
	report  Report // what this run changed
}

// q replaces $1, $2 with the dialect's placeholders.
func (r *runner) q(query string) string {
	if r.dialect == Postgres {
		return query
	}
	return strings.NewReplacer("$1", "?", "$2", "?").Replace(query)
}

// lock takes the Postgres advisory lock (waiting for another migrating
// process) and returns its release. SQLite has no such lock: there each
// migration re-checks the version table inside its own write transaction
// (BEGIN IMMEDIATE, see inTx), and lock only makes sure the connection
// waits for another process's write lock instead of failing at once.
func (r *runner) lock(ctx context.Context) (func() error, error) {
	if r.dialect != Postgres {
		return r.waitForLocks(ctx)
	}
	if _, err := r.conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() error {
		if _, err := r.conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockID); err != nil {
			return fmt.Errorf("unlock: %w", err)
		}
		return nil
	}, nil
}

// sqliteBusyTimeout is how long, in milliseconds, a SQLite migration waits
// for another connection's write lock when the connection has no busy
// timeout of its own (as sqlitestore does on a plain DSN).
const sqliteBusyTimeout = 10000

// waitForLocks sets a busy timeout on the SQLite connection when it has
// none, so that concurrent migrators wait for each other, and returns what
// puts it back: the application's settings are left as they were.
func (r *runner) waitForLocks(ctx context.Context) (func() error, error) {
	var ms int
	if err := r.conn.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&ms); err != nil {
		return nil, fmt.Errorf("read busy_timeout: %w", err)
	}
	if ms > 0 {
		return func() error { return nil }, nil
	}
	if _, err := r.conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(sqliteBusyTimeout)); err != nil {
		return nil, fmt.Errorf("set busy_timeout: %w", err)
	}
	return func() error {
		if _, err := r.conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA busy_timeout = 0`); err != nil {
			return fmt.Errorf("reset busy_timeout: %w", err)
		}
		return nil
	}, nil
}

// ensureVersionTable creates VersionTable as goose would (same columns,
// same version-0 row) when it does not exist yet.
func (r *runner) ensureVersionTable(ctx context.Context) error {
	exists := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	create := `CREATE TABLE ` + VersionTable + ` (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		version_id INTEGER NOT NULL,
		is_applied INTEGER NOT NULL,
		tstamp TIMESTAMP DEFAULT (datetime('now'))
	)`
	if r.dialect == Postgres {
		exists = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`
		create = `CREATE TABLE ` + VersionTable + ` (
		id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
		version_id bigint NOT NULL,
		is_applied boolean NOT NULL,
		tstamp timestamp NOT NULL DEFAULT now()
	)`
	}
	has := func(ex execer) (bool, error) {
		var n int
		if err := ex.QueryRowContext(ctx, r.q(exists), VersionTable).Scan(&n); err != nil {
			return false, fmt.Errorf("look for %s: %w", VersionTable, err)
		}
		return n > 0, nil
	}
	if ok, err := has(r.conn); ok || err != nil {
		return err
	}
	return r.inTx(ctx, true, func(ex execer) error {
		// Again inside the write transaction: on SQLite another process
		// may have created it since.
		if ok, err := has(ex); ok || err != nil {
			return err
		}
		if _, err := ex.ExecContext(ctx, create); err != nil {
			return fmt.Errorf("create %s: %w", VersionTable, err)
		}
		return r.record(ctx, ex, 0, true)
	})
}

// applied returns the versions whose latest row says applied, as goose
// reads them, through ex (the connection or a transaction).
func (r *runner) applied(ctx context.Context, ex execer) (map[int64]bool, error) {
	rows, err := ex.QueryContext(ctx, `SELECT version_id, is_applied FROM `+VersionTable+` ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", VersionTable, err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	seen := map[int64]bool{}
	for rows.Next() {
		var v int64
		var ok bool
		if err := rows.Scan(&v, &ok); err != nil {
			return nil, fmt.Errorf("read %s: %w", VersionTable, err)
		}
		if !seen[v] {
			seen[v], out[v] = true, ok
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", VersionTable, err)
	}
	return out, nil
}

// execer is what a migration runs on: the connection or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// record inserts (applied) or deletes (rolled back) a version row, as goose.
func (r *runner) record(ctx context.Context, ex execer, version int64, applied bool) error {
	var err error
	if applied {
		_, err = ex.ExecContext(ctx, r.q(`INSERT INTO `+VersionTable+` (version_id, is_applied) VALUES ($1, $2)`), version, true)
	} else {
		_, err = ex.ExecContext(ctx, r.q(`DELETE FROM `+VersionTable+` WHERE version_id = $1`), version)
	}
	if err != nil {
		return fmt.Errorf("record version %d in %s: %w", version, VersionTable, err)
	}
	return nil
}

// inTx runs fn in a transaction, or directly on the connection when tx is
// false. On SQLite the transaction is BEGIN IMMEDIATE, whatever the DSN's
// _txlock says: it takes the write lock first, so what fn reads (the
// version table) cannot change before it writes.
func (r *runner) inTx(ctx context.Context, tx bool, fn func(execer) error) error {
	if !tx {
		return fn(r.conn)
	}
	if r.dialect == SQLite {
		return r.inImmediateTx(ctx, fn)
	}
	t, err := r.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(t); err != nil {
		_ = t.Rollback()
		return err
	}
	return t.Commit()
}

// inImmediateTx runs fn in a SQLite BEGIN IMMEDIATE transaction on the
// runner's connection (database/sql's BeginTx cannot ask for one).
func (r *runner) inImmediateTx(ctx context.Context, fn func(execer) error) error {
	if _, err := r.conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	err := fn(r.conn)
	if err == nil {
		if _, err = r.conn.ExecContext(ctx, `COMMIT`); err != nil {
			err = fmt.Errorf("commit: %w", err)
		}
	}
	if err != nil {
		_, _ = r.conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
	}
	return err
}

// to brings the database to version: it rolls back the applied
// migrations above it, then applies the pending ones up to it.
func to(version int64) func(context.Context, *runner) error {
	return func(ctx context.Context, r *runner) error {
		if err := r.ensureVersionTable(ctx); err != nil {
			return err
		}
		if err := downTo(ctx, r, version); err != nil {
			return err
		}
		return upTo(ctx, r, version)
	}
}

// current sets r.report.Version to the highest applied version.
func (r *runner) current(ctx context.Context) error {
	done, err := r.applied(ctx, r.conn)
	if err != nil {
		return err
	}
	r.report.Version = 0
	for v, ok := range done {
		if ok && v > r.report.Version {
			r.report.Version = v
		}
	}
	return nil
}

// upTo applies the pending migrations up to version, in version order.
// Each is checked again inside its transaction: on SQLite (no advisory
// lock) another process may have applied it since the first read.
func upTo(ctx context.Context, r *runner, version int64) error {
	done, err := r.applied(ctx, r.conn)
	if err != nil {
		return err
	}
	for _, m := range r.files {
		if done[m.version] || m.version > version {
			continue
		}
		err := r.inTx(ctx, !m.noTx, func(ex execer) error {
			if now, err := r.applied(ctx, ex); err != nil || now[m.version] {
				return err
			}
			if err := execAll(ctx, ex, m.up); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			return r.record(ctx, ex, m.version, true)
		})
		if err != nil {
			return err
		}
		r.report.Applied = append(r.report.Applied, m.version)
	}
	return nil
}

// downTo rolls the applied migrations above version back, newest first.
func downTo(ctx context.Context, r *runner, version int64) error {
	done, err := r.applied(ctx, r.conn)
	if err != nil {
		return err
	}
	for i := len(r.files) - 1; i >= 0; i-- {
		m := r.files[i]
		if !done[m.version] || m.version <= version {
			continue
		}
		err := r.inTx(ctx, !m.noTx, func(ex execer) error {
			if now, err := r.applied(ctx, ex); err != nil || !now[m.version] {
				return err // rolled back by another process meanwhile
			}
			if len(m.down) == 0 {
				return r.record(ctx, ex, m.version, false)
			}
			if err := execAll(ctx, ex, m.down); err != nil {
				return fmt.Errorf("%s (down): %w", m.name, err)
			}
			return r.record(ctx, ex, m.version, false)
		})
		if err != nil {
			return err
		}
		r.report.RolledBack = append(r.report.RolledBack, m.version)
	}
	return nil
}

// execAll runs statements one by one, as goose does.
func execAll(ctx context.Context, ex execer, statements []string) error {
	for i, stmt := range statements {
		if _, err := ex.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("statement %d: %w", i+1, err)
		}
	}
	return nil
}
