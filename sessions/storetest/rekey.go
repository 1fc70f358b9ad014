package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// testRekey: Rekey moves a live session, with its data, times, user and
// device, to the new hash; the old hash names nothing afterwards; a
// session that is gone or expired is not moved (ErrNotFound) and nothing
// changes; a live session under the new hash is not overwritten.
func testRekey(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	oldH, newH := hash("rekey-old"), hash("rekey-new")
	r := record(t, map[string]any{"a": 1, "big": strings.Repeat("x", 3000)}, time.Hour)
	r.UserID = "alice"
	r.Device = &sessionstore.Device{LastSeen: base, IP: "192.0.2.1", UserAgent: "Firefox"}
	create(t, s, oldH, r)

	if err := s.Rekey(ctx, oldH, newH, nil, base); err != nil {
		t.Fatalf("Rekey: %v", err)
	}
	if _, err := s.Load(ctx, oldH, base); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Load(old) after Rekey: %v, want ErrNotFound", err)
	}
	got := load(t, s, newH, base)
	wantData(t, got.Data, map[string]any{"a": 1.0, "big": strings.Repeat("x", 3000)})
	if !got.CreatedAt.Equal(base) || !got.ExpiresAt.Equal(base.Add(time.Hour)) || got.UserID != "alice" {
		t.Errorf("after Rekey: created %v, expires %v, user %q; want %v, %v, alice", got.CreatedAt, got.ExpiresAt, got.UserID, base, base.Add(time.Hour))
	}
	infos, err := s.ListUser(ctx, "alice", base)
	if err != nil || len(infos) != 1 || infos[0].Hash != newH || infos[0].IP != "192.0.2.1" || infos[0].UserAgent != "Firefox" {
		t.Errorf("ListUser after Rekey = %+v, %v; want the new hash with its device", infos, err)
	}
	// A revocation after the rotation finds the new row.
	if n, err := s.DestroyUser(ctx, "alice", sessionstore.IDHash{}); err != nil || n != 1 {
		t.Errorf("DestroyUser after Rekey = %d, %v; want 1", n, err)
	}

	// Gone: nothing to move, nothing created.
	if err := s.Rekey(ctx, oldH, hash("rekey-other"), nil, base); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Rekey of a missing session: %v, want ErrNotFound", err)
	}
	if _, err := s.Load(ctx, hash("rekey-other"), base); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("a failed Rekey created the new hash: %v", err)
	}
	// Expired: not moved.
	create(t, s, hash("rekey-dead"), record(t, map[string]any{"a": 1}, time.Minute))
	if err := s.Rekey(ctx, hash("rekey-dead"), hash("rekey-dead2"), nil, base.Add(time.Hour)); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Rekey of an expired session: %v, want ErrNotFound", err)
	}
	// A live session under the new hash stays as it is, and so does the old one.
	create(t, s, hash("rekey-a"), record(t, map[string]any{"who": "a"}, time.Hour))
	create(t, s, hash("rekey-b"), record(t, map[string]any{"who": "b"}, time.Hour))
	if err := s.Rekey(ctx, hash("rekey-a"), hash("rekey-b"), nil, base); !errors.Is(err, sessionstore.ErrExists) {
		t.Errorf("Rekey onto a live session: %v, want ErrExists", err)
	}
	wantData(t, load(t, s, hash("rekey-a"), base).Data, map[string]any{"who": "a"})
	wantData(t, load(t, s, hash("rekey-b"), base).Data, map[string]any{"who": "b"})
}

// testUpdateExpiry: without Lifetime an Update never moves the expiry
// back, and the zero ExpiresAt leaves it alone; with Lifetime it is
// stored as given, earlier or not.
func testUpdateExpiry(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	h := hash("expiry-rules")
	create(t, s, h, record(t, map[string]any{"a": 1}, 2*time.Hour))
	steps := []struct {
		what string
		c    sessionstore.Change
		want time.Time
	}{
		{"an earlier expiry", sessionstore.Change{ExpiresAt: base.Add(time.Hour)}, base.Add(2 * time.Hour)},
		{"a later expiry", sessionstore.Change{ExpiresAt: base.Add(3 * time.Hour)}, base.Add(3 * time.Hour)},
		{"the zero expiry", sessionstore.Change{Set: map[string]json.RawMessage{"b": raw(t, 2)}}, base.Add(3 * time.Hour)},
		{"an earlier expiry with Lifetime", sessionstore.Change{ExpiresAt: base.Add(30 * time.Minute), Lifetime: true}, base.Add(30 * time.Minute)},
	}
	for _, st := range steps {
		if err := s.Update(ctx, h, st.c, base); err != nil {
			t.Fatalf("Update with %s: %v", st.what, err)
		}
		if got := load(t, s, h, base).ExpiresAt; !got.Equal(st.want) {
			t.Errorf("after an Update with %s: expires %v, want %v", st.what, got, st.want)
		}
	}
	wantData(t, load(t, s, h, base).Data, map[string]any{"a": 1.0, "b": 2.0})
}

// testMaxBytesGrowth: the limit refuses growth, not existing data: a
// session already over Change.MaxBytes takes merges that do not grow it
// (and Rekey, which never checks), and refuses one that does.
func testMaxBytesGrowth(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	h := hash("over-limit")
	create(t, s, h, record(t, map[string]any{"big": strings.Repeat("x", 3000), "n": 1}, time.Hour))
	same := sessionstore.Change{Set: map[string]json.RawMessage{"n": raw(t, 2)}, ExpiresAt: base.Add(2 * time.Hour), MaxBytes: 1000}
	if err := s.Update(ctx, h, same, base); err != nil {
		t.Errorf("a merge that keeps an over-limit session's size: %v, want it applied", err)
	}
	smaller := sessionstore.Change{Deleted: []string{"n"}, ExpiresAt: base.Add(2 * time.Hour), MaxBytes: 1000}
	if err := s.Update(ctx, h, smaller, base); err != nil {
		t.Errorf("a merge that shrinks an over-limit session: %v, want it applied", err)
	}
	grow := sessionstore.Change{Set: map[string]json.RawMessage{"more": raw(t, "yy")}, ExpiresAt: base.Add(3 * time.Hour), MaxBytes: 1000}
	wantSizeError(t, s.Update(ctx, h, grow, base), 1000, "a merge that grows an over-limit session")
	got := load(t, s, h, base)
	wantData(t, got.Data, map[string]any{"big": strings.Repeat("x", 3000)})
	if !got.ExpiresAt.Equal(base.Add(2 * time.Hour)) {
		t.Errorf("a refused merge moved the expiry to %v", got.ExpiresAt)
	}
	if err := s.Rekey(ctx, h, hash("over-limit-2"), nil, base); err != nil {
		t.Errorf("Rekey of an over-limit session: %v, want it moved", err)
	}
}

// testRetired: Rekey with a Retire keeps the old id as retired, with its
// successor, the row's user and the Retire's times; Retired finds nothing
// for an id never retired or after the record's expiry; DeleteExpired
// reaps expired records after the sessions.
func testRetired(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	r := record(t, map[string]any{"a": 1}, time.Hour)
	r.UserID = "alice"
	create(t, s, hash("ret-old"), r)
	retire := &sessionstore.Retire{GraceUntil: base.Add(30 * time.Second), ExpiresAt: base.Add(time.Hour), Sealed: []byte{1, 2, 3}}
	if err := s.Rekey(ctx, hash("ret-old"), hash("ret-new"), retire, base); err != nil {
		t.Fatalf("Rekey: %v", err)
	}
	got, err := s.Retired(ctx, hash("ret-old"), base)
	if err != nil {
		t.Fatalf("Retired: %v", err)
	}
	if got.Successor != hash("ret-new") || got.UserID != "alice" || !got.GraceUntil.Equal(retire.GraceUntil) ||
		!got.ExpiresAt.Equal(retire.ExpiresAt) || string(got.Sealed) != "\x01\x02\x03" {
		t.Errorf("Retired = %+v, want successor ret-new, alice, the Retire's times and sealed bytes", got)
	}
	if _, err := s.Load(ctx, hash("ret-old"), base); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("a retired id loads as a session: %v", err)
	}
	if _, err := s.Retired(ctx, hash("ret-new"), base); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Retired of a live id: %v, want ErrNotFound", err)
	}
	if _, err := s.Retired(ctx, hash("ret-old"), base.Add(time.Hour)); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Retired after its expiry: %v, want ErrNotFound", err)
	}
	n, err := s.DeleteExpired(ctx, base.Add(2*time.Hour), 10)
	if err != nil || n != 2 {
		t.Errorf("DeleteExpired = %d, %v; want the session and the retired id", n, err)
	}
	if _, err := s.Retired(ctx, hash("ret-old"), base); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Retired after the reaper: %v, want ErrNotFound", err)
	}
}
