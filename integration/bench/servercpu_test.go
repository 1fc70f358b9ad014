package bench

import (
	"bytes"
	"context"
	"runtime/pprof"

	"github.com/google/pprof/profile"
)

// serverLabel is the pprof label that marks a Go stack's server
// goroutines: its listener's, and so (goroutines inherit labels) every
// connection's, with net/http, the handler, the session library and pgx
// in them. The load generator's goroutines carry none.
const serverLabel = "bench_server"

// goLabelled starts f in a goroutine labelled serverLabel=name.
func goLabelled(name string, f func()) {
	pprof.Do(context.Background(), pprof.Labels(serverLabel, name), func(context.Context) { go f() })
}

// serverCPU samples this process's CPU while a measurement runs and tells
// the servers' share apart: the CPU of goroutines labelled serverLabel,
// GC assists included, the runtime's background GC workers not (they
// serve the load generator too).
type serverCPU struct {
	buf bytes.Buffer
	on  bool
}

// start begins sampling; when profiling is already on (go test
// -cpuprofile), nothing is sampled and stop reports -1.
func (c *serverCPU) start() {
	c.buf.Reset()
	c.on = pprof.StartCPUProfile(&c.buf) == nil
}

// stop ends sampling and returns the nanoseconds of CPU the goroutines
// labelled name used, or -1 when nothing was sampled.
func (c *serverCPU) stop(name string) float64 {
	if !c.on {
		return -1
	}
	pprof.StopCPUProfile()
	p, err := profile.Parse(&c.buf)
	if err != nil {
		return -1
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return -1
	}
	var ns int64
	for _, s := range p.Sample {
		if v := s.Label[serverLabel]; len(v) == 1 && v[0] == name {
			ns += s.Value[idx]
		}
	}
	return float64(ns)
}
