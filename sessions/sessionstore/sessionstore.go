// Package sessionstore is the contract between sessions.Manager and the database
// that keeps sessions. Applications never need it: they pass a ready Store
// (pgstore.New, sqlitestore.New, memstore.New) to sessions.New. It is for
// authors of a Store: the Store interface, the Record and Change values it
// receives, the errors it returns, and the JSON helpers the bundled stores
// share. package storetest holds the contract suite every Store must pass.
//
// A Store never sees a raw session id, only its IDHash (SHA-256), so a
// database dump holds no usable session token. It never decides what is
// expired on its own clock: time-dependent methods take now from the
// Manager. The Manager owns the one size limit (sessions.Options.MaxDataBytes):
// Session.Set refuses oversized values before anything reaches the store,
// and the Manager passes the limit on (Record.MaxBytes, Change.MaxBytes) so
// that the store enforces it atomically on the data it would keep, which
// concurrent requests adding to one session could otherwise grow past it.
package sessionstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned when a session does not exist or has expired.
// Stores wrap it; test with errors.Is.
var ErrNotFound = errors.New("session not found")

// ErrExists is returned by Store.Create when a live session already has the
// id hash (only possible with a custom id generator that repeats itself).
var ErrExists = errors.New("session already exists")

// ErrTooLarge is returned when a session's data is larger than the limit
// in force. The *SizeError that carries it says by how much.
var ErrTooLarge = errors.New("session data too large")

// SizeError reports data over the size limit. It matches ErrTooLarge with
// errors.Is.
type SizeError struct {
	Size  int // bytes of JSON the session would take
	Limit int // the limit in force
}

// Error describes the size and the limit.
func (e *SizeError) Error() string {
	return fmt.Sprintf("session data too large: %d bytes of JSON, limit %d", e.Size, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *SizeError) Is(target error) bool { return target == ErrTooLarge }

// IDHash is the SHA-256 of a session id. It is the only form of the id that
// reaches a Store, a log line or the database: the raw id lives only in the
// client's cookie.
type IDHash [sha256.Size]byte

// HashID returns the IDHash of a session id.
func HashID(id string) IDHash { return sha256.Sum256([]byte(id)) }

// String returns the hash in lower-case hex.
func (h IDHash) String() string { return hex.EncodeToString(h[:]) }

// ParseIDHash parses the hex form returned by IDHash.String.
func ParseIDHash(s string) (IDHash, error) {
	var h IDHash
	if len(s) != hex.EncodedLen(len(h)) {
		return h, fmt.Errorf("parse id hash: want %d hex digits, got %d", hex.EncodedLen(len(h)), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("parse id hash: %w", err)
	}
	return h, nil
}

// Record is a whole session as a Store holds it.
type Record struct {
	// Data is the session's JSON object, one entry per top-level key. The
	// reserved key "cookie" holds the express-session cookie JSON.
	Data map[string]json.RawMessage
	// CreatedAt is when the session was first saved (for the absolute
	// timeout).
	CreatedAt time.Time
	// ExpiresAt is when the session dies: after it, Load never returns it.
	ExpiresAt time.Time
	// UserID is the optional principal; "" means none (NULL in SQL).
	UserID string
	// MaxBytes, when positive, is the most bytes Data may take as the
	// store keeps it (its JSON text: jsonb's text form on Postgres, the
	// JSON column on SQLite). Create stores nothing and returns a
	// *SizeError when Data is larger. 0 means no limit. Load leaves it 0.
	MaxBytes int
}

// Change is what one request did to a loaded session: the keys it set (with
// their new JSON values), the keys it deleted, the new expiry and, when
// UserID is not nil, the new principal ("" clears it). Stores apply it as
// a merge, so concurrent changes to different keys of one session never
// lose each other.
//
// MaxBytes, when positive, limits the merged data (as Record.MaxBytes): a
// merge whose result would be larger changes nothing, not even the expiry,
// and Update returns a *SizeError. The check is atomic with the merge, so
// concurrent updates cannot together grow a session past the limit.
type Change struct {
	Set       map[string]json.RawMessage
	Deleted   []string
	ExpiresAt time.Time
	UserID    *string
	MaxBytes  int
}

// SessionInfo describes one of a user's sessions without revealing its id.
// Hash is the handle that revokes it (Manager.DestroySession).
type SessionInfo struct {
	Hash      IDHash
	Data      map[string]json.RawMessage
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Store keeps sessions. Every method takes the session's IDHash, never the
// raw id. Methods that depend on the time take now explicitly, so that one
// clock (the Manager's) decides what is expired. Implementations must be
// safe for concurrent use.
type Store interface {
	// Load returns the session if it exists and expires after now, and an
	// error wrapping ErrNotFound otherwise.
	Load(ctx context.Context, h IDHash, now time.Time) (Record, error)
	// Create saves a whole new session. A live session with the same hash
	// is left alone and ErrExists returned; an expired one is replaced.
	// Data larger than r.MaxBytes is refused with a *SizeError.
	Create(ctx context.Context, h IDHash, r Record, now time.Time) error
	// Update merges c into a live session: deletes c.Deleted, sets c.Set,
	// moves the expiry to c.ExpiresAt and, when c.UserID is not nil, sets
	// the user. A session that is gone or expired is not recreated:
	// ErrNotFound. A merge whose result exceeds c.MaxBytes changes nothing:
	// a *SizeError.
	Update(ctx context.Context, h IDHash, c Change, now time.Time) error
	// Touch moves a live session's expiry to expiresAt and changes nothing
	// else; ErrNotFound if the session is gone or expired.
	Touch(ctx context.Context, h IDHash, expiresAt, now time.Time) error
	// Destroy deletes the session. Deleting a missing one is not an error.
	Destroy(ctx context.Context, h IDHash) error
	// DestroyUser deletes every session of the user and returns how many.
	DestroyUser(ctx context.Context, userID string) (int, error)
	// ListUser returns the user's live sessions, newest first.
	ListUser(ctx context.Context, userID string, now time.Time) ([]SessionInfo, error)
	// DeleteExpired deletes at most limit sessions that expired at or
	// before before, and returns how many it deleted: one batch of the
	// reaper, which calls it until it returns less than limit.
	DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error)
	// CountExpired counts sessions that expired at or before before. With
	// the zero time it must answer at once (an index probe, not a scan):
	// sess-gc uses it to check that the table exists.
	CountExpired(ctx context.Context, before time.Time) (int, error)
}

// EncodeData encodes a session's data as one JSON object, the form the
// bundled stores keep in their data column. Each value must be valid JSON.
func EncodeData(data map[string]json.RawMessage) ([]byte, error) {
	if data == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode session data: %w", err)
	}
	return b, nil
}

// DecodeData decodes a stored JSON object into its top-level entries.
func DecodeData(b []byte) (map[string]json.RawMessage, error) {
	var data map[string]json.RawMessage
	if err := json.Unmarshal(b, &data); err != nil {
		return nil, fmt.Errorf("decode session data: %w", err)
	}
	if data == nil {
		data = map[string]json.RawMessage{}
	}
	return data, nil
}
