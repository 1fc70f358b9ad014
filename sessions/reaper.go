package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultBatchSize is how many expired sessions one reaping statement
// deletes (see BENCHMARKS.md for the measurements behind it).
const DefaultBatchSize = 1000

// ReapResult is what one reaping run did.
type ReapResult struct {
	Deleted int           // sessions deleted
	Batches int           // DeleteExpired calls that deleted something
	Took    time.Duration // wall time
}

// ReapExpired deletes every session of store that expired at or before
// before, batchSize at a time (0 means DefaultBatchSize), until a batch
// comes back short. It never runs one giant DELETE. Cancelling ctx stops it
// after the batch in flight (which completes), returning what it did with
// ctx's error; ctx's deadline, though, bounds every batch.
func ReapExpired(ctx context.Context, store Store, before time.Time, batchSize int) (ReapResult, error) {
	start := time.Now()
	var res ReapResult
	if store == nil {
		return res, errors.New("sessions: delete expired: nil Store")
	}
	if batchSize < 0 {
		return res, fmt.Errorf("sessions: delete expired: batch size %d is negative", batchSize)
	}
	if batchSize == 0 {
		batchSize = DefaultBatchSize
	}
	for {
		if err := ctx.Err(); err != nil {
			res.Took = time.Since(start)
			return res, err
		}
		n, err := deleteBatch(ctx, store, before, batchSize)
		if err != nil {
			res.Took = time.Since(start)
			return res, fmt.Errorf("sessions: delete expired: %w", err)
		}
		if n > 0 {
			res.Deleted += n
			res.Batches++
		}
		if n < batchSize {
			res.Took = time.Since(start)
			return res, nil
		}
	}
}

// Reaper deletes expired sessions in the background, for applications that
// do not run sess-gc from cron. Fill in Store (and optionally the rest),
// then Start it; Stop waits for the goroutine to end.
//
//	r := &sessions.Reaper{Store: store, Interval: 5 * time.Minute}
//	if err := r.Start(); err != nil { ... }
//	defer r.Stop()
type Reaper struct {
	// Store is the store whose expired sessions are deleted (required).
	Store Store
	// Interval is the time between runs; default 5 minutes.
	Interval time.Duration
	// BatchSize is the most rows one delete statement removes; default
	// DefaultBatchSize.
	BatchSize int
	// Logger receives a line per run that deleted rows, and errors;
	// default slog.Default().
	Logger *slog.Logger
	// Now is the clock that decides what is expired; default time.Now.
	// For tests.
	Now func() time.Time

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs the reaper: once at once, then every Interval. It returns an
// error when Store is nil, a setting is negative, or it is already running.
func (r *Reaper) Start() error {
	if r.Store == nil {
		return errors.New("sessions: Reaper: nil Store")
	}
	if r.Interval < 0 || r.BatchSize < 0 {
		return errors.New("sessions: Reaper: negative Interval or BatchSize")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return errors.New("sessions: Reaper: already running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go r.run(ctx, r.done)
	return nil
}

// Stop stops the reaper, waiting for a batch in flight to finish. It is
// safe to call more than once, and on a Reaper never started.
func (r *Reaper) Stop() {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.cancel, r.done = nil, nil
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (r *Reaper) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	interval := r.Interval
	if interval == 0 {
		interval = 5 * time.Minute
	}
	logger := r.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := ReapExpired(ctx, r.Store, now(), r.BatchSize)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Error("sessions: reaper", "err", err, "deleted", res.Deleted)
		case res.Deleted > 0:
			logger.Info("sessions: reaper", "deleted", res.Deleted, "batches", res.Batches, "took", res.Took)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// deleteBatch runs one batch on a context that ignores ctx's cancellation
// but keeps its deadline.
func deleteBatch(ctx context.Context, store Store, before time.Time, batchSize int) (int, error) {
	bctx := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		bctx, cancel = context.WithDeadline(bctx, dl)
		defer cancel()
	}
	return store.DeleteExpired(bctx, before, batchSize)
}
