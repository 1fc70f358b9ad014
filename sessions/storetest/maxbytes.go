package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// wantSizeError fails unless err is a *sessionstore.SizeError with limit.
func wantSizeError(t *testing.T, err error, limit int, what string) {
	t.Helper()
	var se *sessionstore.SizeError
	switch {
	case err == nil:
		t.Errorf("%s: no error, want a *SizeError (limit %d)", what, limit)
	case !errors.Is(err, sessionstore.ErrTooLarge) || !errors.As(err, &se):
		t.Errorf("%s: %v, want a *SizeError matching ErrTooLarge", what, err)
	case se.Limit != limit || se.Size <= limit:
		t.Errorf("%s: SizeError{Size: %d, Limit: %d}, want Limit %d and Size above it", what, se.Size, se.Limit, limit)
	}
}

// testMaxBytesCreate: Create refuses data over Record.MaxBytes and stores
// nothing; data within it is kept.
func testMaxBytesCreate(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	r := record(t, map[string]any{"big": strings.Repeat("x", 2000)}, time.Hour)
	r.MaxBytes = 1000
	err := s.Create(ctx, hash("too-big"), r, base)
	wantSizeError(t, err, 1000, "Create over MaxBytes")
	if _, err := s.Load(ctx, hash("too-big"), base); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Load after a refused Create: %v, want ErrNotFound", err)
	}
	r.MaxBytes = 4000
	if err := s.Create(ctx, hash("fits"), r, base); err != nil {
		t.Fatalf("Create within MaxBytes: %v", err)
	}
	// A live session with the same hash is still ErrExists, not a size error.
	if err := s.Create(ctx, hash("fits"), r, base); !errors.Is(err, sessionstore.ErrExists) {
		t.Errorf("Create over a live session: %v, want ErrExists", err)
	}
}

// testMaxBytesUpdate: an Update whose merged data would exceed
// Change.MaxBytes changes nothing (values, expiry, user) and returns a
// *SizeError; a missing session is still ErrNotFound; a merge that frees
// room fits.
func testMaxBytesUpdate(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	h := hash("limited")
	create(t, s, h, record(t, map[string]any{"a": strings.Repeat("a", 600)}, time.Hour))
	before := load(t, s, h, base)
	big := raw(t, strings.Repeat("b", 600))
	err := s.Update(ctx, h, sessionstore.Change{
		Set: map[string]json.RawMessage{"b": big}, ExpiresAt: base.Add(2 * time.Hour), UserID: ptr("u"), MaxBytes: 1000,
	}, base)
	wantSizeError(t, err, 1000, "Update over MaxBytes")
	after := load(t, s, h, base)
	wantData(t, after.Data, decoded(t, before.Data))
	if !after.ExpiresAt.Equal(before.ExpiresAt) || after.UserID != "" {
		t.Errorf("refused Update changed the row: expires %v (was %v), user %q", after.ExpiresAt, before.ExpiresAt, after.UserID)
	}
	// Deleting "a" in the same merge makes room.
	err = s.Update(ctx, h, sessionstore.Change{
		Set: map[string]json.RawMessage{"b": big}, Deleted: []string{"a"}, ExpiresAt: base.Add(2 * time.Hour), MaxBytes: 1000,
	}, base)
	if err != nil {
		t.Fatalf("Update that fits once a key is deleted: %v", err)
	}
	wantData(t, load(t, s, h, base).Data, map[string]any{"b": strings.Repeat("b", 600)})
	err = s.Update(ctx, hash("no-such"), sessionstore.Change{Set: map[string]json.RawMessage{"b": big}, ExpiresAt: base.Add(time.Hour), MaxBytes: 10}, base)
	wantNotFound(t, err, "Update of a missing session with a size limit")
}

// testMaxBytesConcurrent: 8 concurrent Updates each add 300 KB to one
// session limited to 1 MiB. The check is atomic with the merge: exactly
// the three that fit are stored, whole, and the rest are refused.
func testMaxBytesConcurrent(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	const limit, n = 1 << 20, 8
	h := hash("concurrent-limit")
	create(t, s, h, record(t, map[string]any{"keep": "me"}, time.Hour))
	value := raw(t, strings.Repeat("v", 300<<10))
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(ctx, h, sessionstore.Change{
				Set: map[string]json.RawMessage{fmt.Sprintf("k%d", i): value}, ExpiresAt: base.Add(time.Hour), MaxBytes: limit,
			}, base)
		})
	}
	wg.Wait()
	got := load(t, s, h, base)
	saved := 0
	for i, err := range errs {
		_, stored := got.Data[fmt.Sprintf("k%d", i)]
		switch {
		case err == nil && stored:
			saved++
		case err == nil:
			t.Errorf("Update %d returned nil but its key is not stored", i)
		case stored:
			t.Errorf("Update %d failed (%v) but its key is stored", i, err)
		default:
			wantSizeError(t, err, limit, fmt.Sprintf("Update %d", i))
		}
	}
	if saved != 3 {
		t.Errorf("%d of %d concurrent 300 KB merges were stored under a 1 MiB limit, want exactly 3", saved, n)
	}
	if string(got.Data["keep"]) != `"me"` {
		t.Errorf(`key stored before the race: %q, want "me"`, got.Data["keep"])
	}
}
