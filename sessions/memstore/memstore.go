// Package memstore is an in-memory sessions.Store for tests and local
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
	"sort"
	"sync"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
)

// Options configures a Store. The zero value is valid.
type Options struct {
	// MaxDataBytes limits the JSON size of one session's data; 0 means
	// sessions.DefaultMaxDataBytes.
	MaxDataBytes int
	// Logger receives the one-time "not for production" warning; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Store is an in-memory sessions.Store. Its zero value is not usable; call
// New. It is safe for concurrent use.
type Store struct {
	opts   Options
	warned sync.Once

	mu   sync.Mutex
	rows map[sessions.IDHash]sessions.Record
}

var _ sessions.Store = (*Store)(nil)

// New returns an empty Store with default options.
func New() *Store { return NewWithOptions(Options{}) }

// NewWithOptions returns an empty Store.
func NewWithOptions(opts Options) *Store {
	return &Store{opts: opts, rows: make(map[sessions.IDHash]sessions.Record)}
}

func (s *Store) warn() {
	s.warned.Do(func() {
		l := s.opts.Logger
		if l == nil {
			l = slog.Default()
		}
		l.Warn("sqlsession: memstore is for tests and development only: it loses every session on restart, is not shared between processes and will leak memory; use pgstore or sqlitestore in production")
	})
}

func (s *Store) lock() {
	s.warn()
	s.mu.Lock()
}

// Load implements sessions.Store.
func (s *Store) Load(ctx context.Context, h sessions.IDHash, now time.Time) (sessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return sessions.Record{}, fmt.Errorf("memstore: load: %w", err)
	}
	s.lock()
	defer s.mu.Unlock()
	r, ok := s.rows[h]
	if !ok || !r.ExpiresAt.After(now) {
		return sessions.Record{}, fmt.Errorf("memstore: load: %w", sessions.ErrNotFound)
	}
	r.Data = copyData(r.Data)
	return r, nil
}

// Create implements sessions.Store.
func (s *Store) Create(ctx context.Context, h sessions.IDHash, r sessions.Record, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: create: %w", err)
	}
	if err := s.checkSize(r.Data); err != nil {
		return fmt.Errorf("memstore: create: %w", err)
	}
	s.lock()
	defer s.mu.Unlock()
	if old, ok := s.rows[h]; ok && old.ExpiresAt.After(now) {
		return fmt.Errorf("memstore: create: %w", sessions.ErrExists)
	}
	r.Data = copyData(r.Data)
	s.rows[h] = r
	return nil
}

// Update implements sessions.Store.
func (s *Store) Update(ctx context.Context, h sessions.IDHash, c sessions.Change, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: update: %w", err)
	}
	if err := s.checkSize(c.Set); err != nil {
		return fmt.Errorf("memstore: update: %w", err)
	}
	s.lock()
	defer s.mu.Unlock()
	r, ok := s.rows[h]
	if !ok || !r.ExpiresAt.After(now) {
		return fmt.Errorf("memstore: update: %w", sessions.ErrNotFound)
	}
	data := copyData(r.Data)
	for _, k := range c.Deleted {
		delete(data, k)
	}
	for k, v := range c.Set {
		data[k] = append(json.RawMessage(nil), v...)
	}
	if err := s.checkSize(data); err != nil {
		return fmt.Errorf("memstore: update: %w", err)
	}
	r.Data = data
	r.ExpiresAt = c.ExpiresAt
	if c.SetUser {
		r.UserID = c.UserID
	}
	s.rows[h] = r
	return nil
}

// Touch implements sessions.Store.
func (s *Store) Touch(ctx context.Context, h sessions.IDHash, expiresAt, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: touch: %w", err)
	}
	s.lock()
	defer s.mu.Unlock()
	r, ok := s.rows[h]
	if !ok || !r.ExpiresAt.After(now) {
		return fmt.Errorf("memstore: touch: %w", sessions.ErrNotFound)
	}
	r.ExpiresAt = expiresAt
	s.rows[h] = r
	return nil
}

// Destroy implements sessions.Store.
func (s *Store) Destroy(ctx context.Context, h sessions.IDHash) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: destroy: %w", err)
	}
	s.lock()
	defer s.mu.Unlock()
	delete(s.rows, h)
	return nil
}

// DestroyUser implements sessions.Store.
func (s *Store) DestroyUser(ctx context.Context, userID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memstore: destroy user: %w", err)
	}
	if userID == "" {
		return 0, nil
	}
	s.lock()
	defer s.mu.Unlock()
	n := 0
	for h, r := range s.rows {
		if r.UserID == userID {
			delete(s.rows, h)
			n++
		}
	}
	return n, nil
}

// ListUser implements sessions.Store.
func (s *Store) ListUser(ctx context.Context, userID string, now time.Time) ([]sessions.SessionInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: list user: %w", err)
	}
	s.lock()
	defer s.mu.Unlock()
	var out []sessions.SessionInfo
	for h, r := range s.rows {
		if userID != "" && r.UserID == userID && r.ExpiresAt.After(now) {
			out = append(out, sessions.SessionInfo{Hash: h, Data: copyData(r.Data), CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].Hash.String() < out[j].Hash.String()
	})
	return out, nil
}

// DeleteExpired implements sessions.Store.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memstore: delete expired: %w", err)
	}
	if limit <= 0 {
		return 0, fmt.Errorf("memstore: delete expired: limit %d, want > 0", limit)
	}
	s.lock()
	defer s.mu.Unlock()
	n := 0
	for h, r := range s.rows {
		if n == limit {
			break
		}
		if !r.ExpiresAt.After(before) {
			delete(s.rows, h)
			n++
		}
	}
	return n, nil
}

// CountExpired implements sessions.Store.
func (s *Store) CountExpired(ctx context.Context, before time.Time) (int, error) {
	return s.count(ctx, func(r sessions.Record) bool { return !r.ExpiresAt.After(before) })
}

// Count implements sessions.Store.
func (s *Store) Count(ctx context.Context, now time.Time) (int, error) {
	return s.count(ctx, func(r sessions.Record) bool { return r.ExpiresAt.After(now) })
}

func (s *Store) count(ctx context.Context, match func(sessions.Record) bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memstore: count: %w", err)
	}
	s.lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.rows {
		if match(r) {
			n++
		}
	}
	return n, nil
}

func (s *Store) checkSize(data map[string]json.RawMessage) error {
	return sessions.CheckSize(sessions.DataSize(data), s.opts.MaxDataBytes)
}

func copyData(in map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(in))
	for k, v := range in {
		out[k] = append(json.RawMessage(nil), v...)
	}
	return out
}
