package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

var scaleTitles = map[string]string{
	routeRead:       "read — a seeded session loaded, unchanged (Passive: the load alone)",
	routeWrite:      "write — one key changed (the save also moves the expiry to now + maxAge)",
	routeNewSession: "new — login, a new session per request",
}

// mb formats bytes in MiB.
func mb(bytes int64) string { return num(float64(bytes)/(1<<20), 0) }

// memTotal is MemTotal of /proc/meminfo, or "?".
func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kb); err == nil {
				return num(kb/(1<<20), 1) + " GiB"
			}
		}
	}
	return "?"
}

// reportScale prints BenchmarkScaleCurve's Markdown: how it ran, the
// tables' sizes, one table per route.
func reportScale(w io.Writer, b *testing.B, cfg scaleConfig, tables []*scaleTable, res map[string][][]scaleSample, load string) {
	var sharedBuffers string
	_ = tables[0].env.Pool.QueryRow(context.Background(), "SHOW shared_buffers").Scan(&sharedBuffers)
	fmt.Fprintf(w, "\n<!-- BenchmarkScaleCurve output, %s -->\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %s; %s of RAM, shared_buffers %s. Load average (1 min): %s.\n\n", machine(b), memTotal(), sharedBuffers, load)
	fmt.Fprintf(w, "sqlsession + pgstore with default options over real HTTP on loopback, %d concurrent keep-alive connections. "+
		"Reads and writes cycle through up to %s seeded sessions drawn at random from the whole table; the sessions the new route creates "+
		"are deleted before each measurement. %d interleaved rounds of %v per route and size (after a VACUUM + CHECKPOINT and %v unmeasured warm-up); "+
		"figures are medians over the rounds, × %s the median of the per-round ratios to the %s-row table. "+
		"PG CPU: the stack's Postgres server processes. shared_buffers hit and misses/req: the table and its indexes (pg_statio_user_tables); "+
		"a miss is a block read from the operating system's page cache or the disk. HOT updates: of the table's updates during the measurement (pg_stat_user_tables).\n\n",
		cfg.workers, num(float64(cfg.cookies), 0), cfg.rounds, cfg.measure, cfg.warmup,
		num(float64(tables[0].rows), 0), num(float64(tables[0].rows), 0))
	fmt.Fprintln(w, "| rows | table MiB | indexes MiB | buffers per id lookup | seeded in (insert · indexes · VACUUM ANALYZE + CHECKPOINT) |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---|")
	for _, t := range tables {
		fmt.Fprintf(w, "| %s | %s | %s | %d | %v (%v · %v · %v) |\n", num(float64(t.rows), 0), mb(t.tableBytes), mb(t.indexBytes), t.lookupPages,
			(t.insert + t.index + t.vacuum).Round(time.Second), t.insert.Round(time.Second), t.index.Round(time.Second), t.vacuum.Round(time.Second))
	}
	for _, route := range cfg.routes {
		fmt.Fprintf(w, "\n#### %s\n\n", scaleTitles[route])
		fmt.Fprintf(w, "| rows | req/s | × %s | p50 µs | p99 µs | SQL/req | PG CPU µs/req | shared_buffers hit | misses/req | HOT updates | req/s per round |\n", num(float64(tables[0].rows), 0))
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
		base := samples(res[route][0])
		for i, t := range tables {
			ss := res[route][i]
			runs := make([]string, len(ss))
			for r, s := range ss {
				runs[r] = num(s.rps, 0)
			}
			med := func(f func(scaleSample) float64) float64 {
				xs := make([]float64, len(ss))
				for k, s := range ss {
					xs[k] = f(s)
				}
				return median(xs)
			}
			hot := "—"
			if h := med(func(s scaleSample) float64 { return s.hotPct }); h >= 0 {
				hot = fmt.Sprintf("%.0f%%", h)
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %s | %s | %.2f | %.0f | %.1f%% | %.2f | %s | %s |\n", num(float64(t.rows), 0),
				num(med(func(s scaleSample) float64 { return s.rps }), 0), ratio(samples(ss), base),
				num(med(func(s scaleSample) float64 { return s.p50 }), 0), num(med(func(s scaleSample) float64 { return s.p99 }), 0),
				med(func(s scaleSample) float64 { return s.sql }), med(func(s scaleSample) float64 { return s.pgCPU }), med(func(s scaleSample) float64 { return s.hitPct }),
				med(func(s scaleSample) float64 { return s.missesPerReq }), hot, strings.Join(runs, " · "))
		}
	}
}

// samples are the plain samples of scale samples.
func samples(ss []scaleSample) []sample {
	out := make([]sample, len(ss))
	for i, s := range ss {
		out[i] = s.sample
	}
	return out
}
