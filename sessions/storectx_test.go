package sessions

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

// A store call's context carries the request's values, not its
// cancellation, and ends at its own deadline.
func TestStoreContextDeadline(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	cancel() // the client hung up: the store call goes on
	var c storeContext
	ctx := c.begin(parent, 30*time.Millisecond)
	if ctx.Value(ctxKey{}) != "v" {
		t.Error("the request's values are lost")
	}
	if err := context.Cause(ctx); err != nil {
		t.Errorf("Cause = %v before the deadline, with the request cancelled; want nil", err)
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err = %v before the deadline, with the request cancelled; want nil", err)
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 30*time.Millisecond {
		t.Errorf("Deadline = %v, %v; want within 30ms", dl, ok)
	}
	ran := make(chan struct{})
	context.AfterFunc(ctx, func() { close(ran) })
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the deadline")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Errorf("Err = %v, Cause = %v after the deadline, want DeadlineExceeded", ctx.Err(), context.Cause(ctx))
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("context.AfterFunc's function did not run at the deadline")
	}
	c.end()
	ctx = c.begin(parent, time.Hour) // the next call starts afresh
	if ctx.Err() != nil {
		t.Errorf("Err = %v on the next call, want nil", ctx.Err())
	}
	c.end()
}

// context.AfterFunc on a store context is stopped without running, and a
// stop from an ended call changes nothing in the next one.
func TestStoreContextAfterFuncStop(t *testing.T) {
	var c storeContext
	ctx := c.begin(context.Background(), 20*time.Millisecond)
	stop := context.AfterFunc(ctx, func() { t.Error("stopped function ran") })
	if !stop() {
		t.Error("stop = false before the deadline, want true")
	}
	c.end()
	ctx = c.begin(context.Background(), 20*time.Millisecond)
	ran := make(chan struct{})
	context.AfterFunc(ctx, func() { close(ran) })
	if stop() {
		t.Error("a stale stop reported stopping the next call's function")
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the next call's function did not run")
	}
	c.end()
}

// A call whose store never asks for Done arms no timer.
func TestStoreContextLazyTimer(t *testing.T) {
	var c storeContext
	ctx := c.begin(context.Background(), time.Hour)
	_ = ctx.Err()
	if c.timer != nil || c.done != nil {
		t.Error("a timer was armed without Done being asked for")
	}
	c.end()
	if n := testing.AllocsPerRun(100, func() { _ = c.begin(context.Background(), time.Hour).Err(); c.end() }); n != 0 {
		t.Errorf("a call that never asks for Done allocates %v times, want 0", n)
	}
}
