package sessions

import (
	"fmt"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// Store keeps sessions: pgstore.New, sqlitestore.New or memstore.New give
// one. Writing a Store of your own? See package sessions/store, which
// defines the contract.
type Store = sessionstore.Store

// IDHash is the SHA-256 of a session id: what the store keys a session by,
// safe to log or show (the id itself is a bearer token). Its String form
// (hex) is the handle that revokes a session (Manager.DestroySession).
type IDHash = sessionstore.IDHash

// SessionInfo describes one of a user's sessions (Manager.ListUserSessions)
// without revealing its id: Hash revokes it.
type SessionInfo = sessionstore.SessionInfo

// ErrNotFound is returned when a session does not exist or has expired, for
// example by Session.Reload after the session was destroyed elsewhere.
var ErrNotFound = sessionstore.ErrNotFound

// ErrTooLarge is returned by Session.Set when the session would exceed
// Options.MaxDataBytes. errors.As with a *sessionstore.SizeError gives the sizes.
var ErrTooLarge = sessionstore.ErrTooLarge

// HashID returns the IDHash of a session id.
func HashID(id string) IDHash { return sessionstore.HashID(id) }

// ParseIDHash parses the hex form of an IDHash (IDHash.String), for example
// a "revoke" form field naming one of a user's sessions.
func ParseIDHash(s string) (IDHash, error) {
	h, err := sessionstore.ParseIDHash(s)
	if err != nil {
		return h, fmt.Errorf("sessions: %w", err)
	}
	return h, nil
}

// DefaultMaxDataBytes is the default limit on the JSON size of a session's
// data (Options.MaxDataBytes): 1 MiB.
const DefaultMaxDataBytes = 1 << 20
