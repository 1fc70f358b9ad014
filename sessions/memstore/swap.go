package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// SwapValue implements sessionstore.Store: the comparison, the size check
// and the write happen under the store's lock.
func (s *Store) SwapValue(ctx context.Context, h sessionstore.IDHash, key string, old, new json.RawMessage, maxBytes int, now time.Time) (json.RawMessage, bool, error) {
	if new == nil {
		return nil, false, fmt.Errorf("memstore: swap value: %w", sessionstore.ErrNilValue)
	}
	if err := s.begin(ctx, "swap value"); err != nil {
		return nil, false, err
	}
	defer s.mu.Unlock()
	r, ok := s.live(h, now)
	if !ok {
		return nil, false, fmt.Errorf("memstore: swap value: %w", sessionstore.ErrNotFound)
	}
	cur, present := r.Data[key]
	if !present {
		cur = nil
	}
	if !sessionstore.SameJSON(cur, old) {
		return append(json.RawMessage(nil), cur...), false, nil
	}
	data := copyData(r.Data)
	data[key] = append(json.RawMessage(nil), new...)
	if err := (sessionstore.Change{MaxBytes: maxBytes}).CheckSize(sessionstore.Size(data), sessionstore.Size(r.Data)); err != nil {
		return nil, false, fmt.Errorf("memstore: swap value: %w", err)
	}
	if err := setData(&r, data); err != nil {
		return nil, false, fmt.Errorf("memstore: swap value: %w", err)
	}
	s.rows[h] = r
	return new, true, nil
}
