// Package storetest is the contract every sessionstore.Store must pass.
//
// A store's own tests call Run with a function that returns a fresh, empty
// store (for SQL stores: on a freshly migrated schema or file):
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) sessionstore.Store { return memstore.New() })
//	}
//
// The suite expects a store to keep sessions of at least 1 MiB of JSON
// (1 << 20).
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// base is a fixed clock reading; stores are told the time explicitly, so
// the suite never sleeps. Millisecond precision suits every store.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the contract suite against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) sessionstore.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, sessionstore.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"LoadMissing", testLoadMissing},
		{"Expiry", testExpiry},
		{"CreateOverLive", testCreateOverLive},
		{"CreateOverExpired", testCreateOverExpired},
		{"UpdateMerges", testUpdateMerges},
		{"UpdateReplacesNestedValues", testUpdateReplacesNested},
		{"UpdateMissingOrExpired", testUpdateMissing},
		{"Touch", testTouch},
		{"Destroy", testDestroy},
		{"Users", testUsers},
		{"DestroyUserKeep", testDestroyUserKeep},
		{"Device", testDevice},
		{"MaxPerUser", testMaxPerUser},
		{"MaxPerUserConcurrent", testMaxPerUserConcurrent},
		{"DeleteExpiredBatches", testDeleteExpired},
		{"Counts", testCounts},
		{"SizeLimit", testSizeLimit},
		{"MaxBytesCreate", testMaxBytesCreate},
		{"MaxBytesUpdate", testMaxBytesUpdate},
		{"MaxBytesConcurrent", testMaxBytesConcurrent},
		{"MaxBytesGrowth", testMaxBytesGrowth},
		{"Rekey", testRekey},
		{"Retired", testRetired},
		{"UpdateExpiry", testUpdateExpiry},
		{"ConcurrentMerges", testConcurrentMerges},
		{"ConcurrentMixed", testConcurrentMixed},
		{"SwapValue", testSwapValue},
		{"SwapValueMaxBytes", testSwapValueMaxBytes},
		{"SwapValueConcurrent", testSwapValueConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func hash(name string) sessionstore.IDHash { return sessionstore.HashID("storetest-" + name) }

func raw(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func record(t *testing.T, values map[string]any, expires time.Duration) sessionstore.Record {
	t.Helper()
	data := map[string]json.RawMessage{}
	for k, v := range values {
		data[k] = raw(t, v)
	}
	return sessionstore.Record{Data: data, CreatedAt: base, ExpiresAt: base.Add(expires)}
}

func create(t *testing.T, s sessionstore.Store, h sessionstore.IDHash, r sessionstore.Record) {
	t.Helper()
	if err := s.Create(context.Background(), h, r, base); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

func load(t *testing.T, s sessionstore.Store, h sessionstore.IDHash, now time.Time) sessionstore.Record {
	t.Helper()
	r, err := s.Load(context.Background(), h, now)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if r.Data != nil && r.JSON != nil {
		t.Errorf("Load returned both Data and JSON; want one of them")
	}
	if r.Data, err = r.Values(); err != nil {
		t.Fatalf("Load: the JSON text it returned: %v", err)
	}
	return r
}

// decoded turns stored data into plain Go values, so that equal JSON
// compares equal whatever the store's whitespace or key order.
func decoded(t *testing.T, data map[string]json.RawMessage) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range data {
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			t.Fatalf("key %q holds invalid JSON %q: %v", k, v, err)
		}
		out[k] = x
	}
	return out
}

func wantData(t *testing.T, got map[string]json.RawMessage, want map[string]any) {
	t.Helper()
	w := decoded(t, record(t, want, 0).Data)
	if g := decoded(t, got); !reflect.DeepEqual(g, w) {
		t.Errorf("data = %v\nwant   %v", g, w)
	}
}

func wantNotFound(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func testRoundTrip(t *testing.T, s sessionstore.Store) {
	values := map[string]any{
		"cookie":  map[string]any{"originalMaxAge": 3600000, "expires": "2026-03-01T13:00:00.000Z", "httpOnly": true, "path": "/", "secure": false, "domain": nil, "sameSite": "lax"},
		"nested":  map[string]any{"a": []any{1.5, "two", nil, true, false, map[string]any{"deep": nil}}, "empty": map[string]any{}},
		"unicode": "żółć 日本語 🎉 \u2028 \"quoted\" <tag> & \\",
		"ключ ✓":  "unicode key",
		"number":  12345678901234.0,
		"null":    nil,
		"list":    []any{},
	}
	r := record(t, values, time.Hour)
	r.UserID = "user-ü"
	h := hash("roundtrip")
	create(t, s, h, r)
	got := load(t, s, h, base)
	wantData(t, got.Data, values)
	if !got.ExpiresAt.Equal(r.ExpiresAt) || !got.CreatedAt.Equal(r.CreatedAt) {
		t.Errorf("times = created %v expires %v, want %v %v", got.CreatedAt, got.ExpiresAt, r.CreatedAt, r.ExpiresAt)
	}
	if got.UserID != "user-ü" {
		t.Errorf("UserID = %q, want user-ü", got.UserID)
	}
	// The caller owns what Load returned: changing it changes nothing stored.
	got.Data["number"] = json.RawMessage(`0`)
	wantData(t, load(t, s, h, base).Data, values)
}

func testLoadMissing(t *testing.T, s sessionstore.Store) {
	_, err := s.Load(context.Background(), hash("missing"), base)
	wantNotFound(t, err, "Load of a missing session")
}

func testExpiry(t *testing.T, s sessionstore.Store) {
	h := hash("expiry")
	create(t, s, h, record(t, map[string]any{"k": 1}, time.Minute))
	load(t, s, h, base.Add(time.Minute-time.Millisecond))
	_, err := s.Load(context.Background(), h, base.Add(time.Minute))
	wantNotFound(t, err, "Load at the expiry instant")
	_, err = s.Load(context.Background(), h, base.Add(time.Hour))
	wantNotFound(t, err, "Load after expiry")
}

func testCreateOverLive(t *testing.T, s sessionstore.Store) {
	h := hash("dup")
	create(t, s, h, record(t, map[string]any{"owner": "first"}, time.Hour))
	err := s.Create(context.Background(), h, record(t, map[string]any{"owner": "second"}, time.Hour), base)
	if !errors.Is(err, sessionstore.ErrExists) {
		t.Fatalf("Create over a live session: err = %v, want ErrExists", err)
	}
	wantData(t, load(t, s, h, base).Data, map[string]any{"owner": "first"})
}

func testCreateOverExpired(t *testing.T, s sessionstore.Store) {
	h := hash("reuse")
	create(t, s, h, record(t, map[string]any{"owner": "dead"}, time.Minute))
	later := base.Add(2 * time.Minute)
	r := record(t, map[string]any{"owner": "new"}, time.Hour)
	r.CreatedAt, r.ExpiresAt = later, later.Add(time.Hour)
	if err := s.Create(context.Background(), h, r, later); err != nil {
		t.Fatalf("Create over an expired session: %v", err)
	}
	got := load(t, s, h, later)
	wantData(t, got.Data, map[string]any{"owner": "new"})
	if !got.CreatedAt.Equal(later) {
		t.Errorf("CreatedAt = %v, want %v (the new session's)", got.CreatedAt, later)
	}
}

func testUpdateMerges(t *testing.T, s sessionstore.Store) {
	h := hash("merge")
	create(t, s, h, record(t, map[string]any{"keep": "k", "change": 1, "drop": true}, time.Hour))
	c := sessionstore.Change{
		Set:       map[string]json.RawMessage{"change": raw(t, 2), "add": raw(t, []int{1, 2})},
		Deleted:   []string{"drop", "never-existed"},
		ExpiresAt: base.Add(2 * time.Hour),
	}
	if err := s.Update(context.Background(), h, c, base); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got := load(t, s, h, base)
	wantData(t, got.Data, map[string]any{"keep": "k", "change": 2, "add": []int{1, 2}})
	if !got.ExpiresAt.Equal(base.Add(2 * time.Hour)) {
		t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, base.Add(2*time.Hour))
	}
	if !got.CreatedAt.Equal(base) {
		t.Errorf("CreatedAt changed to %v", got.CreatedAt)
	}
}

func testUpdateReplacesNested(t *testing.T, s sessionstore.Store) {
	h := hash("nested")
	create(t, s, h, record(t, map[string]any{"obj": map[string]any{"a": 1, "b": map[string]any{"c": 1}}}, time.Hour))
	newObj := map[string]any{"b": map[string]any{"d": nil}, "e": false}
	c := sessionstore.Change{Set: map[string]json.RawMessage{"obj": raw(t, newObj)}, ExpiresAt: base.Add(time.Hour)}
	if err := s.Update(context.Background(), h, c, base); err != nil {
		t.Fatalf("Update: %v", err)
	}
	// A top-level key's value is replaced whole: no deep merge, nested nulls kept.
	wantData(t, load(t, s, h, base).Data, map[string]any{"obj": newObj})
}

func testUpdateMissing(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	c := sessionstore.Change{Set: map[string]json.RawMessage{"k": raw(t, 1)}, ExpiresAt: base.Add(time.Hour)}
	wantNotFound(t, s.Update(ctx, hash("nobody"), c, base), "Update of a missing session")
	h := hash("expired-update")
	create(t, s, h, record(t, map[string]any{"k": 0}, time.Minute))
	later := base.Add(2 * time.Minute)
	c.ExpiresAt = later.Add(time.Hour)
	wantNotFound(t, s.Update(ctx, h, c, later), "Update of an expired session")
	// Neither Update brought a session (back) to life.
	for _, hh := range []sessionstore.IDHash{hash("nobody"), h} {
		_, err := s.Load(ctx, hh, later)
		wantNotFound(t, err, "Load after a refused Update")
	}
}

func testTouch(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	h := hash("touch")
	values := map[string]any{"k": "v"}
	create(t, s, h, record(t, values, time.Minute))
	if err := s.Touch(ctx, h, base.Add(time.Hour), nil, base.Add(30*time.Second)); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	got := load(t, s, h, base.Add(30*time.Minute))
	if !got.ExpiresAt.Equal(base.Add(time.Hour)) {
		t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, base.Add(time.Hour))
	}
	wantData(t, got.Data, values)
	wantNotFound(t, s.Touch(ctx, hash("nobody"), base.Add(time.Hour), nil, base), "Touch of a missing session")
	wantNotFound(t, s.Touch(ctx, h, base.Add(3*time.Hour), nil, base.Add(2*time.Hour)), "Touch of an expired session")
}

func testDestroy(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	h, other := hash("destroy"), hash("bystander")
	create(t, s, h, record(t, map[string]any{"k": 1}, time.Hour))
	create(t, s, other, record(t, map[string]any{"k": 2}, time.Hour))
	if live, err := s.Destroy(ctx, h, base); err != nil || !live {
		t.Fatalf("Destroy of a live session = %v, %v; want true, nil", live, err)
	}
	_, err := s.Load(ctx, h, base)
	wantNotFound(t, err, "Load after Destroy")
	load(t, s, other, base)
	if live, err := s.Destroy(ctx, h, base); err != nil || live {
		t.Errorf("Destroy of a missing session = %v, %v; want false, nil", live, err)
	}
	// An expired row is deleted too, but was not live.
	dead := hash("destroy-expired")
	create(t, s, dead, record(t, nil, time.Second))
	if live, err := s.Destroy(ctx, dead, base.Add(time.Minute)); err != nil || live {
		t.Errorf("Destroy of an expired session = %v, %v; want false, nil", live, err)
	}
	if n, _ := s.CountExpired(ctx, base.Add(time.Minute)); n != 0 {
		t.Errorf("the expired row is still there after Destroy (%d expired rows)", n)
	}
}

func testUsers(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	mk := func(name, user string, created time.Duration, expires time.Duration) sessionstore.IDHash {
		r := record(t, map[string]any{"name": name}, expires)
		r.CreatedAt = base.Add(created)
		r.UserID = user
		h := hash(name)
		create(t, s, h, r)
		return h
	}
	a1 := mk("alice-1", "alice", 0, time.Hour)
	a2 := mk("alice-2", "alice", time.Second, time.Hour)
	mk("alice-dead", "alice", 2*time.Second, time.Millisecond)
	b1 := mk("bob-1", "bob", 0, time.Hour)
	anon := mk("anon", "", 0, time.Hour)

	now := base.Add(time.Minute)
	list, err := s.ListUser(ctx, "alice", now)
	if err != nil {
		t.Fatalf("ListUser: %v", err)
	}
	if len(list) != 2 || list[0].Hash != a2 || list[1].Hash != a1 {
		t.Fatalf("ListUser(alice) = %d sessions %v, want alice-2 then alice-1 (newest first, expired left out)", len(list), list)
	}
	wantData(t, list[0].Data, map[string]any{"name": "alice-2"})
	if !list[0].CreatedAt.Equal(base.Add(time.Second)) || !list[0].ExpiresAt.Equal(base.Add(time.Hour)) {
		t.Errorf("ListUser times = %v %v", list[0].CreatedAt, list[0].ExpiresAt)
	}
	if l, err := s.ListUser(ctx, "", now); err != nil || len(l) != 0 {
		t.Errorf("ListUser(\"\") = %v, %v; want no sessions (anonymous sessions are nobody's)", l, err)
	}

	testSetUserAndDestroy(t, s, a1, a2, b1, anon)
}

// testSetUserAndDestroy continues testUsers: Update assigns and clears the
// user, and DestroyUser deletes the user's sessions, expired ones too.
func testSetUserAndDestroy(t *testing.T, s sessionstore.Store, a1, a2, b1, anon sessionstore.IDHash) {
	ctx := context.Background()
	now := base.Add(time.Minute)
	c := sessionstore.Change{ExpiresAt: base.Add(time.Hour), UserID: ptr("alice")}
	if err := s.Update(ctx, anon, c, now); err != nil {
		t.Fatal(err)
	}
	if got := load(t, s, anon, now).UserID; got != "alice" {
		t.Errorf("UserID after SetUser = %q", got)
	}
	c = sessionstore.Change{ExpiresAt: base.Add(time.Hour), UserID: ptr("")}
	if err := s.Update(ctx, b1, c, now); err != nil {
		t.Fatal(err)
	}
	if got := load(t, s, b1, now).UserID; got != "" {
		t.Errorf("UserID after clearing = %q", got)
	}
	c = sessionstore.Change{ExpiresAt: base.Add(time.Hour)}
	if err := s.Update(ctx, a1, c, now); err != nil {
		t.Fatal(err)
	}
	if got := load(t, s, a1, now).UserID; got != "alice" {
		t.Errorf("UserID after an Update without SetUser = %q, want alice kept", got)
	}

	n, err := s.DestroyUser(ctx, "alice", sessionstore.IDHash{})
	if err != nil {
		t.Fatalf("DestroyUser: %v", err)
	}
	if n != 4 { // alice-1, alice-2, alice-dead and the formerly anonymous one
		t.Errorf("DestroyUser(alice) = %d, want 4", n)
	}
	for _, h := range []sessionstore.IDHash{a1, a2, anon} {
		_, err := s.Load(ctx, h, now)
		wantNotFound(t, err, "Load after DestroyUser")
	}
	load(t, s, b1, now)
	if n, err := s.DestroyUser(ctx, "nobody", sessionstore.IDHash{}); err != nil || n != 0 {
		t.Errorf("DestroyUser(nobody) = %d, %v; want 0, nil", n, err)
	}
}

func testDeleteExpired(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	for i := range 25 {
		create(t, s, hash(fmt.Sprint("dead-", i)), record(t, map[string]any{"i": i}, time.Duration(i+1)*time.Second))
	}
	for i := range 5 {
		create(t, s, hash(fmt.Sprint("live-", i)), record(t, map[string]any{"i": i}, time.Hour))
	}
	now := base.Add(time.Minute)
	var got []int
	for range 5 {
		n, err := s.DeleteExpired(ctx, now, 10)
		if err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		got = append(got, n)
		if n == 0 {
			break
		}
	}
	if fmt.Sprint(got) != "[10 10 5 0]" {
		t.Errorf("DeleteExpired batches = %v, want [10 10 5 0]", got)
	}
	for i := range 5 {
		load(t, s, hash(fmt.Sprint("live-", i)), now)
	}
	if _, err := s.DeleteExpired(ctx, now, 0); err == nil {
		t.Error("DeleteExpired with limit 0: want an error")
	}
}

func testCounts(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	for i := range 3 {
		create(t, s, hash(fmt.Sprint("c-dead-", i)), record(t, nil, time.Second))
	}
	for i := range 4 {
		create(t, s, hash(fmt.Sprint("c-live-", i)), record(t, nil, time.Hour))
	}
	now := base.Add(time.Minute)
	if n, err := s.CountExpired(ctx, now); err != nil || n != 3 {
		t.Errorf("CountExpired = %d, %v; want 3", n, err)
	}
	if n, err := s.CountExpired(ctx, time.Time{}); err != nil || n != 0 {
		t.Errorf("CountExpired(zero time) = %d, %v; want 0 (the table probe)", n, err)
	}
	if n, err := s.CountExpired(ctx, base); err != nil || n != 0 {
		t.Errorf("CountExpired(before any expiry) = %d, %v; want 0", n, err)
	}
}

func testSizeLimit(t *testing.T, s sessionstore.Store) {
	// A session of 1 MiB of JSON (the Manager's default limit) is kept
	// whole: {"big":"xxx…"} has 10 bytes of frame around the string.
	limit := 1 << 20
	fits := strings.Repeat("x", limit-10)
	h := hash("big")
	r := record(t, map[string]any{"big": fits}, time.Hour)
	if b, _ := sessionstore.EncodeData(r.Data); len(b) != limit {
		t.Fatalf("test setup: encoded size = %d, want exactly %d", len(b), limit)
	}
	create(t, s, h, r)
	if got := load(t, s, h, base); len(got.Data["big"]) != len(fits)+2 {
		t.Errorf("large value came back with %d bytes, want %d", len(got.Data["big"]), len(fits)+2)
	}
}

func ptr(s string) *string { return &s }

func testConcurrentMerges(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	h := hash("concurrent")
	create(t, s, h, record(t, map[string]any{"cookie": map[string]any{"path": "/"}}, time.Hour))
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c := sessionstore.Change{
				Set:       map[string]json.RawMessage{fmt.Sprintf("key-%03d", i): json.RawMessage(fmt.Sprint(i))},
				ExpiresAt: base.Add(time.Hour),
			}
			if err := s.Update(ctx, h, c, base); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Update: %v", err)
	}
	got := load(t, s, h, base)
	if len(got.Data) != n+1 {
		t.Errorf("after %d concurrent merges of distinct keys: %d keys stored, want %d", n, len(got.Data), n+1)
	}
	for i := range n {
		if v := string(got.Data[fmt.Sprintf("key-%03d", i)]); v != fmt.Sprint(i) {
			t.Errorf("key-%03d = %q, want %d", i, v, i)
		}
	}
}

func testConcurrentMixed(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers*20)
	for w := range workers {
		wg.Go(func() {
			for i := range 20 {
				h := hash(fmt.Sprintf("mixed-%d-%d", w, i%4))
				var err error
				switch i % 5 {
				case 0:
					err = s.Create(ctx, h, record(t, map[string]any{"w": w}, time.Hour), base)
					if errors.Is(err, sessionstore.ErrExists) {
						err = nil
					}
				case 1:
					_, err = s.Load(ctx, h, base)
				case 2:
					err = s.Update(ctx, h, sessionstore.Change{Set: map[string]json.RawMessage{"i": json.RawMessage(fmt.Sprint(i))}, ExpiresAt: base.Add(time.Hour)}, base)
				case 3:
					err = s.Touch(ctx, h, base.Add(2*time.Hour), nil, base)
				case 4:
					_, err = s.CountExpired(ctx, base)
				}
				if err != nil && !errors.Is(err, sessionstore.ErrNotFound) {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent operation: %v", err)
	}
}

// CheckRowHoldsNoID checks, for a store's own tests, a row as the store
// wrote it for the session id: its key is exactly SHA-256(id), and neither
// the key nor any other column holds the raw id.
func CheckRowHoldsNoID(t *testing.T, id string, idHash []byte, columns ...string) {
	t.Helper()
	if sum := sessionstore.HashID(id); string(idHash) != string(sum[:]) {
		t.Errorf("id_hash = %x, want sha256(id) = %x", idHash, sum)
	}
	for _, col := range append(columns, string(idHash)) {
		if strings.Contains(col, id) {
			t.Errorf("raw id found in a column: %q", col)
		}
	}
}
