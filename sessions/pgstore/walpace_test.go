package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// A run paced by a WAL budget measures the WAL of its batches through
// pgstore's WALPosition and still deletes every expired row (and only
// those).
func TestReapWithWALRate(t *testing.T) {
	e := pgtest.Migrated(t)
	ctx := context.Background()
	if _, err := e.Pool.Exec(ctx, `INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT sha256(('s' || i)::bytea), '{"a": 1}', now() + CASE WHEN i % 4 = 0 THEN interval '1 hour' ELSE interval '-1 hour' END, now() - interval '2 hours'
		FROM generate_series(1, 2000) i`); err != nil {
		t.Fatal(err)
	}
	store := pgstore.New(e.Pool)
	var _ sessions.WALMeter = store
	before, err := store.WALPosition(ctx)
	if pgtest.IsCitus(t, e) { // the workers write the WAL: a budget is refused
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("WALPosition on Citus: %v, want errors.ErrUnsupported", err)
		}
		return
	}
	if err != nil || before <= 0 {
		t.Fatalf("WALPosition = %d, %v", before, err)
	}
	res, err := sessions.Reap(ctx, store, time.Now(), sessions.ReapOptions{BatchSize: 300, WALRate: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 1500 || res.Batches != 5 {
		t.Errorf("deleted %d in %d batches, want 1500 in 5", res.Deleted, res.Batches)
	}
	after, err := store.WALPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each deleted row logs a record; the measured WAL is the batches'
	// share of what the server wrote meanwhile.
	if res.WALBytes < 1500*50 || res.WALBytes > after-before {
		t.Errorf("measured %d WAL bytes for 1500 deletions; the server wrote %d in all", res.WALBytes, after-before)
	}
	n, err := store.CountExpired(ctx, time.Now())
	if err != nil || n != 0 {
		t.Errorf("expired rows left: %d, %v", n, err)
	}
}

// On Citus the coordinator's WAL does not show the workers' deletes, so a
// WAL budget is refused instead of pacing by the wrong number; unpaced
// reaping (DeleteExpiredBatchByKey) is unchanged.
func TestCitusWALPositionUnsupported(t *testing.T) {
	e := pgtest.Citus(t)
	store := pgstore.New(e.Pool)
	if _, err := store.WALPosition(context.Background()); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("WALPosition on Citus: err = %v, want errors.ErrUnsupported", err)
	}
	if _, err := sessions.Reap(context.Background(), store, time.Now(), sessions.ReapOptions{WALRate: 1 << 20}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("paced Reap on Citus: err = %v, want errors.ErrUnsupported", err)
	}
	if _, err := sessions.ReapExpired(context.Background(), store, time.Now(), 100); err != nil {
		t.Errorf("unpaced Reap on Citus: %v", err)
	}
}
