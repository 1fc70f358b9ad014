package sessions

import (
	"context"
	"sync"
	"time"
)

// deadlineTick is how long calls that begin one after another share one
// deadline: each gets at least Options.StoreTimeout, and at most this
// much more.
const deadlineTick = 10 * time.Millisecond

// deadlines hands out the deadlines of the Manager's store calls. Calls
// that begin within one deadlineTick share an epoch: one
// context.WithDeadline, so one timer and one done channel. A busy server
// thus arms a timer per tick, not per call; Err never reads the clock (the
// timer sets it); and a driver that watches the call's context (pgx,
// through context.AfterFunc) registers with the epoch's context as with
// any cancelable one: no goroutine, no extra allocation.
type deadlines struct {
	mu  sync.Mutex
	cur *epoch
}

// epoch is a deadline shared by the calls that began within one tick.
type epoch struct {
	open    time.Time // calls that begin before open+deadlineTick join
	timeout time.Duration
	ctx     context.Context    // done at open+deadlineTick+timeout
	cancel  context.CancelFunc // never called: the deadline ends ctx (kept for go vet)
}

// get returns the epoch for a call that begins now (on the real clock)
// with timeout.
func (d *deadlines) get(now time.Time, timeout time.Duration) *epoch {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.cur; e != nil && e.timeout == timeout && now.Before(e.open.Add(deadlineTick)) && !now.Before(e.open) {
		return e
	}
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(deadlineTick+timeout))
	d.cur = &epoch{open: now, timeout: timeout, ctx: ctx, cancel: cancel}
	return d.cur
}

// storeContext is the context of a Session's own store calls (the load
// before the handler, the commit after it): the request's values without
// its cancellation, and the deadline of the call's epoch (at least
// Options.StoreTimeout). Each call gets its own: a driver may still read it
// after the call returned (database/sql's awaitDone goroutine does).
type storeContext struct {
	request context.Context // the request's context: its values
	epoch   *epoch
}

// Deadline reports the call's deadline.
func (c *storeContext) Deadline() (time.Time, bool) { return c.epoch.ctx.Deadline() }

// Done returns a channel closed at the deadline.
func (c *storeContext) Done() <-chan struct{} { return c.epoch.ctx.Done() }

// Err returns context.DeadlineExceeded once the deadline has passed.
func (c *storeContext) Err() error { return c.epoch.ctx.Err() }

// Value returns the request context's value for key. The epoch's context
// answers first: it holds no values, and answers only the context
// package's own lookup of a cancelable parent (context.AfterFunc,
// context.Cause, WithCancel), with itself, so that lookup finds the
// epoch's cancellation, never the request's.
func (c *storeContext) Value(key any) any {
	if v := c.epoch.ctx.Value(key); v != nil {
		return v
	}
	return c.request.Value(key)
}
