package sessions

import (
	"context"
	"reflect"
	"sync"
	"time"
)

// deadlineTick is how long calls that begin one after another share one
// deadline: each gets at least Options.StoreTimeout, and at most this
// much more.
const deadlineTick = 10 * time.Millisecond

// deadlines hands out the deadlines of the Manager's store calls. Calls
// that begin within one deadlineTick share an epoch: one deadline, one
// done channel and one timer. A busy server thus arms a timer per tick,
// not per call, and Err never reads the clock (the timer sets it, as a
// context.WithDeadline's does).
type deadlines struct {
	mu  sync.Mutex
	cur *epoch
}

// epoch is a deadline shared by the calls that began within one tick.
type epoch struct {
	open     time.Time // calls that begin before open+deadlineTick join
	timeout  time.Duration
	deadline time.Time

	mu    sync.Mutex
	done  chan struct{} // closed at the deadline
	err   error         // context.DeadlineExceeded once the deadline passed
	after []func()      // AfterFunc's functions; an entry is nil once stopped
}

// get returns the epoch for a call that begins now (on the real clock)
// with timeout.
func (d *deadlines) get(now time.Time, timeout time.Duration) *epoch {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.cur; e != nil && e.timeout == timeout && now.Before(e.open.Add(deadlineTick)) && !now.Before(e.open) {
		return e
	}
	e := &epoch{open: now, timeout: timeout, deadline: now.Add(deadlineTick + timeout), done: make(chan struct{})}
	time.AfterFunc(e.deadline.Sub(now), e.expire)
	d.cur = e
	return e
}

// doneChan returns the done channel.
func (e *epoch) doneChan() <-chan struct{} { return e.done }

// expire ends the epoch's calls and runs AfterFunc's functions.
func (e *epoch) expire() {
	e.mu.Lock()
	e.err = context.DeadlineExceeded
	close(e.done)
	after := e.after
	e.after = nil
	e.mu.Unlock()
	for _, f := range after {
		if f != nil {
			f()
		}
	}
}

// errNow returns the epoch's error: DeadlineExceeded once its timer has
// fired.
func (e *epoch) errNow() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// afterFunc runs f at the deadline unless the returned stop runs first.
func (e *epoch) afterFunc(f func()) (stop func() bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		go f()
		return func() bool { return false }
	}
	i := len(e.after)
	e.after = append(e.after, f)
	return func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.err != nil || e.after[i] == nil {
			return false // ran, or already stopped
		}
		e.after[i] = nil
		return true
	}
}

// storeContext is the context of a Session's own store calls (the load
// before the handler, the commit after it): the request's values without
// its cancellation, and the deadline of the call's epoch (at least
// Options.StoreTimeout). A driver that watches the context (pgx, through
// context.AfterFunc) is served by its AfterFunc method, without a
// goroutine. Each call gets its own: a driver may still read it after the
// call returned (database/sql's awaitDone goroutine does).
type storeContext struct {
	request context.Context // the request's context: its values
	epoch   *epoch
}

// Deadline reports the call's deadline.
func (c *storeContext) Deadline() (time.Time, bool) { return c.epoch.deadline, true }

// Done returns a channel closed at the deadline.
func (c *storeContext) Done() <-chan struct{} { return c.epoch.doneChan() }

// Err returns context.DeadlineExceeded once the deadline has passed.
func (c *storeContext) Err() error { return c.epoch.errNow() }

// Value returns the request context's value for key, except the
// context package's own lookup of a cancelable parent (context.Cause,
// context.AfterFunc), which must not find the request's cancellation: that
// lookup returns a context that answers the same key with itself.
func (c *storeContext) Value(key any) any {
	v := c.request.Value(key)
	if cc, ok := v.(context.Context); ok && reflect.ValueOf(v).Kind() == reflect.Pointer && cc.Value(key) == v {
		return nil
	}
	return v
}

// AfterFunc runs f once the deadline passes, unless the returned stop is
// called first (it reports whether it stopped f). context.AfterFunc uses
// it, so that a driver watching the call's context starts no goroutine.
func (c *storeContext) AfterFunc(f func()) (stop func() bool) { return c.epoch.afterFunc(f) }
