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
// #21 targets.
func report(w io.Writer, b *testing.B, cfg config, peers []peer, res map[string][][]sample, allocs map[string][]float64) {
	fmt.Fprintf(w, "\n<!-- BenchmarkPeers output, %s -->\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %s.\n\n", machine(b))
	fmt.Fprintf(w, "All stacks over real HTTP on loopback: Go stacks on a net/http server each, express on node; "+
		"load from a Go client in the benchmark process, %d concurrent keep-alive connections, spread over %d sessions. "+
		"%d interleaved rounds of %v per route and stack (after %v unmeasured warm-up and a VACUUM + CHECKPOINT); "+
		"figures are medians over the rounds, × ceiling the median of the per-round ratios. "+
		"allocs/req: the Go stack's handler in-process (middleware, store, pgx; not net/http), serial, 200 requests. "+
		"CPU per request: PG = the stack's Postgres server processes; app+client = the benchmark process (Go client and, for Go stacks, the server) plus node for express; "+
		"server = a Go stack's own goroutines (net/http, handler, session library, pgx; GC assists included, the runtime's background GC workers not), from a CPU profile of each measurement, by pprof label.\n",
		cfg.workers, cfg.sessions, cfg.rounds, cfg.measure, cfg.warmup)
	for _, route := range routes {
		fmt.Fprintf(w, "\n#### %s\n\n", routeTitles[route])
		fmt.Fprintln(w, "| stack | req/s | × ceiling | p50 µs | p99 µs | allocs/req | SQL/req | PG CPU µs/req | server CPU µs/req | app+client CPU µs/req | req/s per round |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
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
			srv := "n/a"
			if v := median(field(ss, func(s sample) float64 { return s.srvCPU })); v >= 0 {
				srv = fmt.Sprintf("%.0f", v)
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %s | %s | %s | %.2f | %.0f | %s | %.0f | %s |\n", name,
				num(median(field(ss, rps)), 0), ratio(ss, res[route][0]),
				num(median(field(ss, func(s sample) float64 { return s.p50 })), 0),
				num(median(field(ss, func(s sample) float64 { return s.p99 })), 0),
				a, median(field(ss, func(s sample) float64 { return s.sql })),
				median(field(ss, func(s sample) float64 { return s.pgCPU })), srv,
				median(field(ss, func(s sample) float64 { return s.appCPU })), strings.Join(runs, " · "))
		}
	}
	targets(w, peers, res)
	split(w, peers, res)
}

// split divides sqlsession's distance to the ceiling on each route in two,
// with the stack that sends sqlsession's statements from raw pgx
// (ownSQLStack): the statements and the stored document (ceiling → that
// stack), and the library's Go side (that stack → sqlsession); per
// request, the medians of the rounds' Postgres, server and app+client CPU.
func split(w io.Writer, peers []peer, res map[string][][]sample) {
	ceil, own, ours := 0, peerIndex(peers, ownSQLName), peerIndex(peers, "sqlsession")
	if own < 0 || ours < 0 {
		return
	}
	fmt.Fprintln(w, "\n#### sqlsession's distance to the ceiling, in two (this run)")
	fmt.Fprintln(w, "\n| route | × ceiling: sqlsession's statements from raw pgx | × ceiling: sqlsession | PG CPU µs/req | server CPU µs/req | app+client CPU µs/req |")
	fmt.Fprintln(w, "|---|---:|---:|---|---|---|")
	for _, route := range routes {
		ss := res[route]
		cpu := func(f func(sample) float64) string { // ceiling / statements / sqlsession
			return fmt.Sprintf("%.0f / %.0f / %.0f", median(field(ss[ceil], f)), median(field(ss[own], f)), median(field(ss[ours], f)))
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %s | %s | %s |\n", route, ratio(ss[own], ss[ceil]), ratio(ss[ours], ss[ceil]),
			cpu(func(s sample) float64 { return s.pgCPU }), cpu(func(s sample) float64 { return s.srvCPU }),
			cpu(func(s sample) float64 { return s.appCPU }))
	}
	fmt.Fprintln(w, "\nEach CPU cell: ceiling / sqlsession's statements from raw pgx / sqlsession (server CPU: -1 when a -cpuprofile of the whole run replaced the per-measurement profiles).")
}

// peerIndex is the index of the first peer whose name starts with prefix,
// or -1.
func peerIndex(peers []peer, prefix string) int {
	return slices.IndexFunc(peers, func(p peer) bool { return strings.HasPrefix(p.name, prefix) })
}

// targets prints issue #21's targets against this run: throughput
// ratios (medians of per-round ratios) and the server CPU of a read.
func targets(w io.Writer, peers []peer, res map[string][][]sample) {
	idx := func(prefix string) int { return peerIndex(peers, prefix) }
	ceil, ours, scs, gorilla := idx("ceiling"), idx("sqlsession"), idx("scs"), idx("gorilla")
	fmt.Fprintln(w, "\n#### #21 targets (this run)")
	fmt.Fprintln(w, "\n| target | measured | met? |")
	fmt.Fprintln(w, "|---|---:|---|")
	row := func(what string, got, want float64) {
		verdict := "**yes**"
		if got < want {
			verdict = fmt.Sprintf("no: %.1f%% short", (1-got/want)*100)
		}
		fmt.Fprintf(w, "| %s | %.2f× | %s |\n", what, got, verdict)
	}
	than := func(route string, other int) float64 {
		if other < 0 || len(res[route]) == 0 {
			return 0
		}
		return ratio(res[route][ours], res[route][other])
	}
	if len(res[routeRead]) > 0 {
		row("read ≥ 1.2× scs", than(routeRead, scs), 1.2)
		row("read ≥ 0.9× ceiling", than(routeRead, ceil), 0.9)
		cpu := func(i int) float64 {
			return median(field(res[routeRead][i], func(s sample) float64 { return s.srvCPU }))
		}
		if c, o := cpu(ceil), cpu(ours); c > 0 && o > 0 {
			row("read: ceiling's server CPU ÷ sqlsession's ≥ 1/1.2 (sqlsession ≤ 1.2× the ceiling's)", c/o, 1/1.2)
		}
	}
	for _, route := range []string{routeWrite, routeRolling, routeNewSession} {
		if len(res[route]) == 0 {
			continue
		}
		if scs >= 0 && gorilla >= 0 { // ≥ both: the ratio to the faster is the smaller
			row(route+" ≥ the faster of scs and gorilla/sessions", min(than(route, scs), than(route, gorilla)), 1)
		}
		row(route+" ≥ 0.95× ceiling", than(route, ceil), 0.95)
	}
}
