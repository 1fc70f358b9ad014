// Package pgstore is a sessionstore.Store on PostgreSQL, through a pgx/v5 pool
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
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/db/pgdb"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// Store is a sessionstore.Store on a PostgreSQL pool. Create it with New.
type Store struct {
	q *pgdb.Queries
}

var _ sessionstore.Store = (*Store)(nil)

// New returns a Store on pool, whose schema db.Migrate has created.
func New(pool *pgxpool.Pool) *Store { return &Store{q: pgdb.New(pool)} }

// serializationFailure is SQLSTATE 40001.
const serializationFailure = "40001"

// retry runs one statement, and runs it once more if it failed with a
// serialization failure (SQLSTATE 40001). The statements it runs are each
// their own transaction, so running one again is safe. PostgreSQL raises
// 40001 only under REPEATABLE READ or SERIALIZABLE
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
	var row pgdb.GetSessionRow
	var err error
	if now.IsZero() { // the real clock: the database's
		var r pgdb.GetSessionNowRow
		r, err = retry(func() (pgdb.GetSessionNowRow, error) { return s.q.GetSessionNow(ctx, h[:]) })
		row = pgdb.GetSessionRow(r)
	} else {
		row, err = retry(func() (pgdb.GetSessionRow, error) {
			return s.q.GetSession(ctx, pgdb.GetSessionParams{IDHash: h[:], Now: now})
		})
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return sessionstore.Record{}, fmt.Errorf("pgstore: load: %w", sessionstore.ErrNotFound)
	}
	if err != nil {
		return sessionstore.Record{}, fmt.Errorf("pgstore: load: %w", err)
	}
	data, err := sessionstore.DecodeData(row.Data)
	if err != nil {
		return sessionstore.Record{}, fmt.Errorf("pgstore: load: %w", err)
	}
	return sessionstore.Record{Data: data, CreatedAt: row.CreatedAt.UTC(), ExpiresAt: row.ExpiresAt.UTC(), UserID: row.UserID}, nil
}

// Create implements sessionstore.Store. The size limit (r.MaxBytes) is
// checked by the INSERT itself, on data as jsonb stores it.
func (s *Store) Create(ctx context.Context, h sessionstore.IDHash, r sessionstore.Record, now time.Time) error {
	data, err := sessionstore.EncodeData(r.Data)
	if err != nil {
		return fmt.Errorf("pgstore: create: %w", err)
	}
	n, err := s.q.InsertSession(ctx, pgdb.InsertSessionParams{
		IDHash: h[:], Data: data, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, UserID: r.UserID,
		MaxBytes: maxArg(r.MaxBytes), Now: now,
	})
	if err != nil {
		return fmt.Errorf("pgstore: create: %w", err)
	}
	if n > 0 {
		return nil
	}
	if r.MaxBytes > 0 {
		size, err := s.q.DataSize(ctx, data)
		if err != nil {
			return fmt.Errorf("pgstore: create: %w", err)
		}
		if int(size) > r.MaxBytes {
			return fmt.Errorf("pgstore: create: %w", &sessionstore.SizeError{Size: int(size), Limit: r.MaxBytes})
		}
	}
	return fmt.Errorf("pgstore: create: %w", sessionstore.ErrExists)
}

// maxArg is a size limit as the queries take it (0: none).
func maxArg(limit int) int32 {
	if limit <= 0 {
		return 0
	}
	return int32(min(limit, math.MaxInt32))
}

// Update implements sessionstore.Store. The merge and its size check are
// one UPDATE; when it changes no row, MergedSize says why: the session is
// gone (ErrNotFound) or the merge would exceed c.MaxBytes (*SizeError). A
// concurrent change that made room in between is retried.
func (s *Store) Update(ctx context.Context, h sessionstore.IDHash, c sessionstore.Change, now time.Time) error {
	changed, err := sessionstore.EncodeData(c.Set)
	if err != nil {
		return fmt.Errorf("pgstore: update: %w", err)
	}
	deleted := c.Deleted
	if deleted == nil {
		deleted = []string{}
	}
	arg := pgdb.MergeSessionParams{
		DeletedKeys: deleted, Changed: changed, ExpiresAt: c.ExpiresAt,
		IDHash: h[:], Now: now, MaxBytes: maxArg(c.MaxBytes),
	}
	arg.SetUser, arg.UserID = userArg(c.UserID)
	for range 3 {
		n, err := s.q.MergeSession(ctx, arg)
		if err != nil {
			return fmt.Errorf("pgstore: update: %w", err)
		}
		if n > 0 {
			return nil
		}
		if c.MaxBytes <= 0 {
			return fmt.Errorf("pgstore: update: %w", sessionstore.ErrNotFound)
		}
		size, err := s.q.MergedSize(ctx, pgdb.MergedSizeParams{DeletedKeys: deleted, Changed: changed, IDHash: h[:], Now: now})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("pgstore: update: %w", sessionstore.ErrNotFound)
		case err != nil:
			return fmt.Errorf("pgstore: update: %w", err)
		case int(size) > c.MaxBytes:
			return fmt.Errorf("pgstore: update: %w", &sessionstore.SizeError{Size: int(size), Limit: c.MaxBytes})
		}
	}
	return errors.New("pgstore: update: the merge fitted the size limit but concurrent changes kept it from applying; retry")
}

// Touch implements sessionstore.Store.
func (s *Store) Touch(ctx context.Context, h sessionstore.IDHash, expiresAt, now time.Time) error {
	n, err := retry(func() (int64, error) {
		return s.q.TouchSession(ctx, pgdb.TouchSessionParams{ExpiresAt: expiresAt, IDHash: h[:], Now: now})
	})
	if err != nil {
		return fmt.Errorf("pgstore: touch: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("pgstore: touch: %w", sessionstore.ErrNotFound)
	}
	return nil
}

// Destroy implements sessionstore.Store.
func (s *Store) Destroy(ctx context.Context, h sessionstore.IDHash, now time.Time) (bool, error) {
	expires, err := retry(func() (time.Time, error) { return s.q.DeleteSession(ctx, h[:]) })
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pgstore: destroy: %w", err)
	}
	return expires.After(now), nil
}

// DestroyUser implements sessionstore.Store.
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

// ListUser implements sessionstore.Store.
func (s *Store) ListUser(ctx context.Context, userID string, now time.Time) ([]sessionstore.SessionInfo, error) {
	if userID == "" {
		return nil, nil
	}
	rows, err := s.q.ListUserSessions(ctx, pgdb.ListUserSessionsParams{UserID: userID, Now: now})
	if err != nil {
		return nil, fmt.Errorf("pgstore: list user: %w", err)
	}
	out := make([]sessionstore.SessionInfo, 0, len(rows))
	for _, r := range rows {
		data, err := sessionstore.DecodeData(r.Data)
		if err != nil {
			return nil, fmt.Errorf("pgstore: list user: %w", err)
		}
		info := sessionstore.SessionInfo{Data: data, CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}
		copy(info.Hash[:], r.IDHash)
		out = append(out, info)
	}
	return out, nil
}

// DeleteExpired implements sessionstore.Store. Rows another reaper is deleting
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

// CountExpired implements sessionstore.Store.
func (s *Store) CountExpired(ctx context.Context, before time.Time) (int, error) {
	n, err := s.q.CountExpired(ctx, before)
	if err != nil {
		return 0, fmt.Errorf("pgstore: count expired: %w", err)
	}
	return int(n), nil
}
