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

	mu      sync.Mutex
	rows    map[sessionstore.IDHash]sessionstore.Record
	retired map[sessionstore.IDHash]sessionstore.Retired
}

var _ sessionstore.Store = (*Store)(nil)

// New returns an empty Store with default options.
func New() *Store { return NewWithOptions(Options{}) }

// NewWithOptions returns an empty Store.
func NewWithOptions(opts Options) *Store {
	return &Store{opts: opts, rows: make(map[sessionstore.IDHash]sessionstore.Record), retired: make(map[sessionstore.IDHash]sessionstore.Retired)}
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
	if now.IsZero() {
		now = time.Now() // the real clock
	}
	r, ok := s.live(h, now)
	if !ok {
		return sessionstore.Record{}, fmt.Errorf("memstore: load: %w", sessionstore.ErrNotFound)
	}
	r.Data = nil // r.JSON, which no one writes into, is the data
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
	r.MaxBytes = 0
	if err := setData(&r, copyData(r.Data)); err != nil {
		return fmt.Errorf("memstore: create: %w", err)
	}
	s.rows[h] = r
	s.evict(r.UserID, h, r.MaxPerUser, now)
	return nil
}

// evict applies the per-user cap: the user's sessions beyond the max-1
// newest others go, keep never among them. s.mu is held.
func (s *Store) evict(user string, keep sessionstore.IDHash, max int, now time.Time) {
	if max <= 0 || user == "" {
		return
	}
	live := s.userSessions(user, now)
	kept := 0
	for _, info := range live {
		if info.Hash == keep {
			continue
		}
		if kept++; kept >= max {
			delete(s.rows, info.Hash)
		}
	}
	for h, r := range s.rows { // the user's expired rows too
		if r.UserID == user && h != keep && !r.ExpiresAt.After(now) {
			delete(s.rows, h)
		}
	}
}

// userSessions returns the user's live sessions, newest first. s.mu is held.
func (s *Store) userSessions(user string, now time.Time) []sessionstore.SessionInfo {
	var out []sessionstore.SessionInfo
	for h, r := range s.rows {
		if user != "" && r.UserID == user && r.ExpiresAt.After(now) {
			info := sessionstore.SessionInfo{Hash: h, Data: r.Data, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
			if d := r.Device; d != nil {
				info.LastSeen, info.IP, info.UserAgent = d.LastSeen, d.IP, d.UserAgent
			}
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(a, b sessionstore.SessionInfo) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Hash.String(), b.Hash.String())
	})
	return out
}

// checkSize refuses data over limit, measured as every store measures it
// (sessionstore.Size).
func checkSize(data map[string]json.RawMessage, limit int) error {
	if size := sessionstore.Size(data); limit > 0 && size > limit {
		return &sessionstore.SizeError{Size: size, Limit: limit}
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
	if err := c.CheckSize(sessionstore.Size(data), sessionstore.Size(r.Data)); err != nil {
		return fmt.Errorf("memstore: update: %w", err)
	}
	if err := setData(&r, data); err != nil {
		return fmt.Errorf("memstore: update: %w", err)
	}
	r.ExpiresAt = c.NextExpiry(r.ExpiresAt)
	if c.UserID != nil {
		r.UserID = *c.UserID
	}
	r.Device = copyDevice(c.Device, r.Device)
	s.rows[h] = r
	if c.UserID != nil {
		s.evict(r.UserID, h, c.MaxPerUser, now)
	}
	return nil
}

// Rekey implements sessionstore.Store.
func (s *Store) Rekey(ctx context.Context, old, new sessionstore.IDHash, retire *sessionstore.Retire, now time.Time) error {
	if err := s.begin(ctx, "rekey"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	r, ok := s.live(old, now)
	if !ok {
		return fmt.Errorf("memstore: rekey: %w", sessionstore.ErrNotFound)
	}
	if _, taken := s.live(new, now); taken {
		return fmt.Errorf("memstore: rekey: %w", sessionstore.ErrExists)
	}
	delete(s.rows, old)
	s.rows[new] = r
	if retire != nil {
		s.retired[old] = sessionstore.Retired{Successor: new, UserID: r.UserID, GraceUntil: retire.GraceUntil,
			ExpiresAt: retire.ExpiresAt, Sealed: append([]byte(nil), retire.Sealed...)}
	}
	return nil
}

// Retired implements sessionstore.Store.
func (s *Store) Retired(ctx context.Context, h sessionstore.IDHash, now time.Time) (sessionstore.Retired, error) {
	if err := s.begin(ctx, "retired"); err != nil {
		return sessionstore.Retired{}, err
	}
	defer s.mu.Unlock()
	r, ok := s.retired[h]
	if !ok || !r.ExpiresAt.After(now) {
		return sessionstore.Retired{}, fmt.Errorf("memstore: retired: %w", sessionstore.ErrNotFound)
	}
	r.Sealed = append([]byte(nil), r.Sealed...)
	return r, nil
}

// Touch implements sessionstore.Store.
func (s *Store) Touch(ctx context.Context, h sessionstore.IDHash, expiresAt time.Time, device *sessionstore.Device, now time.Time) error {
	if err := s.begin(ctx, "touch"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	r, ok := s.live(h, now)
	if !ok {
		return fmt.Errorf("memstore: touch: %w", sessionstore.ErrNotFound)
	}
	r.ExpiresAt = expiresAt
	r.Device = copyDevice(device, r.Device)
	s.rows[h] = r
	return nil
}

// Destroy implements sessionstore.Store.
func (s *Store) Destroy(ctx context.Context, h sessionstore.IDHash, now time.Time) (bool, error) {
	if err := s.begin(ctx, "destroy"); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	_, live := s.live(h, now)
	delete(s.rows, h)
	return live, nil
}

// DestroyUser implements sessionstore.Store.
func (s *Store) DestroyUser(ctx context.Context, userID string, keep sessionstore.IDHash) (int, error) {
	return s.deleteWhere(ctx, "destroy user", -1, func(h sessionstore.IDHash, r sessionstore.Record) bool {
		return userID != "" && r.UserID == userID && h != keep
	})
}

// ListUser implements sessionstore.Store.
func (s *Store) ListUser(ctx context.Context, userID string, now time.Time) ([]sessionstore.SessionInfo, error) {
	if err := s.begin(ctx, "list user"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := s.userSessions(userID, now)
	for i := range out {
		out[i].Data = copyData(out[i].Data)
	}
	return out, nil
}

// DeleteExpired implements sessionstore.Store.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("memstore: delete expired: limit %d, want > 0", limit)
	}
	n, err := s.deleteWhere(ctx, "delete expired", limit, func(_ sessionstore.IDHash, r sessionstore.Record) bool { return !r.ExpiresAt.After(before) })
	if err != nil || n == limit {
		return n, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, r := range s.retired {
		if n == limit {
			break
		}
		if !r.ExpiresAt.After(before) {
			delete(s.retired, h)
			n++
		}
	}
	return n, nil
}

// deleteWhere deletes up to limit (-1: all) rows that match.
func (s *Store) deleteWhere(ctx context.Context, op string, limit int, match func(sessionstore.IDHash, sessionstore.Record) bool) (int, error) {
	if err := s.begin(ctx, op); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for h, r := range s.rows {
		if n == limit {
			break
		}
		if match(h, r) {
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

// setData makes data the row's, with its JSON text (what Load returns):
// encoded once per write, so that a Load copies nothing.
func setData(r *sessionstore.Record, data map[string]json.RawMessage) error {
	text, err := sessionstore.EncodeData(data)
	if err != nil {
		return err
	}
	r.Data, r.JSON = data, text
	return nil
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

// copyDevice returns a copy of d, or old when d is nil (nothing recorded).
func copyDevice(d, old *sessionstore.Device) *sessionstore.Device {
	if d == nil {
		return old
	}
	c := *d
	return &c
}
