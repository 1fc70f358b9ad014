// Package sqlitestore is a sessionstore.Store on SQLite, through database/sql and
// the sqlc-generated accessors in internal/sqlitedb.
//
// It works with any SQLite driver; it imports none. The table comes from
// db.Migrate(ctx, conn, db.SQLite). Times are stored as unix milliseconds.
//
// # Configuring SQLite for a web workload
//
// SQLite has one writer at a time. For many concurrent requests, open the
// database with:
//
//   - journal_mode=WAL: readers never block the writer, nor it them;
//   - busy_timeout (10 s): a writer waits for the lock instead of failing
//     at once with "database is locked";
//   - synchronous=NORMAL: safe with WAL, and far fewer fsyncs;
//   - immediate transactions (_txlock=immediate): a transaction takes the
//     write lock when it begins, so it never has to upgrade a read lock.
//
// DSN returns such a DSN for modernc.org/sqlite, and Open opens one:
//
//	import _ "modernc.org/sqlite"
//	conn, err := sqlitestore.Open(ctx, "store.db")
//
// Open escapes the path for SQLite's file: URI, so any file name works.
//
// The merge transaction of Update starts with a write, so it is safe (no lost
// updates) with a plain DSN and deferred transactions too. On a database
// whose DSN sets no busy_timeout (sql.Open("sqlite", path)), New makes each
// operation set one on the connection it uses, so concurrent requests wait
// for the lock rather than fail with "database is locked"; that costs a
// statement per operation, which the recommended DSN avoids.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sqlsession/sqlsession/internal/sqlitedb"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// Store is a sessionstore.Store on a SQLite database. Create it with New.
type Store struct {
	db *sql.DB
	q  *sqlitedb.Queries
	// writer is held by each write: SQLite has one writer at a time, and
	// queueing writers here hands the lock over at once, where SQLite's
	// busy handler would make them sleep and retry. busy_timeout still
	// arbitrates between processes.
	writer chan struct{}
	// pinned is set when the database's connections do not wait for
	// SQLite's locks (no busy_timeout in the DSN): each operation then
	// runs on one pooled connection on which it sets busy_timeout first.
	pinned bool
	// reaped counts rows DeleteExpired deleted since its last checkpoint;
	// only touched while holding writer.
	reaped int64
}

var _ sessionstore.Store = (*Store)(nil)

// New returns a Store on conn, whose schema db.Migrate has created.
//
// When conn's connections have no busy timeout (a plain DSN such as
// sql.Open("sqlite", path)), concurrent readers and the writer would fail
// at once with SQLITE_BUSY ("database is locked"). New detects that, and
// the Store then sets busy_timeout (10 s) on the connection each operation
// uses, at the cost of one more statement per operation: DSN avoids it.
func New(conn *sql.DB) *Store {
	return &Store{db: conn, q: sqlitedb.New(conn), writer: make(chan struct{}, 1), pinned: !waitsForLocks(conn)}
}

// waitsForLocks reports whether conn's connections have a busy timeout
// (set by the DSN, so every connection of the pool has it).
func waitsForLocks(conn *sql.DB) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ms int64
	err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&ms)
	return err == nil && ms > 0
}

// busyTimeout is the statement that makes a connection wait for locks.
const busyTimeout = "PRAGMA busy_timeout = 10000"

// dbConn is what a Store operation runs on: the pool, or one of its
// connections.
type dbConn interface {
	sqlitedb.DBTX
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// use runs fn on the pool or, when the Store is pinned, on one connection
// that waits for locks.
func (s *Store) use(ctx context.Context, fn func(c dbConn, q *sqlitedb.Queries) error) error {
	if !s.pinned {
		return fn(s.db, s.q)
	}
	c, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, busyTimeout); err != nil {
		return err
	}
	return fn(c, sqlitedb.New(c))
}

// DriverName is the database/sql driver name Open uses: modernc.org/sqlite
// registers it.
const DriverName = "sqlite"

// JournalSizeLimit is the journal_size_limit DSN sets: after a checkpoint
// the WAL file is cut back to at most this many bytes (SQLite otherwise
// keeps it at its largest size, which a big reap can make gigabytes).
const JournalSizeLimit = 64 << 20

// DSN returns the recommended modernc.org/sqlite DSN for the database file
// at path: WAL, a 10 s busy timeout, synchronous=NORMAL, foreign keys on,
// journal_size_limit JournalSizeLimit, and immediate transactions.
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", JournalSizeLimit))
	q.Set("_txlock", "immediate")
	return fileURI(path) + "?" + q.Encode()
}

// fileURI is path as a SQLite file: URI without a query. SQLite decodes
// %HH in a URI's path and ends the path at '?' or '#', so every byte
// outside the unreserved set and '/' is percent-encoded. A path starting
// with "//" gets an empty authority ("file://"), or SQLite would read its
// first element as a host name.
func fileURI(path string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString("file:")
	if strings.HasPrefix(path, "//") {
		b.WriteString("//")
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// Open opens the SQLite database at path with DSN(path) and the driver named
// "sqlite" (import _ "modernc.org/sqlite"), and checks that it answers.
func Open(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" || strings.ContainsRune(path, 0) {
		return nil, fmt.Errorf("sqlitestore: open %q: want a file path without NUL bytes", path)
	}
	if !slices.Contains(sql.Drivers(), DriverName) {
		return nil, fmt.Errorf("sqlitestore: open %s: no database/sql driver named %q is registered (import _ \"modernc.org/sqlite\")", path, DriverName)
	}
	conn, err := sql.Open(DriverName, DSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	if err := conn.PingContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	return conn, nil
}

func ms(t time.Time) int64     { return t.UnixMilli() }
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// userArg is the user argument of a merge: whether to set it, and the id
// ("" is stored as NULL by the query).
func userArg(id *string) (set bool, user string) {
	if id == nil {
		return false, ""
	}
	return true, *id
}

// Load implements sessionstore.Store.
func (s *Store) Load(ctx context.Context, h sessionstore.IDHash, now time.Time) (sessionstore.Record, error) {
	if now.IsZero() {
		now = time.Now() // the real clock
	}
	var row sqlitedb.GetSessionRow
	err := s.use(ctx, func(_ dbConn, q *sqlitedb.Queries) (err error) {
		row, err = q.GetSession(ctx, sqlitedb.GetSessionParams{IDHash: h[:], Now: ms(now)})
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return sessionstore.Record{}, fmt.Errorf("sqlitestore: load: %w", sessionstore.ErrNotFound)
	}
	if err != nil {
		return sessionstore.Record{}, fmt.Errorf("sqlitestore: load: %w", err)
	}
	// The text as the database returned it: the Manager reads the keys a
	// request asks for, and checks that it is a JSON object.
	return sessionstore.Record{JSON: []byte(row.Data), CreatedAt: fromMS(row.CreatedAt), ExpiresAt: fromMS(row.ExpiresAt), UserID: row.UserID}, nil
}

// Create implements sessionstore.Store. An expired row with the same hash is
// replaced, in one transaction; a live one is kept and ErrExists returned.
func (s *Store) Create(ctx context.Context, h sessionstore.IDHash, r sessionstore.Record, now time.Time) error {
	data, err := sessionstore.EncodeData(r.Data)
	if err != nil {
		return fmt.Errorf("sqlitestore: create: %w", err)
	}
	if err := checkSize(r.Data, r.MaxBytes); err != nil {
		return fmt.Errorf("sqlitestore: create: %w", err)
	}
	var inserted int64
	err = s.inTx(ctx, func(q *sqlitedb.Queries) error {
		if err := q.DeleteDeadSession(ctx, sqlitedb.DeleteDeadSessionParams{IDHash: h[:], Now: ms(now)}); err != nil {
			return err
		}
		arg := sqlitedb.InsertSessionParams{
			IDHash: h[:], Data: string(data), ExpiresAt: ms(r.ExpiresAt), CreatedAt: ms(r.CreatedAt), UserID: r.UserID,
		}
		if d := r.Device; d != nil {
			seen := ms(d.LastSeen)
			arg.LastSeenAt, arg.Ip, arg.UserAgent = &seen, d.IP, d.UserAgent
		}
		if inserted, err = q.InsertSession(ctx, arg); err != nil || inserted == 0 {
			return err
		}
		return evict(ctx, q, r.UserID, h, r.MaxPerUser, now)
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: create: %w", err)
	}
	if inserted == 0 {
		return fmt.Errorf("sqlitestore: create: %w", sessionstore.ErrExists)
	}
	return nil
}

// write runs fn holding the Store's write slot, or fails when ctx ends
// first.
func (s *Store) write(ctx context.Context, fn func(c dbConn, q *sqlitedb.Queries) error) error {
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writer }()
	return s.use(ctx, fn)
}

// inTx runs fn in a transaction, committing when it returns nil. fn's first
// statement must be a write (see the package doc).
func (s *Store) inTx(ctx context.Context, fn func(q *sqlitedb.Queries) error) error {
	return s.write(ctx, func(c dbConn, q *sqlitedb.Queries) error {
		tx, err := c.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := fn(q.WithTx(tx)); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// lockedData takes SQLite's write lock with a write to the live row of h
// (the first statement of Update's and SwapValue's transactions), then
// reads and decodes it; ErrNotFound when the session is gone or expired.
func lockedData(ctx context.Context, q *sqlitedb.Queries, h sessionstore.IDHash, now time.Time) (map[string]json.RawMessage, sqlitedb.GetSessionDataRow, error) {
	n, err := q.LockSession(ctx, sqlitedb.LockSessionParams{IDHash: h[:], Now: ms(now)})
	if err != nil {
		return nil, sqlitedb.GetSessionDataRow{}, err
	}
	if n == 0 {
		return nil, sqlitedb.GetSessionDataRow{}, sessionstore.ErrNotFound
	}
	stored, err := q.GetSessionData(ctx, h[:])
	if err != nil {
		return nil, stored, err
	}
	data, err := sessionstore.DecodeData([]byte(stored.Data))
	return data, stored, err
}

// Update implements sessionstore.Store. It reads, merges and writes the row in
// one transaction whose first statement takes SQLite's write lock, so
// concurrent updates of different keys never lose each other, and checks
// the merged data against c.MaxBytes before writing it.
func (s *Store) Update(ctx context.Context, h sessionstore.IDHash, c sessionstore.Change, now time.Time) error {
	err := s.inTx(ctx, func(q *sqlitedb.Queries) error {
		data, stored, err := lockedData(ctx, q, h, now)
		if err != nil {
			return err
		}
		before := sessionstore.Size(data)
		for _, k := range c.Deleted {
			delete(data, k)
		}
		for k, v := range c.Set {
			data[k] = v
		}
		merged, err := sessionstore.EncodeData(data)
		if err != nil {
			return err
		}
		if err := c.CheckSize(sessionstore.Size(data), before); err != nil {
			return err // rolls back: the row is left as it was
		}
		expires := c.NextExpiry(fromMS(stored.ExpiresAt))
		arg := sqlitestoreUpdate(merged, expires, h, c)
		if err := q.UpdateSession(ctx, arg); err != nil {
			return err
		}
		return evict(ctx, q, arg.UserID, h, c.MaxPerUser, now)
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: update: %w", err)
	}
	return nil
}

// sqlitestoreUpdate is the UpdateSession of a merge.
func sqlitestoreUpdate(merged []byte, expires time.Time, h sessionstore.IDHash, c sessionstore.Change) sqlitedb.UpdateSessionParams {
	arg := sqlitedb.UpdateSessionParams{Data: string(merged), ExpiresAt: ms(expires), IDHash: h[:]}
	arg.SetUser, arg.UserID = userArg(c.UserID)
	if d := c.Device; d != nil {
		seen := ms(d.LastSeen)
		arg.SetDevice, arg.LastSeenAt, arg.Ip, arg.UserAgent = true, &seen, d.IP, d.UserAgent
	}
	return arg
}

// evict applies the per-user cap in the write's transaction (SQLite has one
// writer, so concurrent logins are serialised already): the user's sessions
// beyond the max-1 newest others go, keep never among them.
func evict(ctx context.Context, q *sqlitedb.Queries, user string, keep sessionstore.IDHash, max int, now time.Time) error {
	if max <= 0 || user == "" {
		return nil
	}
	_, err := q.EvictUserSessions(ctx, sqlitedb.EvictUserSessionsParams{UserID: user, Keep: keep[:], Now: ms(now), KeepOthers: int64(max - 1)})
	return err
}

// checkSize refuses data over limit, measured as every store measures it
// (sessionstore.Size).
func checkSize(data map[string]json.RawMessage, limit int) error {
	if size := sessionstore.Size(data); limit > 0 && size > limit {
		return &sessionstore.SizeError{Size: size, Limit: limit}
	}
	return nil
}

// Touch implements sessionstore.Store.
func (s *Store) Touch(ctx context.Context, h sessionstore.IDHash, expiresAt time.Time, device *sessionstore.Device, now time.Time) error {
	arg := sqlitedb.TouchSessionParams{ExpiresAt: ms(expiresAt), IDHash: h[:], Now: ms(now)}
	if device != nil {
		seen := ms(device.LastSeen)
		arg.SetDevice, arg.LastSeenAt, arg.Ip, arg.UserAgent = true, &seen, device.IP, device.UserAgent
	}
	var n int64
	err := s.write(ctx, func(_ dbConn, q *sqlitedb.Queries) (err error) {
		n, err = q.TouchSession(ctx, arg)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: touch: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitestore: touch: %w", sessionstore.ErrNotFound)
	}
	return nil
}

// Rekey implements sessionstore.Store: in one transaction, the row is
// deleted under old and inserted under new.
func (s *Store) Rekey(ctx context.Context, old, new sessionstore.IDHash, retire *sessionstore.Retire, now time.Time) error {
	err := s.inTx(ctx, func(q *sqlitedb.Queries) error {
		row, err := q.TakeSession(ctx, old[:])
		if errors.Is(err, sql.ErrNoRows) || err == nil && row.ExpiresAt <= ms(now) {
			return sessionstore.ErrNotFound // rolls back: a dead row is the reaper's
		}
		if err != nil {
			return err
		}
		if err := q.DeleteDeadSession(ctx, sqlitedb.DeleteDeadSessionParams{IDHash: new[:], Now: ms(now)}); err != nil {
			return err
		}
		n, err := q.InsertSession(ctx, sqlitedb.InsertSessionParams{
			IDHash: new[:], Data: row.Data, ExpiresAt: row.ExpiresAt, CreatedAt: row.CreatedAt,
			UserID: deref(row.UserID), LastSeenAt: row.LastSeenAt, Ip: deref(row.Ip), UserAgent: deref(row.UserAgent),
		})
		switch {
		case err != nil:
			return err
		case n == 0:
			return sessionstore.ErrExists
		case retire == nil:
			return nil
		}
		return q.InsertRetired(ctx, sqlitedb.InsertRetiredParams{IDHash: old[:], Successor: new[:], UserID: row.UserID,
			GraceUntil: ms(retire.GraceUntil), ExpiresAt: ms(retire.ExpiresAt), Sealed: retire.Sealed})
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: rekey: %w", err)
	}
	return nil
}

// Retired implements sessionstore.Store.
func (s *Store) Retired(ctx context.Context, h sessionstore.IDHash, now time.Time) (sessionstore.Retired, error) {
	var row sqlitedb.GetRetiredRow
	err := s.use(ctx, func(_ dbConn, q *sqlitedb.Queries) (err error) {
		row, err = q.GetRetired(ctx, sqlitedb.GetRetiredParams{IDHash: h[:], Now: ms(now)})
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return sessionstore.Retired{}, fmt.Errorf("sqlitestore: retired: %w", sessionstore.ErrNotFound)
	}
	if err != nil {
		return sessionstore.Retired{}, fmt.Errorf("sqlitestore: retired: %w", err)
	}
	r := sessionstore.Retired{UserID: row.UserID, GraceUntil: fromMS(row.GraceUntil), ExpiresAt: fromMS(row.ExpiresAt), Sealed: row.Sealed}
	copy(r.Successor[:], row.Successor)
	return r, nil
}

// deref is *p, or "" for nil (NULL).
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Destroy implements sessionstore.Store.
func (s *Store) Destroy(ctx context.Context, h sessionstore.IDHash, now time.Time) (bool, error) {
	var expires int64
	err := s.write(ctx, func(_ dbConn, q *sqlitedb.Queries) (err error) { expires, err = q.DeleteSession(ctx, h[:]); return err })
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlitestore: destroy: %w", err)
	}
	return expires > ms(now), nil
}

// DestroyUser implements sessionstore.Store.
func (s *Store) DestroyUser(ctx context.Context, userID string, keep sessionstore.IDHash) (int, error) {
	if userID == "" {
		return 0, nil
	}
	var n int64
	arg := sqlitedb.DeleteUserSessionsParams{UserID: userID, Keep: keep[:]}
	err := s.write(ctx, func(_ dbConn, q *sqlitedb.Queries) (err error) { n, err = q.DeleteUserSessions(ctx, arg); return err })
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: destroy user: %w", err)
	}
	return int(n), nil
}

// ListUser implements sessionstore.Store.
func (s *Store) ListUser(ctx context.Context, userID string, now time.Time) ([]sessionstore.SessionInfo, error) {
	if userID == "" {
		return nil, nil
	}
	var rows []sqlitedb.ListUserSessionsRow
	err := s.use(ctx, func(_ dbConn, q *sqlitedb.Queries) (err error) {
		rows, err = q.ListUserSessions(ctx, sqlitedb.ListUserSessionsParams{UserID: userID, Now: ms(now)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list user: %w", err)
	}
	out := make([]sessionstore.SessionInfo, 0, len(rows))
	for _, r := range rows {
		data, err := sessionstore.DecodeData([]byte(r.Data))
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: list user: %w", err)
		}
		info := sessionstore.SessionInfo{Data: data, CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt), IP: r.Ip, UserAgent: r.UserAgent}
		if r.LastSeenAt != nil {
			info.LastSeen = fromMS(*r.LastSeenAt)
		}
		copy(info.Hash[:], r.IDHash)
		out = append(out, info)
	}
	return out, nil
}

// DeleteExpired implements sessionstore.Store. A batch that comes back short
// ends a reaping run (sessions.ReapExpired stops there); if the run
// deleted anything, the store then checkpoints the WAL with TRUNCATE, so
// that the pages the run wrote are copied into the database and the WAL
// file shrinks to nothing instead of staying as large as the run made it.
// A checkpoint that cannot finish (another process is reading) is left to
// SQLite's automatic checkpoints and journal_size_limit. (Checkpointing
// every few batches as well kept the WAL smaller during a long run but
// raised the p99 wait of the application's writes by half: BENCHMARKS.md.)
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("sqlitestore: delete expired: limit %d, want > 0", limit)
	}
	var n int64
	err := s.write(ctx, func(c dbConn, q *sqlitedb.Queries) (err error) {
		n, err = q.DeleteExpiredBatch(ctx, sqlitedb.DeleteExpiredBatchParams{Before: ms(before), BatchSize: int64(limit)})
		if err == nil && n < int64(limit) { // the sessions are done: the retired ids' turn
			var m int64
			m, err = q.DeleteExpiredRetired(ctx, sqlitedb.DeleteExpiredRetiredParams{Before: ms(before), BatchSize: int64(limit) - n})
			n += m
		}
		if err != nil {
			return err
		}
		s.reaped += n
		if n < int64(limit) && s.reaped > 0 {
			s.reaped = 0
			return checkpoint(ctx, c)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: delete expired: %w", err)
	}
	return int(n), nil
}

// checkpoint copies the WAL into the database and truncates it: first
// PASSIVE, which copies what it can without blocking anyone, then TRUNCATE,
// which blocks writers only while it copies the rest (little, by then) and
// waits for readers. It is a no-op on a database not in WAL mode.
func checkpoint(ctx context.Context, c dbConn) error {
	for _, mode := range []string{"PASSIVE", "TRUNCATE"} {
		var busy, logFrames, done int64
		if err := c.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &done); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
}

// CountExpired implements sessionstore.Store.
func (s *Store) CountExpired(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.use(ctx, func(_ dbConn, q *sqlitedb.Queries) (err error) { n, err = q.CountExpired(ctx, ms(before)); return err })
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: count expired: %w", err)
	}
	return int(n), nil
}
