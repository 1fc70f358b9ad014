package sessions_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/internal/testskip"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/cookiesig"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// startExpress runs testdata/express/server.js (real express +
// express-session + cookie-signature from npm; `make node-deps` installs
// them) and returns its base URL. Without node or the packages the test
// skips, or fails when SQLSESSION_REQUIRE_NODE=1 (CI).
func startExpress(t *testing.T, secrets ...string) string {
	t.Helper()
	unavailable := func(why string) {
		t.Helper()
		testskip.Skip(t, testskip.Node, "SQLSESSION_REQUIRE_NODE", "express compatibility: "+why+" (run `make node-deps`)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not installed")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "express"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "express-session")); err != nil {
		unavailable("npm packages are not installed in " + dir)
	}
	cmd := exec.Command(node, append([]string{"server.js"}, secrets...)...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	port, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("express server did not start: %v", err)
	}
	return "http://127.0.0.1:" + strings.TrimSpace(port)
}

func getNode(t *testing.T, u, cookie string) (*http.Response, string) {
	t.Helper()
	h := http.Header{}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	return httpGet(t, u, h)
}

func TestExpressCompatibility(t *testing.T) {
	base := startExpress(t, "new secret: 32 bytes or more, from env", "old secret: 32 bytes or more, from env")

	t.Run("cookie-signature signs as cookiesig does", func(t *testing.T) {
		for _, v := range []string{"hello", "a.b.c", "ünïcödé", strings.Repeat("x", 300)} {
			_, got := getNode(t, base+"/sign?value="+url.QueryEscape(v), "")
			if want := cookiesig.Sign(v, "new secret: 32 bytes or more, from env"); got != want {
				t.Errorf("node sign(%q) = %q, Go = %q", v, got, want)
			}
		}
	})

	store := newSpy()
	m, err := sessions.New(store, sessions.Options{Name: "connect.sid", Secrets: []string{"old secret: 32 bytes or more, from env"}})
	if err != nil {
		t.Fatal(err)
	}
	goApp := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if r.URL.Path == "/login" {
			_ = s.Set("user", "alice")
		}
		var from string
		_, _ = s.Get("from", &from)
		fmt.Fprintf(w, "%s|%s", s.ID(), from)
	}))

	t.Run("a cookie express-session set verifies in sqlsession", func(t *testing.T) {
		res, id := getNode(t, base+"/new", "")
		sc := sessionCookie(res, "connect.sid")
		if sc == "" || !strings.HasPrefix(sc, "connect.sid=s%3A") {
			t.Fatalf("express Set-Cookie = %q", sc)
		}
		now := time.Now()
		rec := sessionstore.Record{Data: map[string]json.RawMessage{"from": json.RawMessage(`"node"`)}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := store.Create(context.Background(), sessions.HashID(id), rec, now); err != nil {
			t.Fatal(err)
		}
		// express signed with "new secret: 32 bytes or more, from env"; this Manager only knows "old secret: 32 bytes or more, from env".
		rotated, err := sessions.New(store, sessions.Options{Name: "connect.sid", Secrets: []string{"old secret: 32 bytes or more, from env", "new secret: 32 bytes or more, from env"}})
		if err != nil {
			t.Fatal(err)
		}
		goRotated := rotated.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := sessions.FromContext(r.Context())
			var from string
			_, _ = s.Get("from", &from)
			fmt.Fprintf(w, "%s|%s", s.ID(), from)
		}))
		if got := body(t, doWith(goRotated, cookiePair(sc))); got != id+"|node" {
			t.Errorf("sqlsession read %q from express's cookie, want %q", got, id+"|node")
		}
	})

	t.Run("a cookie sqlsession set verifies in express-session", func(t *testing.T) {
		r, _ := http.NewRequest("GET", "http://example.com/login", nil)
		w := newRecorder()
		goApp.ServeHTTP(w, r)
		res := w.Result()
		id, _, _ := strings.Cut(body(t, res), "|")
		sc := sessionCookie(res, "connect.sid")
		if sc == "" {
			t.Fatal("no cookie from sqlsession")
		}
		if _, got := getNode(t, base+"/echo", cookiePair(sc)); got != id {
			t.Errorf("express-session verified id %q from sqlsession's cookie, want %q", got, id)
		}
		// And a tampered one does not verify there either.
		if _, got := getNode(t, base+"/echo", strings.Replace(cookiePair(sc), "s%3A", "s%3AX", 1)); got != "none" {
			t.Errorf("express accepted a tampered cookie: %q", got)
		}
	})
}
