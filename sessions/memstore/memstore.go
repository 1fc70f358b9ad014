// Package memstore is an in-memory session store for tests and local
// development.
//
// It is not for production: sessions live in one process's memory, so they
// are lost on restart and not shared between instances, and nothing bounds
// the memory they take beyond expiry. Like express-session's MemoryStore, it
// logs a warning saying so the first time a Store is used.
package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// Options configures a Store. The zero value is valid.
type Options struct {
	// Logger receives the one-time "not for production" warning; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Store is an in-memory sessionstore.Store. Its zero value is not usable; call
// New. It is safe for concurrent use.
type Store struct {
	opts   Options
	warned sync.Once

	mu   sync.Mutex
	rows map[sessionstore.IDHash]sessionstore.Record
}

var _ sessionstore.Store = (*Store)(nil)

// New returns an empty Store with default options.
func New() *Store { return NewWithOptions(Options{}) }

// NewWithOptions returns an empty Store.
func NewWithOptions(opts Options) *Store {
	return &Store{opts: opts, rows: make(map[sessionstore.IDHash]sessionstore.Record)}
}

// begin starts the operation op: it fails when ctx is done, and otherwise
// locks the store (the caller unlocks s.mu).
func (s *Store) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %s: %w", op, err)
	}
	s.warned.Do(func() {
		l := s.opts.Logger
		if l == nil {
			l = slog.Default()
		}
		l.Warn("sessions: memstore is for tests and development only: it loses every session on restart, is not shared between processes and will leak memory; use pgstore or sqlitestore in production")
	})
	s.mu.Lock()
	return nil
}

// live returns the row for h if it expires after now. s.mu is held.
func (s *Store) live(h sessionstore.IDHash, now time.Time) (sessionstore.Record, bool) {
	r, ok := s.rows[h]
	return r, ok && r.ExpiresAt.After(now)
}

// Load implements sessionstore.Store.
func (s *Store) Load(ctx context.Context, h sessionstore.IDHash, now time.Time) (sessionstore.Record, error) {
	if err := s.begin(ctx, "load"); err != nil {
		return sessionstore.Record{}, err
	}
	defer s.mu.Unlock()
	r, ok := s.live(h, now)
	if !ok {
		return sessionstore.Record{}, fmt.Errorf("memstore: load: %w", sessionstore.ErrNotFound)
	}
	r.Data = copyData(r.Data)
	return r, nil
}

// Create implements sessionstore.Store.
func (s *Store) Create(ctx context.Context, h sessionstore.IDHash, r sessionstore.Record, now time.Time) error {
	if err := s.begin(ctx, "create"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.live(h, now); ok {
		return fmt.Errorf("memstore: create: %w", sessionstore.ErrExists)
	}
	if err := checkSize(r.Data, r.MaxBytes); err != nil {
		return fmt.Errorf("memstore: create: %w", err)
	}
	r.Data, r.MaxBytes = copyData(r.Data), 0
	s.rows[h] = r
	return nil
}

// checkSize returns a *sessionstore.SizeError when data, encoded as the SQL
// stores keep it, is longer than limit (0: no limit).
func checkSize(data map[string]json.RawMessage, limit int) error {
	if limit <= 0 {
		return nil
	}
	b, err := sessionstore.EncodeData(data)
	if err != nil {
		return err
	}
	if len(b) > limit {
		return &sessionstore.SizeError{Size: len(b), Limit: limit}
	}
	return nil
}

// Update implements sessionstore.Store.
func (s *Store) Update(ctx context.Context, h sessionstore.IDHash, c sessionstore.Change, now time.Time) error {
	if err := s.begin(ctx, "update"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	r, ok := s.live(h, now)
	if !ok {
		return fmt.Errorf("memstore: update: %w", sessionstore.ErrNotFound)
	}
	data := copyData(r.Data)
	for _, k := range c.Deleted {
		delete(data, k)
	}
	for k, v := range c.Set {
		data[k] = append(json.RawMessage(nil), v...)
	}
	if err := checkSize(data, c.MaxBytes); err != nil {
		return fmt.Errorf("memstore: update: %w", err)
	}
	r.Data, r.ExpiresAt = data, c.ExpiresAt
	if c.UserID != nil {
		r.UserID = *c.UserID
	}
	s.rows[h] = r
	return nil
}

// Touch implements sessionstore.Store.
func (s *Store) Touch(ctx context.Context, h sessionstore.IDHash, expiresAt, now time.Time) error {
	if err := s.begin(ctx, "touch"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	r, ok := s.live(h, now)
	if !ok {
		return fmt.Errorf("memstore: touch: %w", sessionstore.ErrNotFound)
	}
	r.ExpiresAt = expiresAt
	s.rows[h] = r
	return nil
}

// Destroy implements sessionstore.Store.
func (s *Store) Destroy(ctx context.Context, h sessionstore.IDHash) error {
	if err := s.begin(ctx, "destroy"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.rows, h)
	return nil
}

// DestroyUser implements sessionstore.Store.
func (s *Store) DestroyUser(ctx context.Context, userID string) (int, error) {
	return s.deleteWhere(ctx, "destroy user", -1, func(r sessionstore.Record) bool { return userID != "" && r.UserID == userID })
}

// ListUser implements sessionstore.Store.
func (s *Store) ListUser(ctx context.Context, userID string, now time.Time) ([]sessionstore.SessionInfo, error) {
	if err := s.begin(ctx, "list user"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []sessionstore.SessionInfo
	for h, r := range s.rows {
		if userID != "" && r.UserID == userID && r.ExpiresAt.After(now) {
			out = append(out, sessionstore.SessionInfo{Hash: h, Data: copyData(r.Data), CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt})
		}
	}
	slices.SortFunc(out, func(a, b sessionstore.SessionInfo) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Hash.String(), b.Hash.String())
	})
	return out, nil
}

// DeleteExpired implements sessionstore.Store.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("memstore: delete expired: limit %d, want > 0", limit)
	}
	return s.deleteWhere(ctx, "delete expired", limit, func(r sessionstore.Record) bool { return !r.ExpiresAt.After(before) })
}

// deleteWhere deletes up to limit (-1: all) rows that match.
func (s *Store) deleteWhere(ctx context.Context, op string, limit int, match func(sessionstore.Record) bool) (int, error) {
	if err := s.begin(ctx, op); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for h, r := range s.rows {
		if n == limit {
			break
		}
		if match(r) {
			delete(s.rows, h)
			n++
		}
	}
	return n, nil
}

// CountExpired implements sessionstore.Store.
func (s *Store) CountExpired(ctx context.Context, before time.Time) (int, error) {
	if err := s.begin(ctx, "count expired"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.rows {
		if !r.ExpiresAt.After(before) {
			n++
		}
	}
	return n, nil
}

func copyData(in map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(in))
	for k, v := range in {
		out[k] = append(json.RawMessage(nil), v...)
	}
	return out
}

// Count returns how many live sessions (expiring after now) the store
// holds, like express-session's MemoryStore.length; for tests.
func (s *Store) Count(ctx context.Context, now time.Time) (int, error) {
	if err := s.begin(ctx, "count"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.rows {
		if r.ExpiresAt.After(now) {
			n++
		}
	}
	return n, nil
}
