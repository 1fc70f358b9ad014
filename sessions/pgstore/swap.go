package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqlsession/sqlsession/internal/pgdb"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// SwapValue implements sessionstore.Store. The comparison (jsonb equality),
// the size check and the write are one UPDATE; when it changes no row,
// CurrentValue says why: the session is gone (ErrNotFound), the value
// differs (it is returned), or the swap would grow the data past maxBytes
// (*SizeError). A value that matches by then (a concurrent change came
// and went) is returned with false too: the caller swaps from it again.
func (s *Store) SwapValue(ctx context.Context, h sessionstore.IDHash, key string, old, new json.RawMessage, maxBytes int, now time.Time) (json.RawMessage, bool, error) {
	if new == nil {
		return nil, false, fmt.Errorf("pgstore: swap value: %w", sessionstore.ErrNilValue)
	}
	arg := pgdb.SwapValueParams{Key: key, NewValue: new, IDHash: h[:], Now: now, MaxBytes: maxArg(maxBytes)}
	if old != nil {
		text := string(old)
		arg.OldValue = &text
	}
	n, err := retry(func() (int64, error) { return s.q.SwapValue(ctx, arg) })
	if err != nil {
		return nil, false, fmt.Errorf("pgstore: swap value: %w", err)
	}
	if n > 0 {
		return new, true, nil
	}
	cur, err := retry(func() (pgdb.CurrentValueRow, error) {
		return s.q.CurrentValue(ctx, pgdb.CurrentValueParams{Key: key, OldValue: arg.OldValue, NewValue: new, IDHash: h[:], Now: now})
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, false, fmt.Errorf("pgstore: swap value: %w", sessionstore.ErrNotFound)
	case err != nil:
		return nil, false, fmt.Errorf("pgstore: swap value: %w", err)
	case !cur.Matches && !cur.Present:
		return nil, false, nil
	case !cur.Matches:
		return json.RawMessage(cur.Value), false, nil
	}
	if err := (sessionstore.Change{MaxBytes: maxBytes}).CheckSize(int(cur.SwappedSize), int(cur.CurrentSize)); err != nil {
		return nil, false, fmt.Errorf("pgstore: swap value: %w", err)
	}
	// The value matches now but did not when the UPDATE ran (a change came
	// and went): report it, so the caller swaps from it again.
	return old, false, nil
}
