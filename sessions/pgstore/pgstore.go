// Package pgstore is a sessions.Store on PostgreSQL, through a pgx/v5 pool
// and the sqlc-generated accessors in db/pgdb.
//
// The table comes from db.Migrate(ctx, sqlDB, db.Postgres) (or the goose
// CLI). Saves are merges done by the database in one statement,
// (data - deleted) || changed, so concurrent requests that change different
// keys of one session never lose each other's writes.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/db/pgdb"
	"github.com/sqlsession/sqlsession/sessions"
)

// Options configures a Store. The zero value is valid.
type Options struct {
	// MaxDataBytes limits the JSON size of what one write sends (a whole
	// new session, or one request's changed keys); 0 means
	// sessions.DefaultMaxDataBytes.
	MaxDataBytes int
}

// Store is a sessions.Store on a PostgreSQL pool. Create it with New.
type Store struct {
	q    *pgdb.Queries
	opts Options
}

var _ sessions.Store = (*Store)(nil)

// New returns a Store on pool, whose schema db.Migrate has created.
func New(pool *pgxpool.Pool) *Store { return NewWithOptions(pool, Options{}) }

// NewWithOptions returns a Store on pool with options.
func NewWithOptions(pool *pgxpool.Pool, opts Options) *Store {
	return &Store{q: pgdb.New(pool), opts: opts}
}

// serializationFailure is SQLSTATE 40001.
const serializationFailure = "40001"

// retry runs one statement, and runs it once more if it failed with a
// serialization failure (SQLSTATE 40001). Every Store method is a single
// statement in its own transaction, so running it again is safe.
// PostgreSQL raises 40001 only under REPEATABLE READ or SERIALIZABLE
// (default_transaction_isolation), but CockroachDB and YugabyteDB raise it
// for ordinary contention and expect the client to retry.
func retry[T any](f func() (T, error)) (T, error) {
	v, err := f()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == serializationFailure {
		v, err = f()
	}
	return v, err
}

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
	row, err := retry(func() (pgdb.GetSessionRow, error) {
		return s.q.GetSession(ctx, pgdb.GetSessionParams{IDHash: h[:], Now: now})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return sessions.Record{}, fmt.Errorf("pgstore: load: %w", sessions.ErrNotFound)
	}
	if err != nil {
		return sessions.Record{}, fmt.Errorf("pgstore: load: %w", err)
	}
	data, err := sessions.DecodeData(row.Data)
	if err != nil {
		return sessions.Record{}, fmt.Errorf("pgstore: load: %w", err)
	}
	return sessions.Record{Data: data, CreatedAt: row.CreatedAt.UTC(), ExpiresAt: row.ExpiresAt.UTC(), UserID: derefUser(row.UserID)}, nil
}

// Create implements sessions.Store.
func (s *Store) Create(ctx context.Context, h sessions.IDHash, r sessions.Record, now time.Time) error {
	data, err := sessions.EncodeData(r.Data, s.opts.MaxDataBytes)
	if err != nil {
		return fmt.Errorf("pgstore: create: %w", err)
	}
	n, err := retry(func() (int64, error) {
		return s.q.InsertSession(ctx, pgdb.InsertSessionParams{
			IDHash: h[:], Data: data, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, UserID: userPtr(r.UserID), Now: now,
		})
	})
	if err != nil {
		return fmt.Errorf("pgstore: create: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("pgstore: create: %w", sessions.ErrExists)
	}
	return nil
}

// Update implements sessions.Store.
func (s *Store) Update(ctx context.Context, h sessions.IDHash, c sessions.Change, now time.Time) error {
	changed, err := sessions.EncodeData(c.Set, s.opts.MaxDataBytes)
	if err != nil {
		return fmt.Errorf("pgstore: update: %w", err)
	}
	deleted := c.Deleted
	if deleted == nil {
		deleted = []string{}
	}
	n, err := retry(func() (int64, error) {
		return s.q.MergeSession(ctx, pgdb.MergeSessionParams{
			DeletedKeys: deleted, Changed: changed, ExpiresAt: c.ExpiresAt,
			SetUser: c.SetUser, UserID: userPtr(c.UserID), IDHash: h[:], Now: now,
		})
	})
	if err != nil {
		return fmt.Errorf("pgstore: update: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("pgstore: update: %w", sessions.ErrNotFound)
	}
	return nil
}

// Touch implements sessions.Store.
func (s *Store) Touch(ctx context.Context, h sessions.IDHash, expiresAt, now time.Time) error {
	n, err := retry(func() (int64, error) {
		return s.q.TouchSession(ctx, pgdb.TouchSessionParams{ExpiresAt: expiresAt, IDHash: h[:], Now: now})
	})
	if err != nil {
		return fmt.Errorf("pgstore: touch: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("pgstore: touch: %w", sessions.ErrNotFound)
	}
	return nil
}

// Destroy implements sessions.Store.
func (s *Store) Destroy(ctx context.Context, h sessions.IDHash) error {
	if _, err := retry(func() (int64, error) { return s.q.DeleteSession(ctx, h[:]) }); err != nil {
		return fmt.Errorf("pgstore: destroy: %w", err)
	}
	return nil
}

// DestroyUser implements sessions.Store.
func (s *Store) DestroyUser(ctx context.Context, userID string) (int, error) {
	if userID == "" {
		return 0, nil
	}
	n, err := retry(func() (int64, error) { return s.q.DeleteUserSessions(ctx, userID) })
	if err != nil {
		return 0, fmt.Errorf("pgstore: destroy user: %w", err)
	}
	return int(n), nil
}

// ListUser implements sessions.Store.
func (s *Store) ListUser(ctx context.Context, userID string, now time.Time) ([]sessions.SessionInfo, error) {
	if userID == "" {
		return nil, nil
	}
	rows, err := retry(func() ([]pgdb.ListUserSessionsRow, error) {
		return s.q.ListUserSessions(ctx, pgdb.ListUserSessionsParams{UserID: userID, Now: now})
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: list user: %w", err)
	}
	out := make([]sessions.SessionInfo, 0, len(rows))
	for _, r := range rows {
		data, err := sessions.DecodeData(r.Data)
		if err != nil {
			return nil, fmt.Errorf("pgstore: list user: %w", err)
		}
		info := sessions.SessionInfo{Data: data, CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}
		copy(info.Hash[:], r.IDHash)
		out = append(out, info)
	}
	return out, nil
}

// DeleteExpired implements sessions.Store. Rows another reaper is deleting
// are skipped (FOR UPDATE SKIP LOCKED), so many reapers can run at once.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 || limit > 1<<31-1 {
		return 0, fmt.Errorf("pgstore: delete expired: limit %d, want 1..%d", limit, 1<<31-1)
	}
	n, err := retry(func() (int64, error) {
		return s.q.DeleteExpiredBatch(ctx, pgdb.DeleteExpiredBatchParams{Before: before, BatchSize: int32(limit)})
	})
	if err != nil {
		return 0, fmt.Errorf("pgstore: delete expired: %w", err)
	}
	return int(n), nil
}

// CountExpired implements sessions.Store.
func (s *Store) CountExpired(ctx context.Context, before time.Time) (int, error) {
	n, err := retry(func() (int64, error) { return s.q.CountExpired(ctx, before) })
	if err != nil {
		return 0, fmt.Errorf("pgstore: count expired: %w", err)
	}
	return int(n), nil
}

// Count implements sessions.Store. It reads every live row (on Postgres a
// parallel scan of the table: about a second at 10M rows), so it is for
// admin pages and tests, never the request path; sess-gc does not call it.
func (s *Store) Count(ctx context.Context, now time.Time) (int, error) {
	n, err := retry(func() (int64, error) { return s.q.CountLive(ctx, now) })
	if err != nil {
		return 0, fmt.Errorf("pgstore: count: %w", err)
	}
	return int(n), nil
}
