package integration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/internal/testskip"
)

// envRequireBouncer set to 1 (as in CI) turns a missing pgbouncer binary
// into a failure instead of a skip.
const envRequireBouncer = "SQLSESSION_REQUIRE_PGBOUNCER"

// bouncer is a private PgBouncer in transaction pooling mode, started by a
// test in front of the test server, on its own temp dir and a free port.
type bouncer struct {
	port int
	cmd  *exec.Cmd
	dir  string
}

// startBouncer starts pgbouncer in front of the server at serverDSN and
// stops it when the test ends. Every database name is passed through to
// the server.
func startBouncer(t *testing.T, serverDSN string) *bouncer {
	t.Helper()
	bin := findBouncer(t)
	srv, err := pgconn.ParseConfig(serverDSN)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sqlsession-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	b := &bouncer{port: freePort(t), dir: dir}
	ini := b.config(t, srv)
	b.cmd = exec.Command(bin, ini)
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	b.cmd.Stdout, b.cmd.Stderr = out, out
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start pgbouncer: %v", err)
	}
	t.Cleanup(b.stop)
	b.waitReady(t)
	return b
}

func findBouncer(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"pgbouncer", "/usr/sbin/pgbouncer"} {
		if bin, err := exec.LookPath(p); err == nil {
			return bin
		}
	}
	testskip.Skip(t, testskip.PgBouncer, envRequireBouncer, "pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)")
	return ""
}

// config writes the ini file. PgBouncer refuses to run as root; as root
// it is told to switch to the postgres user (its "user" setting), which
// must be able to read the temp dir.
func (b *bouncer) config(t *testing.T, srv *pgconn.Config) string {
	t.Helper()
	target := fmt.Sprintf("host=%s port=%d user=%s", srv.Host, srv.Port, srv.User)
	if srv.Password != "" {
		target += " password=" + srv.Password
	}
	lines := []string{
		"[databases]",
		"* = " + target,
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		"listen_port = " + strconv.Itoa(b.port),
		"unix_socket_dir =",
		"auth_type = trust",
		"auth_file = " + filepath.Join(b.dir, "users.txt"),
		"pool_mode = transaction",
		"max_client_conn = 500",
		"default_pool_size = 8",
		"logfile = " + filepath.Join(b.dir, "pgbouncer.log"),
		"ignore_startup_parameters = extra_float_digits",
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testskip.Skip(t, testskip.PgBouncer, "", "pgbouncer refuses to run as root and there is no postgres user to switch to")
		}
		lines = append(lines, "user = postgres")
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		defer func() {
			if err := filepath.Walk(b.dir, func(p string, _ os.FileInfo, err error) error {
				if err != nil {
					return err
				}
				return os.Chown(p, uid, gid)
			}); err != nil {
				t.Fatal(err)
			}
		}()
	}
	write := func(name, s string) string {
		p := filepath.Join(b.dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("users.txt", fmt.Sprintf("%q \"\"\n", srv.User))
	return write("pgbouncer.ini", strings.Join(lines, "\n")+"\n")
}

func (b *bouncer) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) || b.cmd.ProcessState != nil {
			log, _ := os.ReadFile(filepath.Join(b.dir, "pgbouncer.log"))
			out, _ := os.ReadFile(filepath.Join(b.dir, "stdout"))
			t.Fatalf("pgbouncer did not start listening: %v\n%s\n%s", err, log, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop shuts pgbouncer down (SIGTERM: immediate shutdown) and waits.
func (b *bouncer) stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
}

// dsn is the URL of database dbname through the bouncer.
func (b *bouncer) dsn(user, dbname string) string {
	u := url.URL{Scheme: "postgres", User: url.User(user), Host: fmt.Sprintf("127.0.0.1:%d", b.port), Path: "/" + dbname}
	return u.String() + "?sslmode=disable"
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// privateDB creates a database with a random name on the server (PgBouncer
// passes no search_path, so a private schema would not do), migrates it
// over a direct connection, and drops it when the test ends. It returns
// the database name and its direct DSN.
func privateDB(t *testing.T, serverDSN string) (name, direct string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, serverDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name = "sqlsession_bouncer_" + hex.EncodeToString(rnd[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDB(t, serverDSN, name) })
	direct = withDatabase(t, serverDSN, name)
	sqlDB := openSQL(t, direct)
	if err := db.Migrate(ctx, sqlDB, db.Postgres); err != nil {
		t.Fatalf("migrate %s directly: %v", name, err)
	}
	return name, direct
}

func dropDB(t *testing.T, serverDSN, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, serverDSN)
	if err != nil {
		t.Errorf("drop database %s: %v", name, err)
		return
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("drop database %s: %v", name, err)
	}
}

// withDatabase returns the URL DSN serverDSN pointed at database name.
func withDatabase(t *testing.T, serverDSN, name string) string {
	t.Helper()
	u, err := url.Parse(serverDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Skipf("the bouncer tests need a URL DSN, got %q", serverDSN)
	}
	u.Path = "/" + name
	return u.String()
}

// bouncerSetup starts a bouncer in front of a fresh migrated database and
// returns the bouncer, the database name and its direct DSN.
func bouncerSetup(t *testing.T) (*bouncer, string, string, string) {
	t.Helper()
	serverDSN := testpg.ServerDSN(t)
	name, direct := privateDB(t, serverDSN)
	b := startBouncer(t, serverDSN)
	cfg, _ := pgconn.ParseConfig(serverDSN)
	return b, cfg.User, name, direct
}

// openSQL opens a database/sql handle (pgx stdlib) on dsn, closed when the
// test ends.
func openSQL(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	d := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = d.Close() })
	return d
}
