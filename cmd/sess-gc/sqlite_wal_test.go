package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

// walLimit is what the WAL file may hold after a reap: sqlitestore.DSN's
// journal_size_limit.
const walLimit = 64 << 20

// seedSQLiteBig creates and fills a SQLite sessions database with dead
// expired and live live sessions, in a helper process built without the
// race detector (testdata/sqliteseed), and checkpoints the WAL away.
func seedSQLiteBig(t testing.TB, path string, dead, live int) {
	t.Helper()
	bin := filepath.Join(filepath.Dir(binary(t)), "sqliteseed")
	if _, err := os.Stat(bin); err != nil {
		if out, err := exec.Command("go", "build", "-o", bin, "./testdata/sqliteseed").CombinedOutput(); err != nil {
			t.Fatalf("go build sqliteseed: %v\n%s", err, out)
		}
	}
	if out, err := exec.Command(bin, path, fmt.Sprint(dead), fmt.Sprint(live)).CombinedOutput(); err != nil {
		t.Fatalf("sqliteseed: %v\n%s", err, out)
	}
}

// appWriter writes as an application does (a new session, then a touch),
// through its own connection pool, until stop is closed; it returns how
// long each write waited.
func appWriter(t testing.TB, path string, stop <-chan struct{}) func() []time.Duration {
	t.Helper()
	conn, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	store := sqlitestore.New(conn)
	var (
		waits []time.Duration
		errs  []error
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			now := time.Now()
			h := sessions.HashID(fmt.Sprint("app-", i))
			start := time.Now()
			err := store.Create(ctx, h, sessionstore.Record{Data: map[string]json.RawMessage{"n": json.RawMessage(`1`)}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, now)
			if err == nil {
				err = store.Touch(ctx, h, now.Add(2*time.Hour), nil, now)
			}
			if err != nil {
				errs = append(errs, err)
				return
			}
			waits = append(waits, time.Since(start))
		}
	})
	return func() []time.Duration {
		wg.Wait()
		_ = conn.Close()
		if len(errs) > 0 {
			t.Errorf("application write during the reap: %v", errs[0])
		}
		return waits
	}
}

// sqliteReap is one sess-gc run on a SQLite file while the application
// writes.
type sqliteReap struct {
	gc        result
	walAfter  int64           // bytes in the WAL file after the run
	walPeak   int64           // largest WAL file seen during it
	waits     []time.Duration // each application write's time, sorted
	expiredOK bool            // no expired row left
}

// reapWhileWriting seeds a file with dead expired sessions (and 1,000 live
// ones), then runs sess-gc -once with batch (0: sess-gc's default) while
// another connection pool writes, and measures.
func reapWhileWriting(t testing.TB, dead, batch int) sqliteReap {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	seedSQLiteBig(t, path, dead, 1_000)
	stop := make(chan struct{})
	wait := appWriter(t, path, stop)
	peak := walPeak(path, stop)
	var r sqliteReap
	args := []string{"-driver", "sqlite", "-dsn", path, "-once"}
	if batch > 0 {
		args = append(args, "-batch", fmt.Sprint(batch))
	}
	r.gc = runGC(t, nil, args...)
	close(stop)
	r.waits, r.walPeak = wait(), peak()
	slices.Sort(r.waits)
	if fi, err := os.Stat(path + "-wal"); err == nil {
		r.walAfter = fi.Size()
	}
	conn, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r.expiredOK = countRows(t, conn, `SELECT count(*) FROM http_sessions WHERE expires_at <= CAST(strftime('%s','now') AS INTEGER) * 1000 - 1000`) == 0
	return r
}

func (r sqliteReap) quantile(q float64) time.Duration {
	if len(r.waits) == 0 {
		return 0
	}
	return r.waits[int(float64(len(r.waits)-1)*q)]
}

// TestSQLiteWALBoundedAfterReap: sess-gc reaps 300,000 rows while another
// connection keeps writing; afterwards the WAL file is at most 64 MB
// (sqlitestore checkpoints at the end of the run; journal_size_limit caps
// it otherwise), and every expired row is gone.
func TestSQLiteWALBoundedAfterReap(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 300,000 rows")
	}
	r := reapWhileWriting(t, 300_000, 0)
	if r.gc.code != 0 || !summaryRE.MatchString(r.gc.stdout) || !strings.HasPrefix(r.gc.stdout, "deleted=300000 ") {
		t.Fatalf("sess-gc: exit %d %q %q", r.gc.code, r.gc.stdout, r.gc.stderr)
	}
	if r.walAfter > walLimit {
		t.Errorf("WAL file after reaping 300,000 rows: %d MB, want <= %d MB", r.walAfter>>20, walLimit>>20)
	}
	if !r.expiredOK {
		t.Error("expired rows left after the run")
	}
	if len(r.waits) == 0 {
		t.Error("the application wrote nothing during the reap")
	}
}

// BenchmarkSQLiteReapUnderWrites reaps 300,000 rows with sess-gc while
// the application writes (a Create and a Touch every 2 ms, through its own
// pool) and reports how long those writes waited, and the WAL file's size
// during and after the run. Seeding is not timed.
//
//	go test -run '^$' -bench SQLiteReapUnderWrites -benchtime 3x ./cmd/sess-gc
func BenchmarkSQLiteReapUnderWrites(b *testing.B) {
	for _, batch := range []int{1000, 250} { // 250 is sess-gc's default on SQLite
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var p50, p99, maxWait, peak, after []float64
			for b.Loop() {
				b.StopTimer()
				r := reapWhileWriting(b, 300_000, batch)
				b.StartTimer()
				if r.gc.code != 0 || !r.expiredOK {
					b.Fatalf("sess-gc: exit %d %q %q", r.gc.code, r.gc.stdout, r.gc.stderr)
				}
				p50 = append(p50, float64(r.quantile(0.5).Microseconds()))
				p99 = append(p99, float64(r.quantile(0.99).Microseconds()))
				maxWait = append(maxWait, float64(r.quantile(1).Microseconds()))
				peak = append(peak, float64(r.walPeak>>20))
				after = append(after, float64(r.walAfter>>20))
				b.Logf("%s", strings.TrimSpace(r.gc.stdout))
			}
			b.ReportMetric(median(p50), "write-p50-µs")
			b.ReportMetric(median(p99), "write-p99-µs")
			b.ReportMetric(median(maxWait), "write-max-µs")
			b.ReportMetric(median(peak), "WAL-peak-MB")
			b.ReportMetric(median(after), "WAL-after-MB")
		})
	}
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// walPeak samples the size of path's WAL file until stop is closed, and
// returns a function that waits for the sampler and gives the largest.
func walPeak(path string, stop <-chan struct{}) func() int64 {
	var (
		peak int64
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		for {
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > peak {
				peak = fi.Size()
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	return func() int64 { wg.Wait(); return peak }
}
