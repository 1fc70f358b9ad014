package sessions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// fakeClock is a reapClock whose time moves only when told: Sleep advances
// it and records the wait.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
	cancel context.CancelFunc // when set, called by the first Sleep
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	if c.cancel != nil {
		c.cancel()
		return ctx.Err()
	}
	c.now = c.now.Add(d)
	return nil
}

// walStore has dead expired rows; each deleted row writes walPerRow bytes
// of WAL and each batch takes batchTime on the clock. Only DeleteExpired
// and WALPosition are implemented.
type walStore struct {
	sessionstore.Store
	clock     *fakeClock
	dead      int
	walPerRow int64
	batchTime time.Duration
	wal       int64
	calls     int
}

func (s *walStore) DeleteExpired(_ context.Context, _ time.Time, limit int) (int, error) {
	s.calls++
	n := min(limit, s.dead)
	s.dead -= n
	s.wal += int64(n) * s.walPerRow
	s.clock.now = s.clock.now.Add(s.batchTime)
	return n, nil
}

func (s *walStore) WALPosition(context.Context) (int64, error) { return s.wal, nil }

func TestReapWALRateLimitsTheRunsWAL(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	store := &walStore{clock: clock, dead: 25, walPerRow: 1000, batchTime: 10 * time.Millisecond}
	res, err := Reap(context.Background(), store, time.Now(), ReapOptions{BatchSize: 10, WALRate: 100_000, clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 25 || res.Batches != 3 || res.WALBytes != 25_000 {
		t.Fatalf("result = %+v; want 25 rows in 3 batches, 25,000 WAL bytes", res)
	}
	// A full batch writes 10,000 bytes: 100 ms at 100,000 B/s, of which
	// the batch itself took 10. The last (short) batch ends the run.
	want := []time.Duration{90 * time.Millisecond, 90 * time.Millisecond}
	if len(clock.sleeps) != 2 || clock.sleeps[0] != want[0] || clock.sleeps[1] != want[1] {
		t.Errorf("waits = %v, want %v", clock.sleeps, want)
	}
	if res.Paused != 180*time.Millisecond || res.Took != 210*time.Millisecond {
		t.Errorf("paused %s, took %s; want 180ms and 210ms", res.Paused, res.Took)
	}
	// No prefix of the run wrote WAL faster than the rate: the first two
	// batches' 20,000 bytes took 200 ms.
	if rate := float64(20_000) / (2 * 100 * time.Millisecond).Seconds(); rate > 100_000 {
		t.Errorf("rate over the full batches = %.0f B/s", rate)
	}
}

func TestReapWALRateNoWaitWhenBatchesAreSlow(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	// 10 rows × 1,000 bytes at 1 MB/s is 10 ms; each batch takes 50.
	store := &walStore{clock: clock, dead: 30, walPerRow: 1000, batchTime: 50 * time.Millisecond}
	res, err := Reap(context.Background(), store, time.Now(), ReapOptions{BatchSize: 10, WALRate: 1 << 20, clock: clock})
	if err != nil || res.Deleted != 30 || len(clock.sleeps) != 0 || res.Paused != 0 {
		t.Fatalf("result = %+v, %v, waits %v; want 30 rows and no wait", res, err, clock.sleeps)
	}
}

func TestReapUnpacedNeverMeasuresOrWaits(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	store := &walStore{clock: clock, dead: 25, walPerRow: 1000, batchTime: time.Millisecond}
	res, err := Reap(context.Background(), store, time.Now(), ReapOptions{BatchSize: 10, clock: clock})
	if err != nil || res.Deleted != 25 || res.WALBytes != 0 || len(clock.sleeps) != 0 {
		t.Fatalf("result = %+v, %v, waits %v; want 25 rows, nothing measured, no wait", res, err, clock.sleeps)
	}
}

func TestReapWALRateCancelDuringWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &fakeClock{now: time.Unix(1e9, 0), cancel: cancel}
	store := &walStore{clock: clock, dead: 25, walPerRow: 1000, batchTime: time.Millisecond}
	res, err := Reap(ctx, store, time.Now(), ReapOptions{BatchSize: 10, WALRate: 1000, clock: clock})
	if !errors.Is(err, context.Canceled) || res.Deleted != 10 || store.calls != 1 {
		t.Fatalf("result = %+v, %v after %d batches; want context.Canceled after one batch of 10", res, err, store.calls)
	}
	if res.Paused != 0 {
		t.Errorf("paused %s, want 0: the wait was cut short at once", res.Paused)
	}
}

// noMeter is a store that cannot measure WAL.
type noMeter struct{ sessionstore.Store }

func TestReapWALRateNeedsAWALMeter(t *testing.T) {
	if _, err := Reap(context.Background(), noMeter{}, time.Now(), ReapOptions{WALRate: 1 << 20}); err == nil {
		t.Error("WALRate on a store without WALPosition: want error")
	}
	if _, err := Reap(context.Background(), noMeter{}, time.Now(), ReapOptions{WALRate: -1}); err == nil {
		t.Error("negative WALRate: want error")
	}
	if err := (&Reaper{Store: noMeter{}, WALRate: 1 << 20}).Start(); err == nil {
		t.Error("Reaper with WALRate on a store without WALPosition: want error")
	}
}
