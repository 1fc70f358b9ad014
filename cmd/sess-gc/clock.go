package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/sessions"
)

// fakeClockSkew makes the host clock look fast by this duration. It is
// empty in every real build; tests build a binary with
// -ldflags "-X main.fakeClockSkew=2h" to show that a host with a fast clock
// deletes no live session.
var fakeClockSkew string

// testPause names a stage of a run ("count", "reap", "vacuum") before
// which sess-gc says "paused before STAGE" on stderr and waits for
// SIGINT/SIGTERM. It is empty in every real build; tests build a binary
// with -ldflags "-X main.testPause=vacuum" to deliver the signal exactly
// before that stage, which then runs on a cancelled context.
var testPause string

// pause implements testPause for stage.
func pause(ctx context.Context, stage string) {
	if testPause != stage {
		return
	}
	fmt.Fprintln(os.Stderr, "sess-gc: test: paused before "+stage)
	<-ctx.Done()
}

// hostNow is the host's clock (skewed by fakeClockSkew in tests).
func hostNow() time.Time {
	now := time.Now()
	if skew, err := time.ParseDuration(fakeClockSkew); err == nil {
		now = now.Add(skew)
	}
	return now
}

// dbClock is a Postgres store whose reaping cutoff is never later than the
// database's now(): the applications wrote expires_at, and decide what is
// expired, with clocks the database agrees with, so a reaper host whose
// clock runs fast must not delete sessions they still consider live. A
// slow host clock only delays deletion.
type dbClock struct {
	sessions.Store
	pool *pgxpool.Pool
}

// cutoff returns before, capped by the database's clock.
func (c dbClock) cutoff(ctx context.Context, before time.Time) (time.Time, error) {
	var now time.Time
	if err := c.pool.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
		return before, fmt.Errorf("read the database clock: %w", err)
	}
	if before.After(now) {
		return now, nil
	}
	return before, nil
}

// DeleteExpired deletes one batch of sessions expired by the database's
// clock (at most before).
func (c dbClock) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	before, err := c.cutoff(ctx, before)
	if err != nil {
		return 0, err
	}
	return c.Store.DeleteExpired(ctx, before, limit)
}

// CountExpired counts sessions expired by the database's clock (at most
// before). The zero time (the table probe) is passed through.
func (c dbClock) CountExpired(ctx context.Context, before time.Time) (int, error) {
	if !before.IsZero() {
		var err error
		if before, err = c.cutoff(ctx, before); err != nil {
			return 0, err
		}
	}
	return c.Store.CountExpired(ctx, before)
}

// WALPosition passes the store's sessions.WALMeter through (-wal-rate),
// so that the wrapper does not hide it.
func (c dbClock) WALPosition(ctx context.Context) (int64, error) {
	m, ok := c.Store.(sessions.WALMeter)
	if !ok {
		return 0, fmt.Errorf("%T cannot measure WAL", c.Store)
	}
	return m.WALPosition(ctx)
}
