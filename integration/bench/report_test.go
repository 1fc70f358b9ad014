package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// field picks one number of every round's sample.
func field(ss []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// ratio is the median over rounds of a's req/s over b's in the same round.
func ratio(a, b []sample) float64 {
	rs := make([]float64, 0, len(a))
	for i := range min(len(a), len(b)) {
		rs = append(rs, a[i].rps/b[i].rps)
	}
	return median(rs)
}

func rps(s sample) float64 { return s.rps }

// num formats n with thousands separators and d decimals.
func num(n float64, d int) string {
	s := fmt.Sprintf("%.*f", d, n)
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

var routeTitles = map[string]string{
	routeRead:         "read — session loaded, unchanged (each stack's defaults)",
	routeWrite:        "write — one key changed",
	routeRolling:      "rolling — expiry slides, each stack's defaults (ceiling: the read)",
	routeRollingEvery: "rolling-every — expiry written on every request (sqlsession TouchEveryRequest, express exact)",
	routeNewSession:   "new — login, a new session per request",
}

// report prints the run's Markdown: how it ran, one table per route, the
// #11 targets.
func report(w io.Writer, b *testing.B, cfg config, peers []peer, res map[string][][]sample, allocs map[string][]float64) {
	fmt.Fprintf(w, "\n<!-- BenchmarkPeers output, %s -->\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %s.\n\n", machine(b))
	fmt.Fprintf(w, "All stacks over real HTTP on loopback: Go stacks on a net/http server each, express on node; "+
		"load from a Go client in the benchmark process, %d concurrent keep-alive connections, spread over %d sessions. "+
		"%d interleaved rounds of %v per route and stack (after %v unmeasured warm-up and a VACUUM + CHECKPOINT); "+
		"figures are medians over the rounds, × ceiling the median of the per-round ratios. "+
		"allocs/req: the Go stack's handler in-process (middleware, store, pgx; not net/http), serial, 200 requests. "+
		"CPU per request: PG = the stack's Postgres server processes; app+client = the benchmark process (Go client and, for Go stacks, the server) plus node for express.\n",
		cfg.workers, cfg.sessions, cfg.rounds, cfg.measure, cfg.warmup)
	for _, route := range routes {
		fmt.Fprintf(w, "\n#### %s\n\n", routeTitles[route])
		fmt.Fprintln(w, "| stack | req/s | × ceiling | p50 µs | p99 µs | allocs/req | SQL/req | PG CPU µs/req | app+client CPU µs/req | req/s per round |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
		for i, p := range peers {
			ss := res[route][i]
			a := "n/a"
			if allocs[route][i] >= 0 {
				a = num(allocs[route][i], 0)
			}
			runs := make([]string, len(ss))
			for r, s := range ss {
				runs[r] = num(s.rps, 0)
			}
			name := p.name
			if strings.HasPrefix(name, "sqlsession") {
				name = "**" + name + "**"
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %s | %s | %s | %.2f | %.0f | %.0f | %s |\n", name,
				num(median(field(ss, rps)), 0), ratio(ss, res[route][0]),
				num(median(field(ss, func(s sample) float64 { return s.p50 })), 0),
				num(median(field(ss, func(s sample) float64 { return s.p99 })), 0),
				a, median(field(ss, func(s sample) float64 { return s.sql })),
				median(field(ss, func(s sample) float64 { return s.pgCPU })),
				median(field(ss, func(s sample) float64 { return s.appCPU })), strings.Join(runs, " · "))
		}
	}
	targets(w, peers, res)
}

// targets prints issue #11's throughput targets against this run.
func targets(w io.Writer, peers []peer, res map[string][][]sample) {
	idx := func(prefix string) int {
		return slices.IndexFunc(peers, func(p peer) bool { return strings.HasPrefix(p.name, prefix) })
	}
	ceil, ours, scs, express := idx("ceiling"), idx("sqlsession"), idx("scs"), idx("express")
	type target struct {
		what       string
		route      string
		than, want float64
	}
	ts := []target{
		{"default-config read ≥ 0.85× ceiling", routeRead, float64(ceil), 0.85},
		{"default-config read ≥ 1.3× scs", routeRead, float64(scs), 1.3},
		{"rolling read, defaults ≥ 0.8× the read ceiling", routeRolling, float64(ceil), 0.8},
		{"write ≥ 0.95× its two-statement ceiling", routeWrite, float64(ceil), 0.95},
		{"new ≥ 0.9× ceiling", routeNewSession, float64(ceil), 0.9},
		{"read ≥ 5× express-session + connect-pg-simple", routeRead, float64(express), 5},
	}
	fmt.Fprintln(w, "\n#### #11 throughput targets (this run)")
	fmt.Fprintln(w, "\n| target | measured | met? |")
	fmt.Fprintln(w, "|---|---:|---|")
	for _, t := range ts {
		if t.than < 0 || len(res[t.route]) == 0 {
			fmt.Fprintf(w, "| %s | not run | — |\n", t.what)
			continue
		}
		got := ratio(res[t.route][ours], res[t.route][int(t.than)])
		verdict := "**yes**"
		if got < t.want {
			verdict = fmt.Sprintf("no: %.0f%% short", (1-got/t.want)*100)
		}
		fmt.Fprintf(w, "| %s | %.2f× | %s |\n", t.what, got, verdict)
	}
}
