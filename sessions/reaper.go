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
	// WALBytes is the write-ahead log written while the batches ran, as
	// the store's WALMeter measured it; 0 when the run was not paced
	// (ReapOptions.WALRate).
	WALBytes int64
	// Paused is the time the run spent waiting between batches to keep
	// within ReapOptions.WALRate (part of Took).
	Paused time.Duration
}

// ReapOptions tune a reaping run (Reap). The zero value is ReapExpired's
// behaviour: batches of DefaultBatchSize, one after the other.
type ReapOptions struct {
	// BatchSize is the most rows one delete statement removes; 0 means
	// DefaultBatchSize.
	BatchSize int
	// WALRate, when positive, paces the run to at most this many bytes of
	// write-ahead log per second: after each batch the run waits until the
	// WAL that batch wrote, at WALRate, would have taken as long. Deleting
	// a row dirties its page, and on PostgreSQL the first change to a page
	// after a checkpoint logs the whole page (~8 KB), so an unpaced reaper
	// can write hundreds of MB/s of WAL that the application's commits
	// must queue behind (BENCHMARKS.md). The store must implement
	// WALMeter (pgstore does, except on Citus); Reap fails otherwise.
	WALRate int64

	clock reapClock // nil: the real clock (tests set a fake one)
}

// WALMeter is implemented by stores that can tell how much write-ahead log
// their database has written, for ReapOptions.WALRate.
type WALMeter interface {
	// WALPosition returns the database's current WAL insert position in
	// bytes; the difference of two positions is the WAL written between
	// them (by every session of the server).
	WALPosition(ctx context.Context) (int64, error)
}

// reapClock is the clock a paced run reads and sleeps on.
type reapClock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done (then returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ReapExpired deletes every session of store that expired at or before
// before, batchSize at a time (0 means DefaultBatchSize), until a batch
// comes back short. It never runs one giant DELETE. Cancelling ctx stops it
// after the batch in flight (which completes), returning what it did with
// ctx's error; ctx's deadline, though, bounds every batch.
func ReapExpired(ctx context.Context, store Store, before time.Time, batchSize int) (ReapResult, error) {
	return Reap(ctx, store, before, ReapOptions{BatchSize: batchSize})
}

// Reap is ReapExpired with options: the batch size, and a WAL budget that
// paces the batches (ReapOptions.WALRate). Cancelling ctx also ends a wait
// between batches.
func Reap(ctx context.Context, store Store, before time.Time, opts ReapOptions) (res ReapResult, err error) {
	p, err := newReapPlan(store, opts)
	if err != nil {
		return res, fmt.Errorf("sessions: delete expired: %w", err)
	}
	start := p.clock.Now()
	defer func() { res.Took = p.clock.Now().Sub(start) }()
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n, err := p.batch(ctx, before, &res)
		if err != nil {
			return res, fmt.Errorf("sessions: delete expired: %w", err)
		}
		if n < p.size {
			return res, nil
		}
		if err := p.pace(ctx, &res); err != nil {
			return res, err
		}
	}
}

// reapPlan is a run's settings, checked, and the pacing state.
type reapPlan struct {
	store Store
	size  int
	rate  int64    // bytes/s; 0: unpaced
	meter WALMeter // set when rate > 0
	clock reapClock

	batchStart time.Time // when the last batch started
	batchWAL   int64     // WAL the last batch wrote
}

func newReapPlan(store Store, opts ReapOptions) (*reapPlan, error) {
	switch {
	case store == nil:
		return nil, errors.New("nil Store")
	case opts.BatchSize < 0:
		return nil, fmt.Errorf("batch size %d is negative", opts.BatchSize)
	case opts.WALRate < 0:
		return nil, fmt.Errorf("WAL rate %d is negative", opts.WALRate)
	}
	p := &reapPlan{store: store, size: opts.BatchSize, rate: opts.WALRate, clock: opts.clock}
	if p.size == 0 {
		p.size = DefaultBatchSize
	}
	if p.clock == nil {
		p.clock = realClock{}
	}
	if p.rate > 0 {
		m, ok := store.(WALMeter)
		if !ok {
			return nil, fmt.Errorf("a WAL rate needs a store that measures WAL (a sessions.WALMeter); %T is not one", store)
		}
		p.meter = m
	}
	return p, nil
}

// batch deletes one batch, measuring its WAL when the run is paced.
func (p *reapPlan) batch(ctx context.Context, before time.Time, res *ReapResult) (int, error) {
	p.batchStart = p.clock.Now()
	var wal0 int64
	if p.meter != nil {
		var err error
		if wal0, err = p.meter.WALPosition(ctx); err != nil {
			return 0, fmt.Errorf("WAL position: %w", err)
		}
	}
	bctx, cancel := batchContext(ctx)
	defer cancel()
	n, err := p.store.DeleteExpired(bctx, before, p.size)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		res.Deleted += n
		res.Batches++
	}
	if p.meter != nil {
		wal1, err := p.meter.WALPosition(bctx)
		if err != nil {
			return n, fmt.Errorf("WAL position: %w", err)
		}
		p.batchWAL = max(wal1-wal0, 0)
		res.WALBytes += p.batchWAL
	}
	return n, nil
}

// pace waits, after a batch, until the batch's WAL at the run's rate would
// have taken as long as the batch and the wait together.
func (p *reapPlan) pace(ctx context.Context, res *ReapResult) error {
	if p.rate == 0 {
		return nil
	}
	budget := time.Duration(float64(p.batchWAL) / float64(p.rate) * float64(time.Second))
	wait := budget - p.clock.Now().Sub(p.batchStart)
	if wait <= 0 {
		return nil
	}
	start := p.clock.Now()
	err := p.clock.Sleep(ctx, wait)
	res.Paused += p.clock.Now().Sub(start) // less than wait when ctx ended it
	return err
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
	// WALRate, when positive, limits the WAL each run writes, in bytes
	// per second (see ReapOptions.WALRate); the Store must implement
	// WALMeter.
	WALRate int64
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
	if r.Interval < 0 || r.BatchSize < 0 || r.WALRate < 0 {
		return errors.New("sessions: Reaper: negative Interval, BatchSize or WALRate")
	}
	if _, ok := r.Store.(WALMeter); r.WALRate > 0 && !ok {
		return fmt.Errorf("sessions: Reaper: WALRate needs a Store that measures WAL (a WALMeter); %T is not one", r.Store)
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
		res, err := Reap(ctx, r.Store, now(), ReapOptions{BatchSize: r.BatchSize, WALRate: r.WALRate})
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

// batchContext is the context of one batch: it ignores ctx's cancellation
// (the batch in flight completes) but keeps its deadline.
func batchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	bctx := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(bctx, dl)
	}
	return bctx, func() {}
}
