package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/internal/pgtest"
)

// A signal is never a failure (issue #19, item 8): whatever fails after
// SIGTERM (the VACUUM it cancels, -dry-run's count, a batch) makes an
// interrupted run, with its summary (interrupted=true) and exit 0.

var (
	pausedOnce sync.Once
	pausedPath string
	pausedErr  error
)

// pausedBinary builds sess-gc with -X main.testPause=STAGE: before that
// stage it says so on stderr and waits for the signal, so that the stage
// then runs, and fails, after it.
func pausedBinary(t *testing.T, stage string) string {
	t.Helper()
	pausedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sess-gc-paused")
		if err != nil {
			pausedErr = err
			return
		}
		pausedPath = dir
	})
	if pausedErr != nil {
		t.Fatal(pausedErr)
	}
	path := filepath.Join(pausedPath, "sess-gc-"+stage)
	if _, err := os.Stat(path); err != nil {
		out, err := exec.Command("go", "build", "-ldflags", "-X main.testPause="+stage, "-o", path, ".").CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	return path
}

// signalled starts cmd, waits until its stderr says wantLine (or, when
// ready is not nil, until ready returns true), sends SIGTERM and returns
// its exit code and output.
func signalled(t *testing.T, cmd *exec.Cmd, wantLine string, ready func() bool) (code int, stdout, stderr string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout = &out
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errLines strings.Builder
	seen := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc, once := bufio.NewScanner(pipe), sync.Once{}
		for sc.Scan() {
			errLines.WriteString(sc.Text() + "\n")
			if wantLine != "" && strings.Contains(sc.Text(), wantLine) {
				once.Do(func() { close(seen) })
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for ready != nil && !ready() {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("sess-gc never reached the stage to interrupt")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if wantLine != "" {
		select {
		case <-seen:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-copied
			t.Fatalf("sess-gc never said %q; stderr %q", wantLine, errLines.String())
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-copied
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errLines.String()
}

var interruptedRE = regexp.MustCompile(`^deleted=(\d+) batches=\d+ took=\S+ interrupted=true\n$`)

// SIGTERM while Postgres runs -vacuum's VACUUM (held back by a lock the
// test takes, which lets the DELETEs through): the rows are deleted, the
// VACUUM is cancelled, and that is an interrupted run, exit 0.
func TestSIGTERMDuringVacuumPostgres(t *testing.T) {
	e := pgtest.Migrated(t)
	if _, err := e.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT sha256(i::text::bytea), '{}', now() - interval '1 hour', now() - interval '2 hours' FROM generate_series(1, 300) i`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := e.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// SHARE UPDATE EXCLUSIVE conflicts with VACUUM, not with DELETE.
	if _, err := conn.ExecContext(ctx, `BEGIN; LOCK TABLE http_sessions IN SHARE UPDATE EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.ExecContext(ctx, `ROLLBACK`) }()
	vacuumWaits := func() bool {
		var n int
		err := e.DB.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'VACUUM%' AND wait_event_type = 'Lock'`).Scan(&n)
		return err == nil && n > 0
	}
	cmd := exec.Command(binary(t), "-driver", "postgres", "-dsn", e.DSN, "-once", "-vacuum")
	code, stdout, stderr := signalled(t, cmd, "", vacuumWaits)
	if code != 0 || !interruptedRE.MatchString(stdout) || !strings.HasPrefix(stdout, "deleted=300 ") {
		t.Errorf("SIGTERM during VACUUM: exit %d, stdout %q, stderr %q; want 0 and deleted=300 … interrupted=true", code, stdout, stderr)
	}
	if n := countRows(t, e.DB, `SELECT count(*) FROM http_sessions`); n != 0 {
		t.Errorf("%d rows left, want 0", n)
	}
}

// The same at each stage, on both drivers: the stage runs after the signal
// (testPause) and fails with "context canceled"; the run is interrupted.
func TestSIGTERMBeforeEachStage(t *testing.T) {
	sqlitePath := filepath.Join(t.TempDir(), "s.db")
	seedSQLiteBig(t, sqlitePath, 40, 5)
	pg := pgtest.Migrated(t)
	if _, err := pg.DB.Exec(`INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
		SELECT sha256(i::text::bytea), '{}', now() - interval '1 hour', now() - interval '2 hours' FROM generate_series(1, 40) i`); err != nil {
		t.Fatal(err)
	}
	for _, drv := range []struct{ name, dsn string }{{"sqlite", sqlitePath}, {"postgres", pg.DSN}} {
		for _, tc := range []struct {
			stage string
			args  []string
			want  string // stdout
		}{
			{"vacuum", []string{"-vacuum"}, `^deleted=40 batches=1 took=\S+ interrupted=true\n$`},
			{"count", []string{"-dry-run"}, `^dry_run=true took=\S+ interrupted=true\n$`},
			{"reap", nil, `^deleted=0 batches=0 took=\S+ interrupted=true\n$`},
			{"vacuum", []string{"-vacuum", "-json"}, `^\{"deleted":0,"batches":0,"took_ms":\d+,"dry_run":false,"interrupted":true,"time":"[^"]+"\}\n$`},
			{"count", []string{"-dry-run", "-json"}, `^\{"deleted":0,"batches":0,"took_ms":\d+,"dry_run":true,"interrupted":true,"time":"[^"]+"\}\n$`},
		} {
			t.Run(fmt.Sprintf("%s/%s%s", drv.name, tc.stage, strings.Join(tc.args, "")), func(t *testing.T) {
				args := append([]string{"-driver", drv.name, "-dsn", drv.dsn, "-once"}, tc.args...)
				cmd := exec.Command(pausedBinary(t, tc.stage), args...)
				code, stdout, stderr := signalled(t, cmd, "paused before "+tc.stage, nil)
				if code != 0 || !regexp.MustCompile(tc.want).MatchString(stdout) {
					t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %s", code, stdout, stderr, tc.want)
				}
			})
		}
	}
}
