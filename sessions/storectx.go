package sessions

import (
	"context"
	"sync"
	"time"
)

// storeContext is the context of a Session's own store calls (the load
// before the handler, the commit after it): the request's values without
// its cancellation, and a deadline Options.StoreTimeout after the call
// began. Its timer is armed only when the store asks for Done: a store
// that never waits (memstore) pays for no timer, and a driver that
// watches the context (pgx, through context.AfterFunc) is served by its
// AfterFunc method without a goroutine. A Session's calls run one at a
// time, so one storeContext, kept in the Session, serves them all.
type storeContext struct {
	request  context.Context // the request's context: its values
	deadline time.Time

	mu       sync.Mutex
	detached context.Context // context.WithoutCancel(request), made on the first Value
	done  chan struct{} // nil until Done is called
	timer *time.Timer   // closes done at the deadline
	err   error         // context.DeadlineExceeded once it has passed
	after []func()      // AfterFunc's functions; an entry is nil once stopped
	gen   uint64        // counts ended calls, so a stale stop changes nothing
}

// begin readies c for one store call on behalf of parent and returns it.
func (c *storeContext) begin(request context.Context, timeout time.Duration) context.Context {
	c.mu.Lock()
	if c.request != request {
		c.request, c.detached = request, nil
	}
	c.mu.Unlock()
	c.deadline = time.Now().Add(timeout)
	return c
}

// end releases the call's timer; c is ready for the next begin.
func (c *storeContext) end() {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	clear(c.after)
	c.done, c.timer, c.err, c.after = nil, nil, nil, c.after[:0]
	c.gen++
	c.mu.Unlock()
}

// Deadline reports the call's deadline.
func (c *storeContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done returns a channel closed at the deadline, arming the timer on the
// first call.
func (c *storeContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm()
	return c.done
}

// arm creates done and its timer, unless they exist. c.mu is held.
func (c *storeContext) arm() {
	if c.done != nil {
		return
	}
	c.done = make(chan struct{})
	if d := time.Until(c.deadline); d > 0 {
		c.timer = time.AfterFunc(d, c.expire)
		return
	}
	c.err = context.DeadlineExceeded
	close(c.done)
}

// expire ends the call at its deadline and runs AfterFunc's functions.
func (c *storeContext) expire() {
	c.mu.Lock()
	if c.err != nil || c.done == nil || time.Now().Before(c.deadline) {
		c.mu.Unlock() // ended meanwhile (a stopped timer firing late)
		return
	}
	c.err = context.DeadlineExceeded
	close(c.done)
	var after []func()
	for _, f := range c.after {
		if f != nil {
			after = append(after, f)
		}
	}
	clear(c.after)
	c.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// Err returns context.DeadlineExceeded once the deadline has passed.
func (c *storeContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && c.done == nil && !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded // no timer armed: ask the clock
	}
	return c.err
}

// Value returns the request context's value for key, through
// context.WithoutCancel, which hides the request's cancellation from the
// context package (context.Cause, context.AfterFunc) as well.
func (c *storeContext) Value(key any) any {
	c.mu.Lock()
	if c.detached == nil {
		c.detached = context.WithoutCancel(c.request)
	}
	d := c.detached
	c.mu.Unlock()
	return d.Value(key)
}

// AfterFunc runs f once the deadline passes, unless the returned stop is
// called first (it reports whether it stopped f). context.AfterFunc uses
// it, so that a driver watching the call's context starts no goroutine.
func (c *storeContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	i, gen := len(c.after), c.gen
	c.after = append(c.after, f)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen != gen || c.err != nil || c.after[i] == nil {
			return false // ran, or already stopped
		}
		c.after[i] = nil
		return true
	}
}
