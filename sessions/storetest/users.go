package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// userRecord is a session of user created at base+created.
func userRecord(t *testing.T, user string, created time.Duration) sessionstore.Record {
	r := record(t, map[string]any{"u": user}, time.Hour)
	r.UserID, r.CreatedAt = user, base.Add(created)
	return r
}

// userHashes lists the user's live sessions, newest first.
func userHashes(t *testing.T, s sessionstore.Store, user string) []sessionstore.IDHash {
	t.Helper()
	list, err := s.ListUser(context.Background(), user, base.Add(time.Minute))
	if err != nil {
		t.Fatalf("ListUser: %v", err)
	}
	var out []sessionstore.IDHash
	for _, info := range list {
		out = append(out, info.Hash)
	}
	return out
}

// DestroyUser with keep deletes every session of the user but that one.
func testDestroyUserKeep(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	for i := range 3 {
		create(t, s, hash(fmt.Sprint("keep-", i)), userRecord(t, "carol", time.Duration(i)*time.Second))
	}
	create(t, s, hash("keep-other"), userRecord(t, "dave", 0))
	n, err := s.DestroyUser(ctx, "carol", hash("keep-1"))
	if err != nil || n != 2 {
		t.Fatalf("DestroyUser(carol, keep-1) = %d, %v; want 2", n, err)
	}
	if got := userHashes(t, s, "carol"); len(got) != 1 || got[0] != hash("keep-1") {
		t.Errorf("carol's sessions after = %v, want only keep-1", got)
	}
	load(t, s, hash("keep-other"), base)
}

// Device information goes with Create, Update and Touch, and comes back
// from ListUser; a write without it leaves the recorded one.
func testDevice(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	h := hash("device")
	r := userRecord(t, "erin", 0)
	r.Device = &sessionstore.Device{LastSeen: base, IP: "192.0.2.1", UserAgent: "Firefox"}
	create(t, s, h, r)
	want := func(when string, seen time.Time, ip, ua string) {
		t.Helper()
		list, err := s.ListUser(ctx, "erin", base)
		if err != nil || len(list) != 1 {
			t.Fatalf("%s: ListUser = %v, %v", when, list, err)
		}
		if d := list[0]; !d.LastSeen.Equal(seen) || d.IP != ip || d.UserAgent != ua {
			t.Errorf("%s: device %v %q %q, want %v %q %q", when, d.LastSeen, d.IP, d.UserAgent, seen, ip, ua)
		}
	}
	want("after Create", base, "192.0.2.1", "Firefox")
	touched := &sessionstore.Device{LastSeen: base.Add(time.Minute), IP: "2001:db8::1", UserAgent: "Safari"}
	if err := s.Touch(ctx, h, base.Add(2*time.Hour), touched, base); err != nil {
		t.Fatal(err)
	}
	want("after Touch", base.Add(time.Minute), "2001:db8::1", "Safari")
	if err := s.Update(ctx, h, sessionstore.Change{ExpiresAt: base.Add(2 * time.Hour)}, base); err != nil {
		t.Fatal(err)
	}
	want("after an Update without a device", base.Add(time.Minute), "2001:db8::1", "Safari")
	c := sessionstore.Change{ExpiresAt: base.Add(2 * time.Hour), Device: &sessionstore.Device{LastSeen: base.Add(2 * time.Minute), IP: "198.51.100.7", UserAgent: "Edge"}}
	if err := s.Update(ctx, h, c, base); err != nil {
		t.Fatal(err)
	}
	want("after an Update with one", base.Add(2*time.Minute), "198.51.100.7", "Edge")
}

// MaxPerUser: a write that gives the user a session deletes the user's
// oldest ones beyond the cap, never the one written.
func testMaxPerUser(t *testing.T, s sessionstore.Store) {
	ctx := context.Background()
	for i := range 3 {
		r := userRecord(t, "frank", time.Duration(i)*time.Second)
		r.MaxPerUser = 3
		create(t, s, hash(fmt.Sprint("cap-", i)), r)
	}
	r := userRecord(t, "frank", -time.Hour) // the oldest creation time, yet it is the one written
	r.MaxPerUser = 3
	create(t, s, hash("cap-new"), r)
	got := userHashes(t, s, "frank")
	if len(got) != 3 || got[0] != hash("cap-2") || got[1] != hash("cap-1") || got[2] != hash("cap-new") {
		t.Errorf("after a 4th session under a cap of 3: %d sessions %v; want cap-2, cap-1 and the new one", len(got), got)
	}
	anon := hash("cap-anon")
	create(t, s, anon, record(t, nil, time.Hour))
	user := "frank"
	if err := s.Update(ctx, anon, sessionstore.Change{ExpiresAt: base.Add(time.Hour), UserID: &user, MaxPerUser: 2}, base); err != nil {
		t.Fatal(err)
	}
	if got := userHashes(t, s, "frank"); len(got) != 2 || got[0] != hash("cap-2") || got[1] != anon {
		t.Errorf("after SetUser under a cap of 2: %v; want cap-2 and the one updated", got)
	}
}

// Concurrent logins of one user never leave more than the cap.
func testMaxPerUserConcurrent(t *testing.T, s sessionstore.Store) {
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			r := userRecord(t, "grace", time.Duration(i)*time.Millisecond)
			r.MaxPerUser = 3
			errs <- s.Create(context.Background(), hash(fmt.Sprint("race-", i)), r, base)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent login: %v", err)
		}
	}
	if got := userHashes(t, s, "grace"); len(got) != 3 {
		t.Errorf("20 concurrent logins under a cap of 3 left %d sessions", len(got))
	}
}
