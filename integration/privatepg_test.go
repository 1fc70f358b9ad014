package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sqlsession/sqlsession/internal/testskip"
)

// privatePG is a PostgreSQL server the test owns: started from the
// machine's binaries on a temp dir and a free port, so it can be stopped
// and started under load.
type privatePG struct {
	t              *testing.T
	bin, dir, data string
	port           int
	asPostgres     bool // tests run as root here; postgres refuses root
}

// faultGroup is the fault tests' line in make test's summary of skips.
const faultGroup = "Postgres fault tests (private server)"

// startPrivatePG starts one, or skips with the reason it cannot.
func startPrivatePG(t *testing.T) *privatePG {
	t.Helper()
	p := newPrivatePG(t, func(reason string) { testskip.Skip(t, faultGroup, "", reason) })
	p.initdb()
	p.start()
	return p
}

// newPrivatePG prepares a server's temp dir (owned by postgres when the
// test runs as root) and a free port, and stops the server when the test
// ends; unavailable is called (and must end the test) when it cannot.
func newPrivatePG(t *testing.T, unavailable func(reason string)) *privatePG {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		unavailable("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl)")
	}
	p := &privatePG{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "sqlsession-fault-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir, p.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() {
		p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop")
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable("running as root and there is no postgres user to run the server as")
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			unavailable("running as root without runuser")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asPostgres = true
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return p
}

// initdb creates the data directory (trust authentication, user postgres).
func (p *privatePG) initdb() {
	p.t.Helper()
	if out, err := p.run("initdb", "-D", p.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		p.t.Fatalf("initdb: %v\n%s", err, out)
	}
}

// conf appends settings to the data directory's postgresql.conf (read at
// the next start).
func (p *privatePG) conf(lines ...string) {
	p.t.Helper()
	f, err := os.OpenFile(filepath.Join(p.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := fmt.Fprintln(f, l); err != nil {
			p.t.Fatal(err)
		}
	}
}

func (p *privatePG) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(p.bin, name)
	var cmd *exec.Cmd
	if p.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func (p *privatePG) start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.dir)
	if out, err := p.run("pg_ctl", "-D", p.data, "-o", opts, "-l", filepath.Join(p.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		p.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// stop kills the server the hard way (as a crash would). Commits are
// synchronous (the default), so every acknowledged write survives it;
// fsync=off only gives up durability against an OS crash.
func (p *privatePG) stop() {
	p.t.Helper()
	if out, err := p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop"); err != nil {
		p.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (p *privatePG) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", p.port)
}
