package sqlitestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sqlsession/sqlsession/internal/sqlitedb"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// errMismatch rolls back a swap whose old value did not match.
var errMismatch = errors.New("value differs")

// SwapValue implements sessionstore.Store. Like Update, it reads and
// writes the row in one transaction whose first statement takes SQLite's
// write lock, so the comparison (sessionstore.SameJSON), the size check
// and the write are one atomic step. Only the key's value changes.
func (s *Store) SwapValue(ctx context.Context, h sessionstore.IDHash, key string, old, new json.RawMessage, maxBytes int, now time.Time) (json.RawMessage, bool, error) {
	if new == nil {
		return nil, false, fmt.Errorf("sqlitestore: swap value: %w", sessionstore.ErrNilValue)
	}
	var cur json.RawMessage
	err := s.inTx(ctx, func(q *sqlitedb.Queries) error {
		data, stored, err := lockedData(ctx, q, h, now)
		if err != nil {
			return err
		}
		cur = data[key]
		if !sessionstore.SameJSON(cur, old) {
			return errMismatch // rolls back the locking no-op
		}
		before := sessionstore.Size(data)
		data[key] = new
		if err := (sessionstore.Change{MaxBytes: maxBytes}).CheckSize(sessionstore.Size(data), before); err != nil {
			return err
		}
		merged, err := sessionstore.EncodeData(data)
		if err != nil {
			return err
		}
		return q.UpdateSession(ctx, sqlitedb.UpdateSessionParams{Data: string(merged), ExpiresAt: stored.ExpiresAt, IDHash: h[:]})
	})
	switch {
	case errors.Is(err, errMismatch):
		return cur, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("sqlitestore: swap value: %w", err)
	}
	return new, true, nil
}
