package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// cpuTimes is CPU time in ns: of a stack's Postgres server processes, and
// of the stack plus the load generator (this process, and node's for the
// express peer).
type cpuTimes struct{ pg, app int64 }

// backends are the server processes of the peer's connections (found by
// their application_name, the peer's schema).
func (p *peer) backends(b *testing.B) []int {
	b.Helper()
	rows, err := p.admin.Query(context.Background(), "SELECT pid FROM pg_stat_activity WHERE application_name = $1", p.app)
	if err != nil {
		b.Fatal(err)
	}
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return pids
}

// cpu reads the CPU times now. Process times come from Linux's
// /proc/PID/schedstat (ns); a process that is gone or unreadable (a server
// on another host) counts 0.
func (p *peer) cpu(pids []int) cpuTimes {
	var t cpuTimes
	for _, pid := range pids {
		t.pg += schedNanos(fmt.Sprintf("/proc/%d/schedstat", pid))
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	t.app = ru.Utime.Nano() + ru.Stime.Nano()
	if p.proc != 0 {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.proc))
		for _, f := range tasks {
			t.app += schedNanos(f)
		}
	}
	return t
}

func schedNanos(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(data), " ")
	n, _ := strconv.ParseInt(f, 10, 64)
	return n
}
