package integration

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/internal/testskip"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/cookiesig"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// The npm package and the express app that uses it (paths from integration/).
var (
	nodePackageDir = filepath.Join("..", "node", "connect-sqlsession")
	nodeAppDir     = filepath.Join("testdata", "nodeapp")
	importSQLPath  = filepath.Join(nodePackageDir, "import-connect-pg-simple.sql")
)

// cookieName is express-session's default, which the Go app adopts (as the
// docs/NODE.md's recipe says) so the cookies browsers hold keep working.
const cookieName = "connect.sid"

// requireNode returns the paths of node and npm, or skips the test with a
// one-line reason (fails it when SQLSESSION_REQUIRE_NODE=1, as in CI).
func requireNode(t *testing.T) (node, npm string) {
	t.Helper()
	for _, name := range []string{"node", "npm"} {
		p, err := exec.LookPath(name)
		if err != nil {
			testskip.Skip(t, testskip.Node, "SQLSESSION_REQUIRE_NODE", name+" is not installed (install Node.js 20+)")
		}
		if name == "node" {
			node = p
		} else {
			npm = p
		}
	}
	return node, npm
}

// npmCI installs dir's locked npm dependencies, unless node_modules is
// newer than package.json and package-lock.json (npm writes
// node_modules/.package-lock.json on every install).
func npmCI(t *testing.T, npm, dir string) {
	t.Helper()
	if installedFresh(dir) {
		return
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		testskip.Skip(t, testskip.Node, "SQLSESSION_REQUIRE_NODE", fmt.Sprintf("npm ci in %s failed (offline?): %v: %s", dir, err, out))
	}
}

func installedFresh(dir string) bool {
	inst, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return false
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.ModTime().After(inst.ModTime()) {
			return false
		}
	}
	return true
}

// startNodeApp installs the npm packages and runs testdata/nodeapp/server.js
// (express + express-session + connect-sqlsession) on schema of the server
// at serverDSN. The process is killed when the test ends.
func startNodeApp(t *testing.T, serverDSN, schema string, extraEnv ...string) string {
	t.Helper()
	node, npm := requireNode(t)
	npmCI(t, npm, nodePackageDir)
	npmCI(t, npm, nodeAppDir)

	cmd := exec.Command(node, "server.js")
	cmd.Dir = nodeAppDir
	cmd.Env = append(os.Environ(), "PG_DSN="+serverDSN, "PG_SCHEMA="+schema, "SESSION_SECRET="+secret)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	type line struct {
		s   string
		err error
	}
	ready := make(chan line, 1)
	go func() {
		s, err := bufio.NewReader(stdout).ReadString('\n')
		ready <- line{s, err}
	}()
	select {
	case l := <-ready:
		if l.err != nil {
			t.Fatalf("node app did not start: %v", l.err)
		}
		return "http://127.0.0.1:" + strings.TrimSpace(l.s)
	case <-time.After(time.Minute):
		t.Fatal("node app printed no port within a minute")
		return ""
	}
}

// goNodeApp is the Go side: the routes of testdata/nodeapp, plus
// Regenerate, ListUserSessions and DestroyUser, on a Manager with opts
// (its Name, Secrets and Logger are the interop tests').
func goNodeApp(t *testing.T, store sessions.Store, opts sessions.Options) http.Handler {
	t.Helper()
	opts.Name, opts.Secrets = cookieName, []string{secret}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m, err := sessions.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /peek", func(w http.ResponseWriter, r *http.Request) {
		var v json.RawMessage
		if _, err := sessions.FromContext(r.Context()).Get(r.FormValue("k"), &v); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_, _ = w.Write(v)
	})
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Set(r.FormValue("k"), r.FormValue("v")); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("POST /regenerate", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Regenerate(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /list-user", func(w http.ResponseWriter, r *http.Request) {
		list, err := m.ListUserSessions(r.Context(), r.FormValue("user"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, len(list))
	})
	mux.HandleFunc("POST /destroy-user", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.DestroyUser(r.Context(), r.FormValue("user"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, n)
	})
	return m.Handler(mux)
}

// interop is one test's pair of servers on one schema.
type interop struct {
	t      *testing.T
	env    *pgtest.Env
	node   string // base URL of the express app
	goURL  string // base URL of the Go app
	origin *url.URL
}

// newInterop starts both apps; absolute, when set, is the AbsoluteTimeout
// of both.
func newInterop(t *testing.T, absolute ...time.Duration) *interop {
	t.Helper()
	var abs time.Duration
	var nodeEnv []string
	if len(absolute) > 0 {
		abs = absolute[0]
		nodeEnv = append(nodeEnv, fmt.Sprintf("ABSOLUTE_TIMEOUT=%d", int(abs.Seconds())))
	}
	return newInteropEnv(t, abs, nodeEnv...)
}

// newInteropEnv starts both apps, Go's with AbsoluteTimeout abs, Node's
// with nodeEnv added to its environment (see testdata/nodeapp/server.js).
func newInteropEnv(t *testing.T, abs time.Duration, nodeEnv ...string) *interop {
	t.Helper()
	requireNode(t) // skip before touching the database
	env := testpg.Migrated(t)
	nodeURL := startNodeApp(t, testpg.ServerDSN(t), env.Schema, nodeEnv...)
	srv := httptest.NewServer(goNodeApp(t, pgstore.New(env.Pool), sessions.Options{AbsoluteTimeout: abs}))
	t.Cleanup(srv.Close)
	origin, _ := url.Parse(srv.URL)
	return &interop{t: t, env: env, node: nodeURL, goURL: srv.URL, origin: origin}
}

// browser is one cookie jar used against both servers: cookies ignore
// ports, so both apps on 127.0.0.1 see the same session cookie.
type browser struct {
	*interop
	http *http.Client
}

func (in *interop) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{interop: in, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// do sends a request to base+path (form-encoded when form is not nil) and
// returns the status and body.
func (b *browser) do(method, base, path string, form url.Values) (int, string) {
	b.t.Helper()
	code, body, err := b.try(method, base, path, form)
	if err != nil {
		b.t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	return code, body
}

func (b *browser) try(method, base, path string, form url.Values) (int, string, error) {
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, string(body), err
}

// postJSON sends a POST with a JSON body (raw text, so it can hold escapes
// Go's encoder never writes, such as an unpaired surrogate) and returns
// the status and response body.
func (b *browser) postJSON(base, path, body string) (int, string) {
	b.t.Helper()
	res, err := b.http.Post(base+path, "application/json", strings.NewReader(body))
	if err != nil {
		b.t.Fatalf("POST %s%s: %v", base, path, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatalf("POST %s%s: %v", base, path, err)
	}
	return res.StatusCode, string(got)
}

// want fails the test unless a request answers 200 with body.
func (b *browser) want(method, base, path string, form url.Values, body string) {
	b.t.Helper()
	if code, got := b.do(method, base, path, form); code != 200 || got != body {
		b.t.Fatalf("%s %s: %d %q, want 200 %q", method, path, code, got, body)
	}
}

// cookie returns the raw sid cookie value in the jar.
func (b *browser) cookie() string {
	for _, c := range b.http.Jar.Cookies(b.origin) {
		if c.Name == cookieName {
			return c.Value
		}
	}
	return ""
}

// sessionID returns the unsigned id of the jar's cookie, or "".
func (b *browser) sessionID() string {
	v, err := url.QueryUnescape(b.cookie())
	if err != nil || v == "" {
		return ""
	}
	id, ok := cookiesig.Unsign(strings.TrimPrefix(v, "s:"), secret)
	if !ok {
		b.t.Fatalf("session cookie %q does not verify", v)
	}
	return id
}

// withCookie is a browser without a jar that always sends one session cookie.
func (in *interop) withCookie(value string) *browser {
	return &browser{interop: in, http: &http.Client{Timeout: 30 * time.Second, Transport: cookieTransport(cookieName + "=" + value)}}
}

type cookieTransport string

func (c cookieTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Cookie", string(c))
	return http.DefaultTransport.RoundTrip(r)
}

// rowOf reads the row of a session id.
func (in *interop) rowOf(id string) (row, bool) {
	in.t.Helper()
	var r row
	h := hashOf(id)
	err := in.env.DB.QueryRow(`SELECT id_hash, data::text, expires_at, created_at, user_id FROM http_sessions WHERE id_hash = $1`, h[:]).
		Scan(&r.idHash, &r.rawData, &r.expiresAt, &r.createdAt, &r.userID)
	return finishRow(in.t, r, err)
}

// An express app on connect-sqlsession and a Go app on pgstore share one
// table and one secret; one browser moves between them.
func TestNodeGoSharedSessions(t *testing.T) {
	in := newInterop(t)
	alice := in.browser()

	// Log in on Node: the row holds sha256(id), the cookie JSON, user_id.
	alice.want("POST", in.node, "/login", url.Values{"user": {"alice"}}, "hello alice")
	id1 := alice.sessionID()
	r, ok := in.rowOf(id1)
	if !ok {
		t.Fatal("Node's login stored no row under sha256(id)")
	}
	if r.userID.String != "alice" || r.data["user"] != "alice" || r.data["cookie"] == nil || strings.Contains(r.rawData, id1) {
		t.Fatalf("Node's row: user_id %v, data %s", r.userID, r.rawData)
	}
	if d := time.Until(r.expiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("browser-session cookie: expires_at in %v, want the 24h ttl", d)
	}

	// Read on Go, write on Go, read it on Node.
	alice.want("GET", in.goURL, "/peek?k=user", nil, `"alice"`)
	alice.want("POST", in.goURL, "/set", url.Values{"k": {"color"}, "v": {"blue"}}, "ok")
	alice.want("GET", in.node, "/peek?k=color", nil, `"blue"`)

	// Regenerate on Go: the new id works on Node, the old one is dead there.
	oldCookie := alice.cookie()
	alice.want("POST", in.goURL, "/regenerate", nil, "ok")
	id2 := alice.sessionID()
	if id2 == "" || id2 == id1 {
		t.Fatalf("Go's Regenerate: id %q -> %q", id1, id2)
	}
	in.withCookie(oldCookie).want("GET", in.node, "/peek?k=user", nil, "")
	if _, ok := in.rowOf(id1); ok {
		t.Error("old row still stored after Regenerate")
	}
	alice.want("GET", in.node, "/peek?k=user", nil, `"alice"`)
	alice.want("GET", in.node, "/peek?k=color", nil, `"blue"`)

	// A second login of alice on Node, and bob's: DestroyUser from Go ends
	// both of alice's sessions (one written by Go, one by Node), not bob's.
	alice2, bob := in.browser(), in.browser()
	alice2.want("POST", in.node, "/login", url.Values{"user": {"alice"}}, "hello alice")
	bob.want("POST", in.node, "/login", url.Values{"user": {"bob"}}, "hello bob")
	alice.want("GET", in.goURL, "/list-user?user=alice", nil, "2")
	alice.want("POST", in.goURL, "/destroy-user", url.Values{"user": {"alice"}}, "2")
	alice.want("GET", in.node, "/peek?k=user", nil, "")
	alice2.want("GET", in.node, "/peek?k=user", nil, "")
	bob.want("GET", in.node, "/peek?k=user", nil, `"bob"`)
	bob.want("GET", in.goURL, "/peek?k=user", nil, `"bob"`)

	// Logout on Node deletes the row Go would read.
	bob.want("POST", in.node, "/logout", nil, "bye")
	bob.want("GET", in.goURL, "/peek?k=user", nil, "")
	var n int
	if err := in.env.DB.QueryRow(`SELECT count(*) FROM http_sessions`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows left (%v), want 0", n, err)
	}
}

// Concurrent requests to both apps, each setting its own key on one
// session: every key is stored (both sides merge; neither writes the whole
// session back over the other's keys).
func TestNodeGoConcurrentDisjointWrites(t *testing.T) {
	in := newInterop(t)
	b := in.browser()
	b.want("POST", in.node, "/login", url.Values{"user": {"carol"}}, "hello carol")
	const perSide = 25
	var wg sync.WaitGroup
	errs := make(chan string, 2*perSide)
	for i := 0; i < perSide; i++ {
		for _, side := range []struct{ base, prefix string }{{in.node, "node"}, {in.goURL, "go"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := fmt.Sprintf("%s%d", side.prefix, i)
				code, body, err := b.try("POST", side.base, "/set", url.Values{"k": {k}, "v": {k}})
				if err != nil || code != 200 || body != "ok" {
					errs <- fmt.Sprintf("set %s: %d %q %v", k, code, body, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	r, ok := in.rowOf(b.sessionID())
	if !ok {
		t.Fatal("session row gone")
	}
	var missing []string
	for i := 0; i < perSide; i++ {
		for _, p := range []string{"node", "go"} {
			if k := fmt.Sprintf("%s%d", p, i); r.data[k] != k {
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 || r.data["user"] != "carol" {
		t.Errorf("lost writes: missing %v (of %d), user %v", missing, 2*perSide, r.data["user"])
	}
	b.want("GET", in.node, "/peek?k=go7", nil, `"go7"`)
	b.want("GET", in.goURL, "/peek?k=node7", nil, `"node7"`)
}

// docs/NODE.md's recipe: import-connect-pg-simple.sql copies the live rows of
// connect-pg-simple's "session" table; the old cookies keep working in Go
// (and in Node on connect-sqlsession).
func TestNodeImportConnectPgSimple(t *testing.T) {
	in := newInterop(t)
	ctx := context.Background()
	if _, err := in.env.DB.ExecContext(ctx, `CREATE TABLE "session" (
		"sid" varchar NOT NULL COLLATE "default" PRIMARY KEY,
		"sess" json NOT NULL,
		"expire" timestamp(6) NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	cookieJSON := `{"originalMaxAge":3600000,"expires":"` + exp + `","httpOnly":true,"path":"/"}`
	rows := []struct{ sid, sess, expire string }{
		{"live-dave-0123456789abcdefghij", `{"cookie":` + cookieJSON + `,"user":"dave","n":7}`, "now() + interval '1 hour'"},
		{"live-anon-0123456789abcdefghij", `{"cookie":` + cookieJSON + `,"n":1}`, "now() + interval '1 hour'"},
		{"dead-erin-0123456789abcdefghij", `{"cookie":` + cookieJSON + `,"user":"erin"}`, "now() - interval '1 minute'"},
		// Text jsonb refuses, which connect-pg-simple's json column keeps:
		// skipped and listed; the rest are copied.
		{"live-nul0-0123456789abcdefghij", `{"cookie":` + cookieJSON + `,"user":"mallory\u0000"}`, "now() + interval '1 hour'"},
		{"live-lone-0123456789abcdefghij", `{"cookie":` + cookieJSON + `,"x\ud800":1}`, "now() + interval '1 hour'"},
		{"dead-nul0-0123456789abcdefghij", `{"cookie":` + cookieJSON + `,"n":"\u0000"}`, "now() - interval '1 minute'"},
		// Escapes jsonb takes: a surrogate pair, a control character, and an
		// escaped backslash before the text u0000.
		{"live-pair-0123456789abcdefghij", `{"cookie":` + cookieJSON + `,"e":"\ud83d\ude00","c":"\u001b","b":"\\u0000"}`, "now() + interval '1 hour'"},
	}
	for _, r := range rows {
		// connect-pg-simple writes expire as to_timestamp(...) into a timestamp column.
		if _, err := in.env.DB.ExecContext(ctx, `INSERT INTO "session" (sid, sess, expire) VALUES ($1, $2, (`+r.expire+`)::timestamp)`, r.sid, r.sess); err != nil {
			t.Fatal(err)
		}
	}
	script, err := os.ReadFile(importSQLPath)
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ { // a second run changes nothing
		if _, err := in.env.DB.ExecContext(ctx, string(script)); err != nil {
			t.Fatalf("import (run %d): %v", run, err)
		}
	}
	var n int
	if err := in.env.DB.QueryRow(`SELECT count(*) FROM http_sessions`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("imported %d rows (%v), want the 3 live ones jsonb can hold", n, err)
	}
	if pair, ok := in.rowOf(rows[6].sid); !ok || pair.data["e"] != "\U0001F600" || pair.data["c"] != "\x1b" || pair.data["b"] != `\u0000` {
		t.Errorf("row with valid escapes: found %v, data %s", ok, pair.rawData)
	}
	wantRejects := []string{hashHex(rows[3].sid), hashHex(rows[4].sid)}
	sort.Strings(wantRejects)
	if got := importRejects(t, in); !slices.Equal(got, wantRejects) {
		t.Errorf("http_sessions_import_rejects = %v, want the id_hash of the NUL and lone-surrogate rows %v", got, wantRejects)
	}
	dave, ok := in.rowOf(rows[0].sid)
	if !ok || dave.userID.String != "dave" || dave.data["n"] != float64(7) {
		t.Fatalf("imported row: found %v, user_id %v, data %s", ok, dave.userID, dave.rawData)
	}
	if d := time.Until(dave.expiresAt); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("imported expires_at in %v, want the old expire (1h)", d)
	}
	if anon, _ := in.rowOf(rows[1].sid); anon.userID.Valid {
		t.Errorf("anonymous session imported with user_id %v", anon.userID)
	}

	// The cookie express signed for connect-pg-simple's session, unchanged.
	old := url.QueryEscape("s:" + cookiesig.Sign(rows[0].sid, secret))
	in.withCookie(old).want("GET", in.goURL, "/peek?k=user", nil, `"dave"`)
	in.withCookie(old).want("GET", in.node, "/peek?k=n", nil, "7")
	in.withCookie(url.QueryEscape("s:"+cookiesig.Sign(rows[2].sid, secret))).want("GET", in.goURL, "/peek?k=user", nil, "")

	// With the bad rows gone, a run skips nothing and drops the rejects table.
	if _, err := in.env.DB.ExecContext(ctx, `DELETE FROM "session" WHERE sid = ANY($1)`, []string{rows[3].sid, rows[4].sid}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.env.DB.ExecContext(ctx, string(script)); err != nil {
		t.Fatalf("import (run 3): %v", err)
	}
	var table *string
	if err := in.env.DB.QueryRow(`SELECT to_regclass('http_sessions_import_rejects')::text`).Scan(&table); err != nil || table != nil {
		t.Errorf("rejects table after a run that skipped nothing: %v (%v), want none", table, err)
	}
}

// importRejects returns the hex id_hash values import-connect-pg-simple.sql
// listed in http_sessions_import_rejects, sorted.
func importRejects(t *testing.T, in *interop) []string {
	t.Helper()
	rs, err := in.env.DB.Query(`SELECT encode(id_hash, 'hex') FROM http_sessions_import_rejects ORDER BY 1`)
	if err != nil {
		t.Fatalf("read http_sessions_import_rejects: %v", err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var h string
		if err := rs.Scan(&h); err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// hashHex is the id_hash of a session id in hex.
func hashHex(id string) string {
	h := hashOf(id)
	return hex.EncodeToString(h[:])
}

// A Node request that loaded the session before Go's DestroyUser and saves
// after it does not bring the session back: logout everywhere holds.
func TestNodeSaveAfterGoDestroyUser(t *testing.T) {
	in := newInterop(t)
	dave, other := in.browser(), in.browser()
	dave.want("POST", in.node, "/login", url.Values{"user": {"dave"}}, "hello dave")
	id := dave.sessionID()

	done := make(chan string, 1)
	go func() {
		code, body, err := dave.try("POST", in.node, "/set-gated", url.Values{"k": {"late"}, "v": {"write"}})
		done <- fmt.Sprintf("%d %s %v", code, body, err)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, body := other.do("GET", in.node, "/gate", nil); body == "waiting" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the gated request never reached its handler")
		}
	}
	other.want("POST", in.goURL, "/destroy-user", url.Values{"user": {"dave"}}, "1")
	other.want("POST", in.node, "/release", nil, "released")
	if got := <-done; got != "200 ok <nil>" {
		t.Fatalf("gated request: %s", got)
	}
	if r, ok := in.rowOf(id); ok {
		t.Fatalf("Node's save re-created the destroyed session: %s", r.rawData)
	}
	dave.want("GET", in.node, "/peek?k=user", nil, "")
	dave.want("GET", in.goURL, "/peek?k=user", nil, "")
}

// With absoluteTimeout (Node) and AbsoluteTimeout (Go) alike, Node's
// writes never move expires_at past created_at + the timeout, and a
// session older than it is gone on both sides.
func TestNodeAbsoluteTimeout(t *testing.T) {
	in := newInterop(t, time.Hour)
	b := in.browser()
	b.want("POST", in.node, "/login", url.Values{"user": {"erin"}}, "hello erin")
	id := b.sessionID()
	r, ok := in.rowOf(id)
	if !ok {
		t.Fatal("no row after login on Node")
	}
	if limit := r.createdAt.Add(time.Hour); r.expiresAt.After(limit) {
		t.Errorf("expires_at %v is after created_at + 1h (%v): the 24h ttl was not capped", r.expiresAt, limit)
	}
	b.want("GET", in.goURL, "/peek?k=user", nil, `"erin"`)

	// Created two hours ago, still unexpired by expires_at: dead for both.
	h := hashOf(id)
	if _, err := in.env.DB.Exec(`UPDATE http_sessions SET created_at = now() - interval '2 hours', expires_at = now() + interval '1 hour' WHERE id_hash = $1`, h[:]); err != nil {
		t.Fatal(err)
	}
	b.want("GET", in.node, "/peek?k=user", nil, "")
	b.want("GET", in.goURL, "/peek?k=user", nil, "")
}

// A value or key holding U+0000 or an unpaired surrogate, which jsonb
// refuses, is saved by Node as U+FFFD (it used to answer 200 and drop the
// whole save): Go and Node read the cleaned text, and a cleaned userKey
// value is the user_id Go's ListUserSessions finds.
func TestNodeUnstorableTextCleaned(t *testing.T) {
	in := newInterop(t)
	b := in.browser()
	if code, body := b.postJSON(in.node, "/login", `{"user":"eve\u0000"}`); code != 200 || body != "hello eve\x00" {
		t.Fatalf("login on Node: %d %q", code, body)
	}
	if code, body := b.postJSON(in.node, "/set", `{"k":"note\u0000","v":"a\u0000b\ud800c\ud83d\ude00"}`); code != 200 || body != "ok" {
		t.Fatalf("set on Node: %d %q", code, body)
	}
	r, ok := in.rowOf(b.sessionID())
	if !ok {
		t.Fatal("no row: Node's save was dropped")
	}
	const want = "a\uFFFDb\uFFFDc\U0001F600"
	if r.userID.String != "eve\uFFFD" || r.data["user"] != "eve\uFFFD" || r.data["note\uFFFD"] != want {
		t.Fatalf("row: user_id %q, data %s", r.userID.String, r.rawData)
	}
	wantJSON, _ := json.Marshal(want)
	b.want("GET", in.goURL, "/peek?k="+url.QueryEscape("note\uFFFD"), nil, string(wantJSON))
	b.want("GET", in.node, "/peek?k="+url.QueryEscape("note\uFFFD"), nil, string(wantJSON))
	b.want("GET", in.goURL, "/list-user?user="+url.QueryEscape("eve\uFFFD"), nil, "1")
}

// Node's maxDataBytes is the Go side's measure, checked in the write: a
// save over it changes nothing Go can see, and the session stays usable.
// An explicit save gets the error before the response (500 here); the
// save express-session makes as the response ends answers 200, as
// express-session does for any store error, and is dropped whole.
func TestNodeSizeLimit(t *testing.T) {
	in := newInteropEnv(t, 0, "MAX_DATA_BYTES=2048")
	b := in.browser()
	b.want("POST", in.node, "/login", url.Values{"user": {"fay"}}, "hello fay")
	b.want("POST", in.goURL, "/set", url.Values{"k": {"color"}, "v": {"blue"}}, "ok")
	id := b.sessionID()
	before, _ := in.rowOf(id)

	big := strings.Repeat("x", 2048)
	code, body := b.do("POST", in.node, "/set-saved", url.Values{"k": {"big"}, "v": {big}})
	if code != 500 || !strings.Contains(body, "session data too large") || !strings.Contains(body, "limit 2048") {
		t.Fatalf("explicit save over the limit: %d %q, want 500 naming the size and limit", code, body)
	}
	// express-session then touches the session (its failed save counted as
	// saved), which moves only expires_at.
	after, ok := in.rowOf(id)
	if !ok || after.rawData != before.rawData {
		t.Fatalf("row changed by a refused save: %s, was %s", after.rawData, before.rawData)
	}
	before = after
	b.want("POST", in.node, "/set", url.Values{"k": {"big"}, "v": {big}}, "ok")
	after, ok = in.rowOf(id)
	if !ok || after.rawData != before.rawData || !after.expiresAt.Equal(before.expiresAt) {
		t.Fatalf("row changed by a refused save: %s (expires %v), was %s (expires %v)", after.rawData, after.expiresAt, before.rawData, before.expiresAt)
	}
	b.want("GET", in.goURL, "/peek?k=big", nil, "")
	b.want("GET", in.goURL, "/peek?k=color", nil, `"blue"`)

	// Still usable: a save that fits lands, and Go sees it.
	b.want("POST", in.node, "/set-saved", url.Values{"k": {"small"}, "v": {"ok"}}, "ok")
	b.want("GET", in.goURL, "/peek?k=small", nil, `"ok"`)
	var size int
	h := hashOf(id)
	if err := in.env.DB.QueryRow(`SELECT octet_length(data::text) FROM http_sessions WHERE id_hash = $1`, h[:]).Scan(&size); err != nil || size > 2048 {
		t.Errorf("stored session is %d bytes (%v), over the 2048 limit", size, err)
	}
}
