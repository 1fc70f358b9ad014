package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/internal/pgtest"
)

// expressAppDir holds the express-session + connect-pg-simple app; its
// node_modules come from `make bench-deps` (npm ci), or are installed here.
var expressAppDir = filepath.Join("testdata", "expressapp")

// expressStack starts testdata/expressapp/server.js on node, on its own
// schema, and returns it as a peer; ok is false (with the reason logged)
// when node or npm is missing, unless SQLSESSION_REQUIRE_NODE=1.
func expressStack(b *testing.B) (p peer, ok bool) {
	b.Helper()
	node, err1 := exec.LookPath("node")
	npm, err2 := exec.LookPath("npm")
	if err1 != nil || err2 != nil {
		if os.Getenv("SQLSESSION_REQUIRE_NODE") == "1" {
			b.Fatal("express peer: SQLSESSION_REQUIRE_NODE=1 but node or npm is not installed")
		}
		b.Log("express peer skipped: node or npm is not installed")
		return peer{}, false
	}
	if _, err := os.Stat(filepath.Join(expressAppDir, "node_modules", "connect-pg-simple")); err != nil {
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = expressAppDir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("npm ci in %s: %v\n%s", expressAppDir, err, out)
		}
	}
	e := pgtest.NewOn(b, testpg.ServerDSN(b))
	base, pid := startNode(b, node, testpg.ServerDSN(b), e.Schema)
	statements := func() int64 {
		resp, err := http.Get(base + "/_sql")
		if err != nil {
			b.Fatalf("express peer: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		n, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
		if err != nil {
			b.Fatalf("express peer: /_sql: %q", body)
		}
		return n
	}
	return peer{name: "express-session + connect-pg-simple (node " + nodeVersion(node) + ")", base: base,
		statements: statements, admin: e.Pool, tables: []string{"session"}, app: e.Schema, proc: pid}, true
}

func nodeVersion(node string) string {
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
}

// startNode runs server.js and returns its base URL and process id; the
// process is stopped when the benchmark ends.
func startNode(b *testing.B, node, serverDSN, schema string) (string, int) {
	b.Helper()
	cmd := exec.Command(node, "server.js")
	cmd.Dir = expressAppDir
	cmd.Env = append(os.Environ(), "PG_DSN="+serverDSN, "PG_SCHEMA="+schema, "SESSION_SECRET=bench secret: 32 bytes or more!!", "NODE_ENV=production")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start node: %v", err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(s)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case port := <-ready:
		if port == "" {
			b.Fatal("express app exited before printing its port")
		}
		return fmt.Sprintf("http://127.0.0.1:%s", port), cmd.Process.Pid
	case <-ctx.Done():
		b.Fatal("express app printed no port within a minute")
		return "", 0
	}
}
