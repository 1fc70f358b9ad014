package sessions

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

type ctxKey struct{}

// A store call's context carries the request's values, not its
// cancellation, and ends at its own deadline.
func TestStoreContextDeadline(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	cancel() // the client hung up: the store call goes on
	var d deadlines
	ctx := (&storeContext{request: parent, epoch: d.get(time.Now(), 30*time.Millisecond)})
	if ctx.Value(ctxKey{}) != "v" {
		t.Error("the request's values are lost")
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err = %v before the deadline, with the request cancelled; want nil", err)
	}
	if err := context.Cause(ctx); err != nil {
		t.Errorf("Cause = %v before the deadline, with the request cancelled; want nil", err)
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 30*time.Millisecond+deadlineTick {
		t.Errorf("Deadline = %v, %v; want within 30ms + a tick", dl, ok)
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
	ctx = (&storeContext{request: parent, epoch: d.get(time.Now(), time.Hour)}) // the next call has its own deadline
	if ctx.Err() != nil {
		t.Errorf("Err = %v on the next call, want nil", ctx.Err())
	}
}

// context.AfterFunc on a store context is stopped without running.
func TestStoreContextAfterFuncStop(t *testing.T) {
	var d deadlines
	ctx := (&storeContext{request: context.Background(), epoch: d.get(time.Now(), 20*time.Millisecond)})
	stop := context.AfterFunc(ctx, func() { t.Error("stopped function ran") })
	if !stop() {
		t.Error("stop = false before the deadline, want true")
	}
	if stop() {
		t.Error("a second stop = true, want false")
	}
	<-ctx.Done()
	time.Sleep(10 * time.Millisecond) // a stopped function would run now
}

// Calls that begin within a tick share a deadline (and its timer), each
// getting at least its timeout.
func TestDeadlinesShareATick(t *testing.T) {
	var d deadlines
	start := time.Now()
	a := d.get(time.Now(), time.Second)
	b := d.get(time.Now(), time.Second)
	if a != b && time.Since(start) < deadlineTick/2 {
		t.Error("two calls within a tick got two deadlines")
	}
	if dl, _ := a.ctx.Deadline(); dl.Before(start.Add(time.Second)) || dl.After(time.Now().Add(time.Second+deadlineTick)) {
		t.Errorf("deadline %v after the start, want between 1s and 1s + a tick", dl.Sub(start))
	}
	if d.get(time.Now(), 2*time.Second) == a {
		t.Error("a call with another timeout shares the deadline")
	}
	e := d.get(time.Now(), time.Hour)
	c := &storeContext{request: context.Background(), epoch: e}
	if n := testing.AllocsPerRun(100, func() { _ = c.Err(); _ = d.get(time.Now(), time.Hour) }); n > 0.5 {
		t.Errorf("a call allocates %v times for its deadline, want none within a tick", n)
	}
}

// A driver's watch of a store context (pgx: context.AfterFunc) registers
// with the epoch's context: it starts no goroutine, whatever the request's
// context is.
func TestStoreContextWatchStartsNoGoroutine(t *testing.T) {
	var d deadlines
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := runtime.NumGoroutine()
	var stops []func() bool
	for range 100 {
		ctx := &storeContext{request: parent, epoch: d.get(time.Now(), time.Hour)}
		stops = append(stops, context.AfterFunc(ctx, func() { t.Error("ran before the deadline") }))
	}
	if n := runtime.NumGoroutine() - before; n > 5 {
		t.Errorf("100 watches of store contexts started %d goroutines, want none", n)
	}
	for _, stop := range stops {
		if !stop() {
			t.Error("stop = false before the deadline, want true")
		}
	}
}
