package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// swap calls SwapValue and fails the test on an error.
func swap(t *testing.T, s sessionstore.Store, h sessionstore.IDHash, key, old, new string) (json.RawMessage, bool) {
	t.Helper()
	var o json.RawMessage
	if old != "" {
		o = json.RawMessage(old)
	}
	cur, ok, err := s.SwapValue(context.Background(), h, key, o, json.RawMessage(new), 0, base)
	if err != nil {
		t.Fatalf("SwapValue(%s, %s → %s): %v", key, old, new, err)
	}
	return cur, ok
}

// wantJSON fails unless got holds the JSON value want.
func wantJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	if !sessionstore.SameJSON(got, json.RawMessage(want)) && !sameDecoded(got, want) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func sameDecoded(got json.RawMessage, want string) bool {
	var a, b any
	return json.Unmarshal(got, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && fmt.Sprint(a) == fmt.Sprint(b)
}

// testSwapValue: SwapValue stores the new value only when the stored one
// equals old as JSON (old nil: absent), returns the current value
// otherwise, changes nothing but the key, and never touches a session
// that is gone or expired.
func testSwapValue(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	h := hash("swap")
	r := record(t, map[string]any{"n": 1, "obj": map[string]any{"a": 1, "b": []any{1, 2}}, "nul": nil, "other": "x"}, time.Hour)
	r.UserID = "alice"
	create(t, s, h, r)

	if cur, ok := swap(t, s, h, "n", "1", "2"); !ok {
		t.Fatalf("swap n 1→2 refused; current %s", cur)
	}
	cur, ok := swap(t, s, h, "n", "1", "3")
	if ok {
		t.Errorf("swap n 1→3 applied over the stored 2")
	}
	wantJSON(t, "current value after a mismatch", cur, "2")
	if cur, ok := swap(t, s, h, "added", "", `"first"`); !ok {
		t.Errorf("swap of an absent key with old nil refused; current %s", cur)
	}
	cur, ok = swap(t, s, h, "added", "", `"second"`)
	if ok {
		t.Errorf("swap with old nil applied over a present key")
	}
	wantJSON(t, "current of a present key", cur, `"first"`)
	// JSON null is a value, not an absent key.
	if cur, ok := swap(t, s, h, "nul", "", "1"); ok || cur == nil {
		t.Errorf("swap of a key holding null with old nil: swapped %v, current %q; want refused with current null", ok, cur)
	}
	if cur, ok := swap(t, s, h, "nul", "null", "1"); !ok {
		t.Errorf("swap null→1 refused; current %s", cur)
	}
	// Equal as JSON whatever the spacing and key order.
	if cur, ok := swap(t, s, h, "obj", `{ "b": [1, 2],  "a": 1 }`, `{"a": 2}`); !ok {
		t.Errorf("swap from a re-ordered, re-spaced object refused; current %s", cur)
	}
	got := load(t, s, h, base)
	wantData(t, got.Data, map[string]any{"n": 2, "obj": map[string]any{"a": 2}, "nul": 1, "other": "x", "added": "first"})
	if !got.ExpiresAt.Equal(base.Add(time.Hour)) || got.UserID != "alice" {
		t.Errorf("SwapValue changed more than the key: expires %v, user %q", got.ExpiresAt, got.UserID)
	}

	if _, _, err := s.SwapValue(ctx, h, "n", json.RawMessage("2"), nil, 0, base); err == nil {
		t.Errorf("SwapValue with a nil new value: no error")
	}
	_, _, err := s.SwapValue(ctx, hash("swap-missing"), "n", nil, json.RawMessage("1"), 0, base)
	wantNotFound(t, err, "SwapValue of a missing session")
	if _, err := s.Load(ctx, hash("swap-missing"), base); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("SwapValue created a missing session: %v", err)
	}
	_, _, err = s.SwapValue(ctx, h, "n", json.RawMessage("2"), json.RawMessage("9"), 0, base.Add(2*time.Hour))
	wantNotFound(t, err, "SwapValue of an expired session")
	wantJSON(t, "n after a swap on an expired session", load(t, s, h, base).Data["n"], "2")
}

// testSwapValueMaxBytes: a swap that grows the data past maxBytes changes
// nothing (*SizeError); one that keeps an over-limit session's size
// applies; a mismatch is reported as a mismatch, whatever the size.
func testSwapValueMaxBytes(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	h := hash("swap-limit")
	create(t, s, h, record(t, map[string]any{"big": strings.Repeat("x", 3000), "n": 1}, time.Hour))
	big := raw(t, strings.Repeat("y", 2000))
	_, ok, err := s.SwapValue(ctx, h, "n", json.RawMessage("1"), big, 4000, base)
	if ok {
		t.Errorf("a swap past MaxBytes applied")
	}
	wantSizeError(t, err, 4000, "SwapValue past maxBytes")
	cur, ok, err := s.SwapValue(ctx, h, "n", json.RawMessage("7"), big, 4000, base)
	if ok || err != nil {
		t.Errorf("a mismatched swap past maxBytes: swapped %v, %v; want a plain mismatch", ok, err)
	}
	wantJSON(t, "current after a mismatched oversized swap", cur, "1")
	// Over the limit already (3000 > 1000), a swap that does not grow it applies.
	if _, ok, err := s.SwapValue(ctx, h, "n", json.RawMessage("1"), json.RawMessage("2"), 1000, base); !ok || err != nil {
		t.Errorf("a same-size swap on an over-limit session: swapped %v, %v; want applied", ok, err)
	}
	wantData(t, load(t, s, h, base).Data, map[string]any{"big": strings.Repeat("x", 3000), "n": 2})
}

// testSwapValueConcurrent: 50 goroutines each increment one counter 4
// times with read-modify-write loops over SwapValue, while merges of other
// keys run: the counter ends at exactly 200, and every merged key is kept.
func testSwapValueConcurrent(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	h := hash("swap-concurrent")
	create(t, s, h, record(t, map[string]any{"keep": "me"}, time.Hour))
	const workers, each = 50, 4
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for i := range workers {
		wg.Go(func() {
			for range each {
				if err := increment(ctx, s, h, "n"); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			c := sessionstore.Change{Set: map[string]json.RawMessage{fmt.Sprintf("k%02d", i): raw(t, i)}}
			if err := s.Update(ctx, h, c, base); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent increments: %v", err)
	}
	got := load(t, s, h, base)
	wantJSON(t, fmt.Sprintf("counter after %d×%d concurrent increments", workers, each), got.Data["n"], strconv.Itoa(workers*each))
	if len(got.Data) != workers+2 {
		t.Errorf("%d keys stored, want the counter, keep and %d merged keys", len(got.Data), workers)
	}
}

// increment adds one to the number under key with a compare-and-swap loop.
func increment(ctx context.Context, s sessionstore.Store, h sessionstore.IDHash, key string) error {
	var old json.RawMessage // nil: absent
	for range 10000 {
		n := 0
		if old != nil {
			if err := json.Unmarshal(old, &n); err != nil {
				return fmt.Errorf("counter holds %q: %w", old, err)
			}
		}
		cur, ok, err := s.SwapValue(ctx, h, key, old, json.RawMessage(strconv.Itoa(n+1)), 0, base)
		if err != nil || ok {
			return err
		}
		old = cur
	}
	return errors.New("10000 attempts without a swap")
}
