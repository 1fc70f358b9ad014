package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/cookiesig"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// A primary failover loses no acknowledged session write (issue #20).
// Logins, writes, logouts and revocations (Manager.DestroyUser) run over
// HTTP through one pgx pool whose DSN names the primary and its
// synchronous standby (target_session_attrs=read-write). Mid-load the
// primary is killed (pg_ctl stop -m immediate) and the standby promoted.
// Afterwards every write a client saw acknowledged is there, through the
// app and in SQL; no logged-out or revoked session is back; nothing
// panicked; requests failed only between the kill and the first success
// on the new primary; the same app and pool serve on. sess-gc -every,
// started on the same DSN, logs failed runs during the switch, then reaps
// on the new primary, and exits 0 on SIGTERM.
func TestFailoverLosesNoAcknowledgedWrite(t *testing.T) {
	began := time.Now()
	primary, standby := startPrimaryStandby(t)
	t.Logf("primary and synchronous standby up in %v", time.Since(began).Round(time.Millisecond))
	dsn := multiHostDSN(primary, standby)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	cfg.HealthCheckPeriod = time.Second // as docs/FAILOVER.md recommends
	cfg.MaxConnLifetime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	migrate(t, pool)

	var panics atomic.Int64
	srv := httptest.NewUnstartedServer(failoverApp(t, pgstore.New(pool)))
	srv.Config.ErrorLog = log.New(panicCounter{&panics}, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	gc := startGC(t, dsn)

	l := &ledger{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() { l.work(srv.URL, w, stop) })
	}
	waitFor(t, "traffic before the failover", func() bool { return l.acked.Load() >= 400 })
	waitFor(t, "a sess-gc run before the failover", func() bool { return gc.count(&gc.summaries) > 0 })

	killAt := time.Now()
	t.Logf("load: %d requests acknowledged before the kill, %v after the start", l.acked.Load(), killAt.Sub(began).Round(time.Millisecond))
	primary.stop()
	time.Sleep(500 * time.Millisecond) // a failover manager notices, then promotes
	if out, err := standby.run("pg_ctl", "-D", standby.data, "-w", "-t", "60", "promote"); err != nil {
		t.Fatalf("pg_ctl promote: %v\n%s", err, out)
	}
	promotedAt := time.Now()
	recoveredAt := waitFor(t, "a request served by the new primary", func() bool { return l.firstOKAfter(promotedAt) })
	before := l.acked.Load()
	waitFor(t, "traffic after the failover", func() bool { return l.acked.Load() >= before+400 })
	close(stop)
	wg.Wait()

	l.checkErrors(t, killAt, recoveredAt)
	t.Logf("switch: primary killed, standby promoted after %v, first success %v after the kill",
		promotedAt.Sub(killAt).Round(time.Millisecond), recoveredAt.Sub(killAt).Round(time.Millisecond))
	l.checkStored(t, srv.URL, pool)
	if panics.Load() != 0 {
		t.Errorf("%d handler panics", panics.Load())
	}
	gc.checkRidesThrough(t, pool, killAt)
}

// failoverApp: login (a new id, the user and a "user" value), set, get,
// logout (Destroy) and revoke (DestroyUser of the session's user).
func failoverApp(t *testing.T, store sessions.Store) http.Handler {
	t.Helper()
	m, err := sessions.New(store, sessions.Options{Secrets: []string{secret}, StoreTimeout: 3 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if err := s.Regenerate(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_ = s.SetUser(r.FormValue("user"))
		_ = s.Set("user", r.FormValue("user"))
	})
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Set(r.FormValue("k"), r.FormValue("v"))
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		var v string
		_, _ = sessions.FromContext(r.Context()).Get(r.FormValue("k"), &v)
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		var u string
		_, _ = sessions.FromContext(r.Context()).Get("user", &u)
		if _, err := m.DestroyUser(r.Context(), u); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	return m.Handler(mux)
}

// waitFor polls cond every 20 ms for at most 30 s and returns when it
// became true.
func waitFor(t *testing.T, what string, cond func() bool) time.Time {
	t.Helper()
	for range 1500 {
		if cond() {
			return time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
	return time.Time{}
}

// op is one request of the load.
type op struct {
	start, end time.Time
	what       string
	status     int   // 0: no response
	err        error // nil: acknowledged (2xx)
}

// visit is one iteration of a worker: two browsers log in as one user,
// write, and then one of them logs out, revokes the user, or does neither.
type visit struct {
	user           string
	a, b           *http.Client
	idA, idB       string            // set once the login was acknowledged
	keysA, keysB   map[string]string // acknowledged writes
	end            string            // "logout", "revoke" or "" (kept)
	endAcked       bool
	aborted        bool // a request failed: later steps were not tried
	abortedAtLogin bool
}

// ledger records what the load did and what the clients saw acknowledged.
type ledger struct {
	mu     sync.Mutex
	ops    []op
	visits []*visit
	acked  atomic.Int64
}

// work runs visits until stop is closed, at most 300.
func (l *ledger) work(base string, w int, stop <-chan struct{}) {
	for n := range 300 {
		select {
		case <-stop:
			return
		default:
		}
		v := &visit{user: fmt.Sprintf("w%d-n%d", w, n), a: newBrowser(), b: newBrowser(),
			keysA: map[string]string{}, keysB: map[string]string{}, end: []string{"logout", "revoke", ""}[n%3]}
		l.mu.Lock()
		l.visits = append(l.visits, v)
		l.mu.Unlock()
		if !l.visit(base, v) {
			time.Sleep(50 * time.Millisecond) // a failing client backs off a little
		}
	}
}

// visit runs v's steps in order, stopping at the first failure.
func (l *ledger) visit(base string, v *visit) bool {
	if !l.do(v.a, base, "POST", "/login", url.Values{"user": {v.user}}) || !l.do(v.b, base, "POST", "/login", url.Values{"user": {v.user}}) {
		v.aborted, v.abortedAtLogin = true, true
		return false
	}
	v.idA, v.idB = sessionIDOf(v.a, base), sessionIDOf(v.b, base)
	for i := range 3 {
		k, val := fmt.Sprint("k", i), fmt.Sprint(v.user, "-", i)
		if !l.do(v.a, base, "POST", "/set", url.Values{"k": {k}, "v": {val}}) {
			v.aborted = true
			return false
		}
		v.keysA[k] = val
	}
	if !l.do(v.b, base, "POST", "/set", url.Values{"k": {"b"}, "v": {v.user}}) {
		v.aborted = true
		return false
	}
	v.keysB["b"] = v.user
	if v.end != "" {
		if !l.do(v.a, base, "POST", "/"+v.end, url.Values{}) {
			v.aborted = true
			return false
		}
		v.endAcked = true
	}
	return true
}

// do sends one request and records it; it reports a 2xx.
func (l *ledger) do(c *http.Client, base, method, path string, form url.Values) bool {
	o := op{start: time.Now(), what: method + " " + path}
	req, _ := http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	if err == nil {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		o.status = res.StatusCode
		if res.StatusCode/100 != 2 {
			err = fmt.Errorf("status %d: %s", res.StatusCode, strings.TrimSpace(string(body)))
		}
	}
	o.end, o.err = time.Now(), err
	l.mu.Lock()
	l.ops = append(l.ops, o)
	l.mu.Unlock()
	if err == nil {
		l.acked.Add(1)
	}
	return err == nil
}

// firstOKAfter reports whether a request that started after t succeeded.
func (l *ledger) firstOKAfter(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.ops {
		if o.err == nil && o.start.After(t) {
			return true
		}
	}
	return false
}

// checkErrors: requests failed only during the switch, from the kill until
// the first success on the new primary (a request in flight then may fail
// too); their count and spread are logged.
func (l *ledger) checkErrors(t *testing.T, killAt, recoveredAt time.Time) {
	t.Helper()
	var failed int
	var first, last time.Time
	for _, o := range l.ops {
		if o.err == nil {
			continue
		}
		failed++
		if first.IsZero() || o.end.Before(first) {
			first = o.end
		}
		if o.end.After(last) {
			last = o.end
		}
		if o.status != 500 {
			t.Errorf("%s failed with status %d (want 500 from the ErrorHandler): %v", o.what, o.status, o.err)
		}
		if o.end.Before(killAt) || o.start.After(recoveredAt) {
			t.Errorf("%s failed outside the switch (started %v after the kill): %v", o.what, o.start.Sub(killAt), o.err)
		}
	}
	t.Logf("%d requests, %d failed, all between %v and %v after the kill; %d visits",
		len(l.ops), failed, first.Sub(killAt).Round(time.Millisecond), last.Sub(killAt).Round(time.Millisecond), len(l.visits))
	if failed == 0 {
		t.Error("no request failed: the kill did not happen under load")
	}
}

// checkStored: every acknowledged write is on the new primary, read
// through the app and in SQL; every acknowledged logout or revocation
// holds.
func (l *ledger) checkStored(t *testing.T, base string, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	var kept, gone int
	for _, v := range l.visits {
		if v.abortedAtLogin {
			continue
		}
		if v.endAcked {
			gone++
			l.checkGone(t, ctx, base, pool, v)
			continue
		}
		if v.aborted && v.end != "" && len(v.keysB) == 1 {
			continue // the logout or revocation failed: either outcome is right
		}
		kept++
		for id, keys := range map[string]map[string]string{v.idA: v.keysA, v.idB: v.keysB} {
			for k, want := range keys {
				h := hashOf(id)
				var got string
				if err := pool.QueryRow(ctx, `SELECT data->>$2 FROM http_sessions WHERE id_hash = $1`, h[:], k).Scan(&got); err != nil || got != want {
					t.Errorf("%s: acknowledged %s=%q: in SQL %q, %v", v.user, k, want, got, err)
				}
			}
		}
		for k, want := range v.keysA {
			if got := get(t, v.a, base, k); got != want {
				t.Errorf("%s: acknowledged %s=%q, the app reads %q", v.user, k, want, got)
			}
		}
	}
	t.Logf("checked %d sessions kept and %d ended (logout or revocation)", kept, gone)
}

// checkGone: an acknowledged logout deleted A's row, an acknowledged
// revocation every row of the user; neither browser's session loads.
func (l *ledger) checkGone(t *testing.T, ctx context.Context, base string, pool *pgxpool.Pool, v *visit) {
	t.Helper()
	hA := hashOf(v.idA)
	var n int
	q, arg := `SELECT count(*) FROM http_sessions WHERE id_hash = $1`, any(hA[:])
	if v.end == "revoke" {
		q, arg = `SELECT count(*) FROM http_sessions WHERE user_id = $1`, v.user
	}
	if err := pool.QueryRow(ctx, q, arg).Scan(&n); err != nil || n != 0 {
		t.Errorf("%s: acknowledged %s, yet %d rows are back (%v)", v.user, v.end, n, err)
	}
	browsers := []*http.Client{v.a}
	if v.end == "revoke" {
		browsers = append(browsers, v.b)
	} else if got := get(t, v.b, base, "b"); got != v.keysB["b"] {
		t.Errorf("%s: A logged out; B's acknowledged b=%q reads %q", v.user, v.keysB["b"], got)
	}
	for _, c := range browsers {
		if got := get(t, c, base, "user"); got != "" {
			t.Errorf("%s: acknowledged %s, yet a browser's session loads as %q", v.user, v.end, got)
		}
	}
}

func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// get reads key k of c's session through the app.
func get(t *testing.T, c *http.Client, base, k string) string {
	t.Helper()
	res, err := c.Get(base + "/get?k=" + url.QueryEscape(k))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET /get: %d %s", res.StatusCode, b)
	}
	return string(b)
}

// sessionIDOf is the id in c's sid cookie, or "" (then no row matches
// its hash, and the checks report it).
func sessionIDOf(c *http.Client, base string) string {
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if v, err := url.PathUnescape(ck.Value); err == nil && ck.Name == "sid" {
			id, _ := cookiesig.Unsign(strings.TrimPrefix(v, "s:"), secret)
			return id
		}
	}
	return ""
}

// gcRun is sess-gc -every running on the failover DSN, its output lines
// timestamped on arrival.
type gcRun struct {
	cmd                 *exec.Cmd
	mu                  sync.Mutex
	summaries, failures []time.Time
	stderr              strings.Builder
	done                sync.WaitGroup
}

// startGC builds sess-gc and starts it with -every 200ms -max-failures 0
// (a failover longer than -every × -max-failures would end it).
func startGC(t *testing.T, dsn string) *gcRun {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sess-gc")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "../cmd/sess-gc"
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build sess-gc: %v\n%s", err, out)
	}
	g := &gcRun{cmd: exec.Command(bin, "-driver", "postgres", "-dsn", dsn, "-every", "200ms", "-max-failures", "0")}
	stdout, _ := g.cmd.StdoutPipe()
	stderr, _ := g.cmd.StderrPipe()
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if g.cmd.ProcessState == nil {
			_ = g.cmd.Process.Kill()
			_ = g.cmd.Wait()
		}
	})
	g.done.Add(2)
	go g.read(stdout, &g.summaries, "deleted=", nil)
	go g.read(stderr, &g.failures, "sess-gc: run failed", &g.stderr)
	return g
}

func (g *gcRun) read(r io.Reader, into *[]time.Time, prefix string, keep *strings.Builder) {
	defer g.done.Done()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		g.mu.Lock()
		if _, rest, ok := strings.Cut(line, " "); ok && strings.HasPrefix(rest, prefix) {
			*into = append(*into, time.Now())
		}
		if keep != nil {
			keep.WriteString(line + "\n")
		}
		g.mu.Unlock()
	}
}

func (g *gcRun) count(of *[]time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(*of)
}

// checkRidesThrough: sess-gc logged failed runs after the kill, then
// reaped rows expired on the new primary, and exits 0 on SIGTERM.
func (g *gcRun) checkRidesThrough(t *testing.T, pool *pgxpool.Pool, killAt time.Time) {
	t.Helper()
	ctx := context.Background()
	for range 50 {
		h := make([]byte, 32)
		_, _ = rand.Read(h)
		if _, err := pool.Exec(ctx, `INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
			VALUES ($1, '{}', now() - interval '1 hour', now() - interval '2 hours')`, h); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "sess-gc to reap on the new primary", func() bool {
		var n int
		return pool.QueryRow(ctx, `SELECT count(*) FROM http_sessions WHERE expires_at < now()`).Scan(&n) == nil && n == 0
	})
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	g.done.Wait()
	err := g.cmd.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	var exit *exec.ExitError
	if errors.As(err, &exit) || err != nil {
		t.Errorf("sess-gc after SIGTERM: %v, want exit 0; stderr:\n%s", err, g.stderr.String())
	}
	if len(g.failures) == 0 || g.failures[0].Before(killAt) {
		t.Errorf("sess-gc failed runs: %d, first at %v (kill at %v); want failures after the kill only\n%s", len(g.failures), g.failures, killAt, g.stderr.String())
		return
	}
	last := g.failures[len(g.failures)-1]
	after := 0
	for _, s := range g.summaries {
		if s.After(last) {
			after++
		}
	}
	t.Logf("sess-gc: %d runs, %d failed during the switch (%v after the kill to %v), %d succeeded after", len(g.summaries)+len(g.failures),
		len(g.failures), g.failures[0].Sub(killAt).Round(time.Millisecond), last.Sub(killAt).Round(time.Millisecond), after)
	if after == 0 {
		t.Error("sess-gc never succeeded after its failures")
	}
}
