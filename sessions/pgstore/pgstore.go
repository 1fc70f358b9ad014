// Package pgstore is a sessionstore.Store on PostgreSQL, through a pgx/v5 pool
// and the sqlc-generated accessors in internal/pgdb.
//
// The table comes from db.Migrate(ctx, sqlDB, db.Postgres) (or the goose
// CLI). Saves are merges done by the database in one statement,
// (data - deleted) || changed, so concurrent requests that change different
// keys of one session never lose each other's writes.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/internal/pgdb"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// Store is a sessionstore.Store on a PostgreSQL pool. Create it with New.
type Store struct {
	pool *guardedPool // the caller's pool, refused while its server is a standby (recovery.go)
	q    *pgdb.Queries

	citusMu sync.Mutex
	citus   *bool // nil until DeleteExpired has asked
}

var _ sessionstore.Store = (*Store)(nil)

// New returns a Store on pool, whose schema db.Migrate has created. It
// refuses a server in recovery (a standby) with ErrStandby; see
// NewWithOptions.
func New(pool *pgxpool.Pool) *Store { return NewWithOptions(pool, Options{}) }

// retried are the SQLSTATEs after which a statement (or a transaction) is
// run once more: 40001 serialization_failure, and 40P01
// deadlock_detected, which Citus raises when concurrent multi-shard
// statements (a per-user cap, DestroyUser) wait on each other across
// workers and it cancels one of them.
var retried = map[string]bool{"40001": true, "40P01": true}

// retry runs one statement, and runs it once more if it failed with a
// serialization failure or a deadlock (see retried). The statements it runs
// are each their own transaction (or a whole transaction, rolled back), so
// running one again is safe. PostgreSQL raises 40001 only under REPEATABLE
// READ or SERIALIZABLE (default_transaction_isolation), but CockroachDB and
// YugabyteDB raise it for ordinary contention and expect the client to
// retry.
func retry[T any](f func() (T, error)) (T, error) {
	v, err := f()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && retried[pgErr.Code] {
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
	// The text as the database returned it: the Manager reads the keys a
	// request asks for, and checks that it is a JSON object.
	return sessionstore.Record{JSON: []byte(row.Data), CreatedAt: row.CreatedAt.UTC(), ExpiresAt: row.ExpiresAt.UTC(), UserID: row.UserID}, nil
}

// Create implements sessionstore.Store. The size limit (r.MaxBytes) is
// checked before the INSERT, on data as jsonb would store it: data that
// surely fits (sessionstore.Size is an upper bound, unless a number has an
// exponent, which jsonb prints in full) costs no statement, and only data
// near or over the limit is measured by the server (DataSize). The INSERT
// itself is one VALUES row, routed to one shard on Citus: a plain INSERT
// (InsertNewSession), or, under a per-user cap, in the cap's transaction,
// the upsert that replaces a dead row (InsertSession).
func (s *Store) Create(ctx context.Context, h sessionstore.IDHash, r sessionstore.Record, now time.Time) error {
	data, err := sessionstore.EncodeData(r.Data)
	if err != nil {
		return fmt.Errorf("pgstore: create: %w", err)
	}
	if r.MaxBytes > 0 && (sessionstore.Size(r.Data) > r.MaxBytes || anyExponent(r.Data)) {
		if err := s.checkSize(ctx, data, r.MaxBytes); err != nil {
			return fmt.Errorf("pgstore: create: %w", err)
		}
	}
	arg := pgdb.InsertSessionParams{
		IDHash: h[:], Data: data, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, UserID: r.UserID, Now: now,
	}
	if d := r.Device; d != nil {
		arg.LastSeenAt, arg.Ip, arg.UserAgent = &d.LastSeen, d.IP, d.UserAgent
	}
	if r.MaxPerUser <= 0 || r.UserID == "" {
		err = s.insert(ctx, arg)
	} else {
		err = s.capped(ctx, r.UserID, h, r.MaxPerUser, now, func(q *pgdb.Queries) error { return upsert(ctx, q, arg) })
	}
	if err != nil {
		return fmt.Errorf("pgstore: create: %w", err)
	}
	return nil
}

// insert creates a session outside a transaction: a plain INSERT (of
// four columns when the session has no user and no device record), and
// only when a row already has the hash (23505), the upsert that replaces
// it if it is dead.
func (s *Store) insert(ctx context.Context, arg pgdb.InsertSessionParams) error {
	_, err := retry(func() (struct{}, error) {
		if arg.UserID == "" && arg.LastSeenAt == nil && arg.Ip == "" && arg.UserAgent == "" {
			return struct{}{}, s.q.InsertNewAnonymousSession(ctx, pgdb.InsertNewAnonymousSessionParams{
				IDHash: arg.IDHash, Data: arg.Data, ExpiresAt: arg.ExpiresAt, CreatedAt: arg.CreatedAt,
			})
		}
		return struct{}{}, s.q.InsertNewSession(ctx, pgdb.InsertNewSessionParams{
			IDHash: arg.IDHash, Data: arg.Data, ExpiresAt: arg.ExpiresAt, CreatedAt: arg.CreatedAt,
			UserID: arg.UserID, LastSeenAt: arg.LastSeenAt, Ip: arg.Ip, UserAgent: arg.UserAgent,
		})
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		_, err = retry(func() (struct{}, error) { return struct{}{}, upsert(ctx, s.q, arg) })
	}
	return err
}

// upsert runs InsertSession: ErrExists when a live row has the hash.
func upsert(ctx context.Context, q *pgdb.Queries, arg pgdb.InsertSessionParams) error {
	n, err := q.InsertSession(ctx, arg)
	if err == nil && n == 0 {
		err = sessionstore.ErrExists
	}
	return err
}

// checkSize returns a *sessionstore.SizeError when data, as jsonb text,
// is longer than maxBytes.
func (s *Store) checkSize(ctx context.Context, data []byte, maxBytes int) error {
	size, err := retry(func() (int32, error) { return s.q.DataSize(ctx, data) })
	if err != nil {
		return err
	}
	if int(size) > maxBytes {
		return &sessionstore.SizeError{Size: int(size), Limit: maxBytes}
	}
	return nil
}

// capped runs write, and when the write gives user a session under a cap
// (max > 0), in one transaction with it: the user is locked (so concurrent
// logins queue), then the user's sessions beyond the max-1 newest others
// are deleted, keep never among them. Either way it runs once more after
// a serialization failure or a deadlock (retry): the transaction was
// rolled back, and on Citus the cap's multi-shard DELETE can meet another
// login's in a distributed deadlock.
func (s *Store) capped(ctx context.Context, user string, keep sessionstore.IDHash, max int, now time.Time, write func(*pgdb.Queries) error) error {
	if max <= 0 || user == "" {
		_, err := retry(func() (struct{}, error) { return struct{}{}, write(s.q) })
		return err
	}
	_, err := retry(func() (struct{}, error) {
		return struct{}{}, pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			q := s.q.WithTx(tx)
			if err := q.LockUser(ctx, user); err != nil {
				return err
			}
			if err := write(q); err != nil {
				return err
			}
			_, err := q.EvictUserSessions(ctx, pgdb.EvictUserSessionsParams{UserID: user, Keep: keep[:], Now: now, KeepOthers: int32(min(max-1, math.MaxInt32))})
			return err
		})
	})
	return err
}

// maxArg is a size limit as the queries take it (0: none).
func maxArg(limit int) int32 {
	if limit <= 0 {
		return 0
	}
	return int32(min(limit, math.MaxInt32))
}

// Update implements sessionstore.Store. A change of values and expiry
// alone (the common write) is MergeData, whose size check measures only
// the stored data against a budget (the limit less what the change can
// add: see leanBudget). Any other change, or one that MergeData did not
// apply (the session is gone, or near the limit), is MergeSession, which
// checks the merged data itself; when it changes no row, MergedSize says
// why: the session is gone (ErrNotFound) or the merge would exceed
// c.MaxBytes (*SizeError). A concurrent change that made room in between
// is retried.
func (s *Store) Update(ctx context.Context, h sessionstore.IDHash, c sessionstore.Change, now time.Time) error {
	changed, err := sessionstore.EncodeData(c.Set)
	if err != nil {
		return fmt.Errorf("pgstore: update: %w", err)
	}
	if budget, ok := leanBudget(c); ok {
		// nil Deleted: NULL, read as none; a zero ExpiresAt: NULL, which
		// GREATEST ignores (the stored expiry stays).
		arg := pgdb.MergeDataParams{DeletedKeys: c.Deleted, Changed: changed, IDHash: h[:], Now: now, Budget: budget}
		if !c.ExpiresAt.IsZero() {
			arg.ExpiresAt = &c.ExpiresAt
		}
		n, err := retry(func() (int64, error) { return s.q.MergeData(ctx, arg) })
		if err != nil {
			return fmt.Errorf("pgstore: update: %w", err)
		}
		if n > 0 {
			return nil
		}
	}
	arg := pgdb.MergeSessionParams{
		DeletedKeys: c.Deleted, Changed: changed, // nil Deleted: NULL, read as none
		IDHash: h[:], Now: now, MaxBytes: maxArg(c.MaxBytes), Reserve: maxArg(c.Reserve),
	}
	if !c.ExpiresAt.IsZero() { // NULL: GREATEST keeps the stored expiry
		arg.ExpiresAt, arg.Lifetime = &c.ExpiresAt, c.Lifetime
	}
	arg.SetUser, arg.UserID = userArg(c.UserID)
	if d := c.Device; d != nil {
		arg.SetDevice, arg.LastSeenAt, arg.Ip, arg.UserAgent = true, &d.LastSeen, d.IP, d.UserAgent
	}
	if err := s.capped(ctx, arg.UserID, h, c.MaxPerUser, now, func(q *pgdb.Queries) error { return merge(ctx, q, arg, c) }); err != nil {
		return fmt.Errorf("pgstore: update: %w", err)
	}
	return nil
}

// leanBudget says whether c can be written by MergeData (it changes
// values and the expiry, and no user, device or lifetime) and with what
// budget: -1 when there is no size limit, else c.MaxBytes less an upper
// bound of the bytes c.Set can add to the data as jsonb prints it (each
// entry counted whole, as if its key were new; deleted keys only shrink
// it). Stored data within the budget is then surely within the limit
// after the merge. A value whose numbers have exponents, which jsonb
// prints in full (1e9 as 1000000000), has no such bound: MergeSession
// measures it.
func leanBudget(c sessionstore.Change) (budget int32, ok bool) {
	if c.UserID != nil || c.Device != nil || c.Lifetime {
		return 0, false
	}
	if c.MaxBytes <= 0 {
		return -1, true
	}
	left := c.MaxBytes
	for k, v := range c.Set {
		if hasExponent(v) {
			return 0, false
		}
		left -= sessionstore.EntrySize(k, sessionstore.ValueSize(v))
	}
	if left < len("{}") {
		return 0, false
	}
	return maxArg(left), true
}

// anyExponent reports whether a value of data has a number with an
// exponent (see hasExponent).
func anyExponent(data map[string]json.RawMessage) bool {
	for _, v := range data {
		if hasExponent(v) {
			return true
		}
	}
	return false
}

// hasExponent reports whether the JSON value v has an e or E outside its
// strings: a number with an exponent, which jsonb stores as numeric and
// prints without one, so that it can take more bytes than sessionstore.Size
// counts.
func hasExponent(v json.RawMessage) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case 'e', 'E': // after a digit: true and false have an e too
			if i > 0 && '0' <= v[i-1] && v[i-1] <= '9' {
				return true
			}
		case '"':
			for i++; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' {
					i++
				}
			}
		}
	}
	return false
}

// merge runs MergeSession; when it changes no row, MergedSize says why: the
// session is gone (ErrNotFound) or the merge would grow it past maxBytes
// (*SizeError). A concurrent change that made room in between is retried.
func merge(ctx context.Context, q *pgdb.Queries, arg pgdb.MergeSessionParams, c sessionstore.Change) error {
	for range 3 {
		n, err := q.MergeSession(ctx, arg)
		if err != nil || n > 0 {
			return err
		}
		if c.MaxBytes <= 0 {
			return sessionstore.ErrNotFound
		}
		deleted := arg.DeletedKeys
		if deleted == nil {
			deleted = []string{}
		}
		size, err := q.MergedSize(ctx, pgdb.MergedSizeParams{DeletedKeys: deleted, Changed: arg.Changed, IDHash: arg.IDHash, Now: arg.Now})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return sessionstore.ErrNotFound
		case err != nil:
			return err
		}
		if err := c.CheckSize(int(size.Merged), int(size.Current)); err != nil {
			return err
		}
	}
	return errors.New("the merge fitted the size limit but concurrent changes kept it from applying; retry")
}

// Rekey implements sessionstore.Store: in one transaction, the row is
// deleted under old (TakeSession) and inserted under new (InsertSession).
func (s *Store) Rekey(ctx context.Context, old, new sessionstore.IDHash, retire *sessionstore.Retire, now time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		row, err := q.TakeSession(ctx, old[:])
		if errors.Is(err, pgx.ErrNoRows) || err == nil && !row.ExpiresAt.After(now) {
			return sessionstore.ErrNotFound // rolls back: a dead row is the reaper's
		}
		if err != nil {
			return err
		}
		n, err := q.InsertSession(ctx, pgdb.InsertSessionParams{
			IDHash: new[:], Data: row.Data, ExpiresAt: row.ExpiresAt, CreatedAt: row.CreatedAt,
			UserID: deref(row.UserID), LastSeenAt: row.LastSeenAt, Ip: deref(row.Ip), UserAgent: deref(row.UserAgent), Now: now,
		})
		switch {
		case err != nil:
			return err
		case n == 0:
			return sessionstore.ErrExists
		case retire == nil:
			return nil
		}
		return q.InsertRetired(ctx, pgdb.InsertRetiredParams{IDHash: old[:], Successor: new[:], UserID: row.UserID,
			GraceUntil: retire.GraceUntil, ExpiresAt: retire.ExpiresAt, Sealed: retire.Sealed})
	})
	if err != nil {
		return fmt.Errorf("pgstore: rekey: %w", err)
	}
	return nil
}

// deref is *p, or "" for nil (NULL, which InsertSession writes for "").
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Retired implements sessionstore.Store.
func (s *Store) Retired(ctx context.Context, h sessionstore.IDHash, now time.Time) (sessionstore.Retired, error) {
	row, err := s.q.GetRetired(ctx, pgdb.GetRetiredParams{IDHash: h[:], Now: now})
	if errors.Is(err, pgx.ErrNoRows) {
		return sessionstore.Retired{}, fmt.Errorf("pgstore: retired: %w", sessionstore.ErrNotFound)
	}
	if err != nil {
		return sessionstore.Retired{}, fmt.Errorf("pgstore: retired: %w", err)
	}
	r := sessionstore.Retired{UserID: row.UserID, GraceUntil: row.GraceUntil.UTC(), ExpiresAt: row.ExpiresAt.UTC(), Sealed: row.Sealed}
	copy(r.Successor[:], row.Successor)
	return r, nil
}

// Touch implements sessionstore.Store.
func (s *Store) Touch(ctx context.Context, h sessionstore.IDHash, expiresAt time.Time, device *sessionstore.Device, now time.Time) error {
	arg := pgdb.TouchSessionParams{ExpiresAt: expiresAt, IDHash: h[:], Now: now}
	if device != nil {
		arg.SetDevice, arg.LastSeenAt, arg.Ip, arg.UserAgent = true, &device.LastSeen, device.IP, device.UserAgent
	}
	n, err := retry(func() (int64, error) { return s.q.TouchSession(ctx, arg) })
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
func (s *Store) DestroyUser(ctx context.Context, userID string, keep sessionstore.IDHash) (int, error) {
	if userID == "" {
		return 0, nil
	}
	n, err := retry(func() (int64, error) {
		return s.q.DeleteUserSessions(ctx, pgdb.DeleteUserSessionsParams{UserID: userID, Keep: keep[:]})
	})
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
	rows, err := retry(func() ([]pgdb.ListUserSessionsRow, error) {
		return s.q.ListUserSessions(ctx, pgdb.ListUserSessionsParams{UserID: userID, Now: now})
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: list user: %w", err)
	}
	out := make([]sessionstore.SessionInfo, 0, len(rows))
	for _, r := range rows {
		data, err := sessionstore.DecodeData(r.Data)
		if err != nil {
			return nil, fmt.Errorf("pgstore: list user: %w", err)
		}
		info := sessionstore.SessionInfo{Data: data, CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), IP: r.Ip, UserAgent: r.UserAgent}
		if r.LastSeenAt != nil {
			info.LastSeen = r.LastSeenAt.UTC()
		}
		copy(info.Hash[:], r.IDHash)
		out = append(out, info)
	}
	return out, nil
}

// DeleteExpired implements sessionstore.Store. On PostgreSQL a batch is
// locked with FOR UPDATE SKIP LOCKED and deleted by ctid, so many reapers
// can run at once, each on rows no other is deleting. On Citus (detected
// once, from pg_extension), where neither works on a distributed table, a
// batch is picked by a sub-select and deleted by primary key with the
// expiry checked again (DeleteExpiredBatchByKey): batches stay exact, but
// concurrent reapers do not share work.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 || limit > 1<<31-1 {
		return 0, fmt.Errorf("pgstore: delete expired: limit %d, want 1..%d", limit, 1<<31-1)
	}
	citus, err := s.isCitus(ctx)
	if err != nil {
		return 0, fmt.Errorf("pgstore: delete expired: %w", err)
	}
	n, err := retry(func() (int64, error) {
		if citus {
			return s.q.DeleteExpiredBatchByKey(ctx, pgdb.DeleteExpiredBatchByKeyParams{Before: before, BatchSize: int32(limit)})
		}
		return s.q.DeleteExpiredBatch(ctx, pgdb.DeleteExpiredBatchParams{Before: before, BatchSize: int32(limit)})
	})
	if err == nil && int(n) < limit { // the sessions are done: the retired ids' turn
		var m int64
		m, err = retry(func() (int64, error) {
			return s.q.DeleteExpiredRetired(ctx, pgdb.DeleteExpiredRetiredParams{Before: before, BatchSize: int32(limit - int(n))})
		})
		n += m
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: delete expired: %w", err)
	}
	return int(n), nil
}

// WALPosition implements sessions.WALMeter, for a reaping run paced by a
// WAL budget (sessions.ReapOptions.WALRate): the server's WAL insert
// position, in bytes. On Citus it fails with errors.ErrUnsupported: the
// coordinator's WAL does not show what the workers' deletes wrote.
func (s *Store) WALPosition(ctx context.Context) (int64, error) {
	citus, err := s.isCitus(ctx)
	if err != nil {
		return 0, fmt.Errorf("pgstore: WAL position: %w", err)
	}
	if citus {
		return 0, fmt.Errorf("pgstore: WAL position on Citus (the workers write the WAL): %w", errors.ErrUnsupported)
	}
	pos, err := s.q.WALInsertPosition(ctx)
	if err != nil {
		return 0, fmt.Errorf("pgstore: WAL position: %w", err)
	}
	return pos, nil
}

// isCitus reports whether the database has the Citus extension, asking
// once per Store (a failed look-up is asked again next time).
func (s *Store) isCitus(ctx context.Context) (bool, error) {
	s.citusMu.Lock()
	defer s.citusMu.Unlock()
	if s.citus != nil {
		return *s.citus, nil
	}
	citus, err := s.q.IsCitus(ctx)
	if err != nil {
		return false, fmt.Errorf("look for citus: %w", err)
	}
	s.citus = &citus
	return citus, nil
}

// CountExpired implements sessionstore.Store.
func (s *Store) CountExpired(ctx context.Context, before time.Time) (int, error) {
	n, err := s.q.CountExpired(ctx, before)
	if err != nil {
		return 0, fmt.Errorf("pgstore: count expired: %w", err)
	}
	return int(n), nil
}
