// Package sqlitestore is a sessions.Store on SQLite, through database/sql and
// the sqlc-generated accessors in db/sqlitedb.
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
//	conn, err := sqlitestore.Open(ctx, "sessions.db")
//
// The merge transaction of Update starts with a write, so it is safe (no lost
// updates) with a plain DSN and deferred transactions too; the options above
// are what keep concurrent writers from failing.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/sqlsession/sqlsession/db/sqlitedb"
	"github.com/sqlsession/sqlsession/sessions"
)

// Options configures a Store. The zero value is valid.
type Options struct {
	// MaxDataBytes limits the JSON size of one session's data; 0 means
	// sessions.DefaultMaxDataBytes.
	MaxDataBytes int
}

// Store is a sessions.Store on a SQLite database. Create it with New.
type Store struct {
	db   *sql.DB
	q    *sqlitedb.Queries
	opts Options
	// writer is held by each write: SQLite has one writer at a time, and
	// queueing writers here hands the lock over at once, where SQLite's
	// busy handler would make them sleep and retry. busy_timeout still
	// arbitrates between processes.
	writer chan struct{}
	// reaped counts rows DeleteExpired deleted since its last checkpoint;
	// only touched while holding writer.
	reaped int64
}

var _ sessions.Store = (*Store)(nil)

// New returns a Store on conn, whose schema db.Migrate has created.
func New(conn *sql.DB) *Store { return NewWithOptions(conn, Options{}) }

// NewWithOptions returns a Store on conn with options.
func NewWithOptions(conn *sql.DB, opts Options) *Store {
	return &Store{db: conn, q: sqlitedb.New(conn), opts: opts, writer: make(chan struct{}, 1)}
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
	return "file:" + path + "?" + q.Encode()
}

// Open opens the SQLite database at path with DSN(path) and the driver named
// "sqlite" (import _ "modernc.org/sqlite"), and checks that it answers.
func Open(ctx context.Context, path string) (*sql.DB, error) {
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

func userPtr(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}

func derefUser(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Load implements sessions.Store.
func (s *Store) Load(ctx context.Context, h sessions.IDHash, now time.Time) (sessions.Record, error) {
	row, err := s.q.GetSession(ctx, sqlitedb.GetSessionParams{IDHash: h[:], Now: ms(now)})
	if errors.Is(err, sql.ErrNoRows) {
		return sessions.Record{}, fmt.Errorf("sqlitestore: load: %w", sessions.ErrNotFound)
	}
	if err != nil {
		return sessions.Record{}, fmt.Errorf("sqlitestore: load: %w", err)
	}
	data, err := sessions.DecodeData([]byte(row.Data))
	if err != nil {
		return sessions.Record{}, fmt.Errorf("sqlitestore: load: %w", err)
	}
	return sessions.Record{Data: data, CreatedAt: fromMS(row.CreatedAt), ExpiresAt: fromMS(row.ExpiresAt), UserID: derefUser(row.UserID)}, nil
}

// Create implements sessions.Store. An expired row with the same hash is
// replaced, in one transaction; a live one is kept and ErrExists returned.
func (s *Store) Create(ctx context.Context, h sessions.IDHash, r sessions.Record, now time.Time) error {
	data, err := sessions.EncodeData(r.Data, s.opts.MaxDataBytes)
	if err != nil {
		return fmt.Errorf("sqlitestore: create: %w", err)
	}
	var inserted int64
	err = s.inTx(ctx, func(q *sqlitedb.Queries) error {
		if err := q.DeleteDeadSession(ctx, sqlitedb.DeleteDeadSessionParams{IDHash: h[:], Now: ms(now)}); err != nil {
			return err
		}
		inserted, err = q.InsertSession(ctx, sqlitedb.InsertSessionParams{
			IDHash: h[:], Data: string(data), ExpiresAt: ms(r.ExpiresAt), CreatedAt: ms(r.CreatedAt), UserID: userPtr(r.UserID),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: create: %w", err)
	}
	if inserted == 0 {
		return fmt.Errorf("sqlitestore: create: %w", sessions.ErrExists)
	}
	return nil
}

// write runs fn holding the Store's write slot, or fails when ctx ends
// first.
func (s *Store) write(ctx context.Context, fn func() error) error {
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writer }()
	return fn()
}

// inTx runs fn in a transaction, committing when it returns nil. fn's first
// statement must be a write (see the package doc).
func (s *Store) inTx(ctx context.Context, fn func(q *sqlitedb.Queries) error) error {
	return s.write(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := fn(s.q.WithTx(tx)); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// Update implements sessions.Store. It reads, merges and writes the row in
// one transaction whose first statement takes SQLite's write lock, so
// concurrent updates of different keys never lose each other.
func (s *Store) Update(ctx context.Context, h sessions.IDHash, c sessions.Change, now time.Time) error {
	if err := sessions.CheckSize(sessions.DataSize(c.Set), s.opts.MaxDataBytes); err != nil {
		return fmt.Errorf("sqlitestore: update: %w", err)
	}
	err := s.inTx(ctx, func(q *sqlitedb.Queries) error {
		n, err := q.LockSession(ctx, sqlitedb.LockSessionParams{IDHash: h[:], Now: ms(now)})
		if err != nil {
			return err
		}
		if n == 0 {
			return sessions.ErrNotFound
		}
		stored, err := q.GetSessionData(ctx, h[:])
		if err != nil {
			return err
		}
		data, err := sessions.DecodeData([]byte(stored))
		if err != nil {
			return err
		}
		for _, k := range c.Deleted {
			delete(data, k)
		}
		for k, v := range c.Set {
			data[k] = v
		}
		merged, err := sessions.EncodeData(data, s.opts.MaxDataBytes)
		if err != nil {
			return err
		}
		return q.UpdateSession(ctx, sqlitedb.UpdateSessionParams{
			Data: string(merged), ExpiresAt: ms(c.ExpiresAt), SetUser: c.SetUser, UserID: userPtr(c.UserID), IDHash: h[:],
		})
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: update: %w", err)
	}
	return nil
}

// Touch implements sessions.Store.
func (s *Store) Touch(ctx context.Context, h sessions.IDHash, expiresAt, now time.Time) error {
	var n int64
	err := s.write(ctx, func() (err error) {
		n, err = s.q.TouchSession(ctx, sqlitedb.TouchSessionParams{ExpiresAt: ms(expiresAt), IDHash: h[:], Now: ms(now)})
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: touch: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitestore: touch: %w", sessions.ErrNotFound)
	}
	return nil
}

// Destroy implements sessions.Store.
func (s *Store) Destroy(ctx context.Context, h sessions.IDHash) error {
	if err := s.write(ctx, func() error { _, err := s.q.DeleteSession(ctx, h[:]); return err }); err != nil {
		return fmt.Errorf("sqlitestore: destroy: %w", err)
	}
	return nil
}

// DestroyUser implements sessions.Store.
func (s *Store) DestroyUser(ctx context.Context, userID string) (int, error) {
	if userID == "" {
		return 0, nil
	}
	var n int64
	err := s.write(ctx, func() (err error) { n, err = s.q.DeleteUserSessions(ctx, userID); return err })
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: destroy user: %w", err)
	}
	return int(n), nil
}

// ListUser implements sessions.Store.
func (s *Store) ListUser(ctx context.Context, userID string, now time.Time) ([]sessions.SessionInfo, error) {
	if userID == "" {
		return nil, nil
	}
	rows, err := s.q.ListUserSessions(ctx, sqlitedb.ListUserSessionsParams{UserID: userID, Now: ms(now)})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list user: %w", err)
	}
	out := make([]sessions.SessionInfo, 0, len(rows))
	for _, r := range rows {
		data, err := sessions.DecodeData([]byte(r.Data))
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: list user: %w", err)
		}
		info := sessions.SessionInfo{Data: data, CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt)}
		copy(info.Hash[:], r.IDHash)
		out = append(out, info)
	}
	return out, nil
}

// DeleteExpired implements sessions.Store. A batch that comes back short
// ends a reaping run (sessions.DeleteExpired stops there); if the run
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
	err := s.write(ctx, func() (err error) {
		n, err = s.q.DeleteExpiredBatch(ctx, sqlitedb.DeleteExpiredBatchParams{Before: ms(before), BatchSize: int64(limit)})
		if err != nil {
			return err
		}
		s.reaped += n
		if n < int64(limit) && s.reaped > 0 {
			s.reaped = 0
			return s.checkpoint(ctx)
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
func (s *Store) checkpoint(ctx context.Context) error {
	for _, mode := range []string{"PASSIVE", "TRUNCATE"} {
		var busy, logFrames, done int64
		if err := s.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &done); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
}

// CountExpired implements sessions.Store.
func (s *Store) CountExpired(ctx context.Context, before time.Time) (int, error) {
	n, err := s.q.CountExpired(ctx, ms(before))
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: count expired: %w", err)
	}
	return int(n), nil
}

// Count implements sessions.Store. It reads every live row (on Postgres a
// parallel scan of the table: about a second at 10M rows), so it is for
// admin pages and tests, never the request path; sess-gc does not call it.
func (s *Store) Count(ctx context.Context, now time.Time) (int, error) {
	n, err := s.q.CountLive(ctx, ms(now))
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: count: %w", err)
	}
	return int(n), nil
}
