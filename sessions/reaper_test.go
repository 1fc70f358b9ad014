package sessions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

func seed(t *testing.T, s sessions.Store, dead, live int, now time.Time) {
	t.Helper()
	for i := range dead + live {
		exp := now.Add(-time.Minute)
		if i >= dead {
			exp = now.Add(time.Hour)
		}
		r := sessionstore.Record{Data: map[string]json.RawMessage{}, CreatedAt: now.Add(-time.Hour), ExpiresAt: exp}
		if err := s.Create(context.Background(), sessions.HashID(fmt.Sprint(i)), r, now.Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeleteExpiredBatches(t *testing.T) {
	s := memstore.NewWithOptions(memstore.Options{Logger: slog.New(slog.DiscardHandler)})
	now := time.Now()
	seed(t, s, 25, 7, now)
	res, err := sessions.ReapExpired(context.Background(), s, now, 10)
	if err != nil || res.Deleted != 25 || res.Batches != 3 {
		t.Fatalf("DeleteExpired = %+v, %v; want 25 deleted in 3 batches", res, err)
	}
	if n, _ := s.Count(context.Background(), now); n != 7 {
		t.Errorf("live sessions left = %d, want 7", n)
	}
	if _, err := sessions.ReapExpired(context.Background(), nil, now, 10); err == nil {
		t.Error("nil store: want error")
	}
	if _, err := sessions.ReapExpired(context.Background(), s, now, -1); err == nil {
		t.Error("negative batch: want error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sessions.ReapExpired(ctx, s, now, 10); err != context.Canceled {
		t.Errorf("cancelled: err = %v", err)
	}
}

func TestReaperStartStopLeavesNoGoroutine(t *testing.T) {
	s := memstore.NewWithOptions(memstore.Options{Logger: slog.New(slog.DiscardHandler)})
	now := time.Now()
	seed(t, s, 5, 2, now)
	before := runtime.NumGoroutine()
	r := &sessions.Reaper{Store: s, Interval: time.Hour, Logger: slog.New(slog.DiscardHandler)}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err == nil {
		t.Error("second Start: want error")
	}
	// The first run happens at once.
	for i := 0; i < 500; i++ {
		if n, _ := s.CountExpired(context.Background(), time.Now()); n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, _ := s.CountExpired(context.Background(), time.Now()); n != 0 {
		t.Errorf("expired sessions left = %d", n)
	}
	r.Stop()
	r.Stop() // idempotent
	var after int
	for i := 0; i < 100; i++ {
		if after = runtime.NumGoroutine(); after <= before {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if after > before {
		t.Errorf("goroutines: %d before Start, %d after Stop", before, after)
	}
	if err := (&sessions.Reaper{}).Start(); err == nil {
		t.Error("Reaper without Store: want error")
	}
}
