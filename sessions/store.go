package sessions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned by a Store when a session does not exist or has
// expired. Stores wrap it; test with errors.Is.
var ErrNotFound = errors.New("session not found")

// ErrExists is returned by Store.Create when a live session already has the
// id hash (only possible with a custom Options.GenID that repeats itself).
var ErrExists = errors.New("session already exists")

// ErrTooLarge is returned when a session's data, or one value, is larger
// than the configured limit. The *SizeError that carries it says by how much.
var ErrTooLarge = errors.New("session data too large")

// DefaultMaxDataBytes is the default limit on the JSON size of one session's
// data (and so of a single write to a store): 1 MiB.
const DefaultMaxDataBytes = 1 << 20

// SizeError reports data over the size limit. It matches ErrTooLarge with
// errors.Is.
type SizeError struct {
	Size  int // bytes of JSON that were to be written
	Limit int // the limit in force
}

// Error describes the size and the limit.
func (e *SizeError) Error() string {
	return fmt.Sprintf("session data too large: %d bytes of JSON, limit %d", e.Size, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *SizeError) Is(target error) bool { return target == ErrTooLarge }

// CheckSize returns a *SizeError when size exceeds limit; a limit of 0 or
// less means DefaultMaxDataBytes. Stores call it before every write.
func CheckSize(size, limit int) error {
	if limit <= 0 {
		limit = DefaultMaxDataBytes
	}
	if size > limit {
		return &SizeError{Size: size, Limit: limit}
	}
	return nil
}

// IDHash is the SHA-256 of a session id. It is the only form of the id that
// reaches a Store, a log line or the database: the raw id lives only in the
// client's cookie, so a database dump holds no usable session token.
type IDHash [sha256.Size]byte

// HashID returns the IDHash of a session id.
func HashID(id string) IDHash { return sha256.Sum256([]byte(id)) }

// String returns the hash in lower-case hex.
func (h IDHash) String() string { return hex.EncodeToString(h[:]) }

// ParseIDHash parses the hex form returned by IDHash.String, for example a
// "revoke" form field naming one of a user's sessions.
func ParseIDHash(s string) (IDHash, error) {
	var h IDHash
	if len(s) != hex.EncodedLen(len(h)) {
		return h, fmt.Errorf("sessions: parse id hash: want %d hex digits, got %d", hex.EncodedLen(len(h)), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("sessions: parse id hash: %w", err)
	}
	return h, nil
}

// Record is a session as a Store holds it.
type Record struct {
	// Data is the session's JSON object, one entry per top-level key. The
	// reserved key "cookie" holds the express-session cookie JSON.
	Data map[string]json.RawMessage
	// CreatedAt is when the session was first saved (for AbsoluteTimeout).
	CreatedAt time.Time
	// ExpiresAt is when the session dies: after it, Load never returns it.
	ExpiresAt time.Time
	// UserID is the optional principal; "" means none (NULL in SQL).
	UserID string
}

// Change is what one request did to a loaded session: the keys it set (with
// their new JSON values), the keys it deleted, and the new expiry. Stores
// apply it as a merge, so concurrent changes to different keys of one
// session never lose each other.
type Change struct {
	Set       map[string]json.RawMessage
	Deleted   []string
	ExpiresAt time.Time
	// SetUser says whether UserID is to be written; UserID "" clears it.
	SetUser bool
	UserID  string
}

// SessionInfo describes one of a user's sessions without revealing its id.
// Pass Hash to Store.Destroy (or Manager.DestroySession) to revoke it.
type SessionInfo struct {
	Hash      IDHash
	Data      map[string]json.RawMessage
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Store keeps sessions. Every method takes the session's IDHash, never the
// raw id. Methods that depend on the time take now explicitly, so that one
// clock (the Manager's) decides what is expired. Implementations must be
// safe for concurrent use. sessions/storetest holds the contract suite
// every Store must pass.
type Store interface {
	// Load returns the session if it exists and expires after now, and an
	// error wrapping ErrNotFound otherwise.
	Load(ctx context.Context, h IDHash, now time.Time) (Record, error)
	// Create saves a whole new session. A live session with the same hash
	// is left alone and ErrExists returned; an expired one is replaced.
	Create(ctx context.Context, h IDHash, r Record, now time.Time) error
	// Update merges c into a live session: deletes c.Deleted, sets c.Set,
	// moves the expiry to c.ExpiresAt and, with c.SetUser, sets the user.
	// A session that is gone or expired is not recreated: ErrNotFound.
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
	// before before, and returns how many it deleted. sess-gc calls it
	// until it returns less than limit.
	DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error)
	// CountExpired counts sessions that expired at or before before.
	CountExpired(ctx context.Context, before time.Time) (int, error)
	// Count counts live sessions (expiring after now).
	Count(ctx context.Context, now time.Time) (int, error)
}

// DataSize returns the size in bytes of data encoded as one JSON object
// (what a store writes), without encoding it.
func DataSize(data map[string]json.RawMessage) int {
	n := 2 // {}
	for k, v := range data {
		if n > 2 {
			n++ // ,
		}
		b, _ := json.Marshal(k)
		n += len(b) + 1 + len(v)
	}
	return n
}

// EncodeData encodes data as one JSON object, checking that each value is
// valid JSON and that the whole fits in limit bytes (0 or less means
// DefaultMaxDataBytes; a *SizeError otherwise). Stores use it to turn a
// Record's or Change's data into a column.
func EncodeData(data map[string]json.RawMessage, limit int) ([]byte, error) {
	if data == nil {
		data = map[string]json.RawMessage{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode session data: %w", err)
	}
	if err := CheckSize(len(b), limit); err != nil {
		return nil, err
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
