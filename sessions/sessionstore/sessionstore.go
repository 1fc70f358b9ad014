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

	"github.com/sqlsession/sqlsession/internal/jsonobj"
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
	// JSON, in a Record that Load returns, may hold the session's JSON
	// object as text instead of Data (which is then nil), as the database
	// returned it: the Manager reads only the keys a request asks for,
	// without decoding the others. Nothing writes into it, so a Store may
	// return text it keeps. Create always receives Data. Values and Value
	// read a Record either way.
	JSON []byte
	// CreatedAt is when the session was first saved (for the absolute
	// timeout).
	CreatedAt time.Time
	// ExpiresAt is when the session dies: after it, Load never returns it.
	ExpiresAt time.Time
	// UserID is the optional principal; "" means none (NULL in SQL).
	UserID string
	// MaxBytes, when positive, is the most bytes Data may take measured as
	// Size measures it (the JSON text PostgreSQL prints for jsonb; on
	// Postgres, octet_length(data::text)). Create stores nothing and
	// returns a *SizeError when Data is larger. 0 means no limit. Load
	// leaves it 0.
	MaxBytes int
	// Device, when not nil, is recorded with the row (last seen, client IP,
	// user agent). Load leaves it nil.
	Device *Device
	// MaxPerUser, when positive and UserID is set, caps the user's
	// sessions: in the same transaction as the write, the user's oldest
	// sessions beyond MaxPerUser (this one counted, never deleted) go.
	MaxPerUser int
}

// Values returns the record's data as a map: Data, or JSON decoded.
func (r Record) Values() (map[string]json.RawMessage, error) {
	if r.Data != nil || r.JSON == nil {
		return r.Data, nil
	}
	return DecodeData(r.JSON)
}

// Value returns the value of one key of the record's data, and whether it
// is there, decoding nothing else when the data is JSON text.
func (r Record) Value(key string) (json.RawMessage, bool, error) {
	if r.Data != nil || r.JSON == nil {
		v, ok := r.Data[key]
		return v, ok, nil
	}
	v, ok, err := jsonobj.Lookup(r.JSON, key)
	if err != nil {
		return nil, false, fmt.Errorf("decode session data: %w", err)
	}
	return v, ok, nil
}

// Device is what the latest request of a session said about its client,
// recorded when a write or touch happens anyway (sessions.Options.RecordDevice).
type Device struct {
	LastSeen  time.Time // when the request was served (the Manager's clock)
	IP        string    // the client's address (X-Forwarded-For only with TrustProxy)
	UserAgent string    // the User-Agent header, truncated
}

// Change is what one request did to a loaded session: the keys it set (with
// their new JSON values), the keys it deleted, the new expiry and, when
// UserID is not nil, the new principal ("" clears it). Stores apply it as
// a merge, so concurrent changes to different keys of one session never
// lose each other.
//
// MaxBytes, when positive, limits the merged data (as Record.MaxBytes): a
// merge whose result would be larger than MaxBytes, and larger than the
// session already is (by more than Reserve), changes nothing, not even
// the expiry, and Update returns a *SizeError (Change.CheckSize). The limit refuses growth, not existing data: a
// session stored before the limit was lowered (or by other code) stays
// writable as long as a merge does not grow it. The check is atomic with
// the merge, so concurrent updates cannot together grow a session past the
// limit.
type Change struct {
	// Set holds the keys to set, with their new JSON values.
	Set map[string]json.RawMessage
	// Deleted lists the keys to remove.
	Deleted []string
	// ExpiresAt is the new expiry. The zero time leaves the expiry as it
	// is (a passive request extends nothing). Unless Lifetime is set, the
	// expiry only moves forward: a request that loaded the session before
	// a concurrent request extended it never moves it back.
	ExpiresAt time.Time
	// Lifetime says the request changed the session's lifetime
	// (sessions.Session.SetMaxAge): ExpiresAt is then stored as it is,
	// earlier than the stored expiry or not.
	Lifetime bool
	// UserID, when not nil, sets the principal ("" clears it).
	UserID *string
	// MaxBytes limits the merged data's growth (see above); 0: no limit.
	MaxBytes int
	// Reserve is how many bytes a merge may add to a session already over
	// MaxBytes: room for the entries the library itself rewrites (the
	// cookie JSON, its metadata), so that such a session can still log
	// in. Its values cannot grow: Session.Set refuses that.
	Reserve int
	// Device, when not nil, is recorded (see Record.Device).
	Device *Device
	// MaxPerUser caps the user's sessions when UserID sets one (see
	// Record.MaxPerUser).
	MaxPerUser int
}

// NextExpiry is the expiry a store keeps after applying c to a row that
// expires at stored: c.ExpiresAt with Lifetime, else the later of the two;
// stored for the zero ExpiresAt.
func (c Change) NextExpiry(stored time.Time) time.Time {
	if c.Lifetime && !c.ExpiresAt.IsZero() || c.ExpiresAt.After(stored) {
		return c.ExpiresAt
	}
	return stored
}

// CheckSize returns a *SizeError when c would take data of before bytes to
// size bytes and that is what c.MaxBytes refuses: over the limit, and
// larger than before by more than c.Reserve.
func (c Change) CheckSize(size, before int) error {
	if c.MaxBytes > 0 && size > c.MaxBytes && size > before+c.Reserve {
		return &SizeError{Size: size, Limit: c.MaxBytes}
	}
	return nil
}

// Retire asks Store.Rekey to keep the old id as retired.
type Retire struct {
	// GraceUntil is until when the retired id leads to its successor.
	GraceUntil time.Time
	// ExpiresAt is until when the record is kept; after it a retired id
	// is unknown.
	ExpiresAt time.Time
	// Sealed is the successor's id, sealed so that only the holder of the
	// retired id can open it (the store keeps it as opaque bytes).
	Sealed []byte
}

// Retired is what a Store keeps of an id that Rekey retired.
type Retired struct {
	// Successor is the hash of the id that replaced it.
	Successor IDHash
	// UserID is the session's user when the id was retired ("": none).
	UserID string
	// GraceUntil is until when the retired id leads to its successor.
	GraceUntil time.Time
	// ExpiresAt is until when the record is kept.
	ExpiresAt time.Time
	// Sealed is the successor's id, sealed for the retired id's holder.
	Sealed []byte
}

// SessionInfo describes one of a user's sessions without revealing its id.
// Hash is the handle that revokes it (Manager.DestroySession).
type SessionInfo struct {
	Hash      IDHash                     // SHA-256 of the id: the revocation handle
	Data      map[string]json.RawMessage // the session's values, as in Record.Data
	CreatedAt time.Time                  // when the session was first saved
	ExpiresAt time.Time                  // when it expires
	// LastSeen, IP and UserAgent are the device the session was last seen
	// on, when sessions.Options.RecordDevice records them (else zero).
	LastSeen  time.Time
	IP        string // the client address of the last recorded request
	UserAgent string // the User-Agent of the last recorded request
}

// Store keeps sessions. Every method takes the session's IDHash, never the
// raw id. Methods that depend on the time take now explicitly, so that one
// clock (the Manager's) decides what is expired. Implementations must be
// safe for concurrent use.
type Store interface {
	// Load returns the session if it exists and expires after now, and an
	// error wrapping ErrNotFound otherwise. now is the zero time when the
	// Manager runs on the real clock: the store then uses its own (on
	// Postgres the database's now(), which spares the read a parameter).
	// The Record is the caller's: Data must be a map of its own.
	Load(ctx context.Context, h IDHash, now time.Time) (Record, error)
	// Create saves a whole new session. A live session with the same hash
	// is left alone and ErrExists returned; an expired one is replaced.
	// Data larger than r.MaxBytes is refused with a *SizeError.
	Create(ctx context.Context, h IDHash, r Record, now time.Time) error
	// Update merges c into a live session: deletes c.Deleted, sets c.Set,
	// moves the expiry to c.NextExpiry(the stored expiry) and, when
	// c.UserID is not nil, sets the user. A session that is gone or
	// expired is not recreated: ErrNotFound. A merge that grows the data
	// past c.MaxBytes changes nothing: a *SizeError.
	Update(ctx context.Context, h IDHash, c Change, now time.Time) error
	// Rekey moves the live session named by old to new, in one atomic
	// step: the same data, creation time, expiry, user and device, now
	// under new only. Session.Regenerate calls it, so that a rotated id
	// exists in the store as soon as it is issued, and a revocation that
	// races the rotation finds either the old row or the new one. A
	// session that is gone or expired is not moved: ErrNotFound, and
	// nothing changes. Rekey never checks the size limit: it moves
	// existing data, whatever its size.
	//
	// With retire not nil, the old id is kept as retired, in the same
	// transaction: Retired(old) then returns its successor new, the user
	// the row had, and retire's grace, expiry and sealed successor.
	Rekey(ctx context.Context, old, new IDHash, retire *Retire, now time.Time) error
	// Retired returns what Rekey kept of the retired id h, and an error
	// wrapping ErrNotFound when h was never retired or its record expired
	// at or before now. A retired id is never loaded as a session.
	Retired(ctx context.Context, h IDHash, now time.Time) (Retired, error)
	// SwapValue is a compare-and-swap of one top-level key of a live
	// session, applied at once (not at a later Update): when the key's
	// stored value equals old as JSON (SameJSON: spacing and key order
	// aside; on PostgreSQL, jsonb equality), or old is nil and the key is
	// absent, it stores new under key and returns new and true. Otherwise
	// it changes nothing and returns the key's current value (nil when
	// absent) and false, so the caller can retry from it without another
	// Load. It changes nothing but the key: not the expiry, the user or
	// the device. A session that is gone or expired: ErrNotFound. A swap
	// that would grow the data past maxBytes (0: no limit; the rule of
	// Change.MaxBytes) changes nothing: a *SizeError, reported only when
	// old matched. new must be valid JSON (not nil). The comparison, the
	// size check and the write are one atomic step, so N concurrent
	// read-modify-write loops over SwapValue lose nothing.
	SwapValue(ctx context.Context, h IDHash, key string, old, new json.RawMessage, maxBytes int, now time.Time) (current json.RawMessage, swapped bool, err error)
	// Touch moves a live session's expiry to expiresAt and, when device is
	// not nil, records it; it changes nothing else. ErrNotFound if the
	// session is gone or expired.
	Touch(ctx context.Context, h IDHash, expiresAt time.Time, device *Device, now time.Time) error
	// Destroy deletes the session, live or expired, and reports whether it
	// was live (expiring after now): the Manager does not carry a session
	// that was revoked meanwhile over to a new id. Deleting a missing one
	// is not an error.
	Destroy(ctx context.Context, h IDHash, now time.Time) (live bool, err error)
	// DestroyUser deletes every session of the user but keep (the zero
	// IDHash: none), in one statement, and returns how many.
	DestroyUser(ctx context.Context, userID string, keep IDHash) (int, error)
	// ListUser returns the user's live sessions, newest first.
	ListUser(ctx context.Context, userID string, now time.Time) ([]SessionInfo, error)
	// DeleteExpired deletes at most limit sessions (and then retired ids)
	// that expired at or before before, and returns how many it deleted:
	// one batch of the reaper, which calls it until it returns less than
	// limit.
	DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error)
	// CountExpired counts sessions that expired at or before before. With
	// the zero time it must answer at once (an index probe, not a scan):
	// sess-gc uses it to check that the table exists.
	CountExpired(ctx context.Context, before time.Time) (int, error)
}

// EncodeData encodes a session's data as one JSON object, the form the
// bundled stores keep in their data column: keys sorted, values as they
// are (white space around them trimmed). Each value must be valid JSON.
func EncodeData(data map[string]json.RawMessage) ([]byte, error) {
	b, err := jsonobj.AppendObject(nil, data)
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

// Size returns the size in bytes of data as one JSON object printed the
// way PostgreSQL prints jsonb: a space after every ':' and ','. It is the
// measure of sessions.Options.MaxDataBytes, the same on every store, and
// never less than the compact JSON a store writes.
func Size(data map[string]json.RawMessage) int {
	n := 2 // {}
	for k, v := range data {
		n += EntrySize(k, ValueSize(v))
	}
	return n
}

// EntrySize is the printed size of one top-level entry, "key": value and
// its separator, given the value's printed size. It is an upper bound: it
// counts every character of key escaped, as JSON encoders may.
func EntrySize(key string, valueSize int) int {
	n := 2 + 2 + valueSize + 2 // quotes, ": ", value, ", "
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			n += 6 // \u00XX
		case c == '"' || c == '\\' || c >= 0x80:
			n += 2 // \" or \\; a multi-byte rune: U+2028 is six bytes escaped
		default:
			n++
		}
	}
	return n
}

// ValueSize returns the printed size of one JSON value (see Size): its
// bytes outside insignificant white space, plus a space after each ':' and
// ',' outside strings.
func ValueSize(v json.RawMessage) int {
	n := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ' ', '\t', '\n', '\r':
		case ',', ':':
			n += 2
		case '"':
			j := i + 1
			for j < len(v) && v[j] != '"' {
				if v[j] == '\\' {
					j++
				}
				j++
			}
			n += j + 1 - i
			i = j
		default:
			n++
		}
	}
	return n
}
