package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/internal/pgdb"
)

// statementVariant is one statement measured by BenchmarkStatementCPU:
// run executes it once, for the i-th statement of a block.
type statementVariant struct {
	name string
	run  func(ctx context.Context, i int) error
}

// loginDoc is a new session's stored document as the Manager writes it
// (the express-session cookie object and one value), 130 bytes.
const loginDoc = `{"cookie":{"originalMaxAge":86400000,"expires":"2030-01-01T00:00:00.000Z","secure":false,"httpOnly":true,"path":"/"},"user":"u"}`

// statementVariants are sqlsession's login, read and write statements (the
// generated ones, through pgdb) beside the ceiling's of BenchmarkPeers, on
// conn; hot are the hashes of live rows the reads and writes use.
func statementVariants(conn *pgx.Conn, hot [][]byte) []statementVariant {
	q := pgdb.New(conn)
	now := time.Now()
	exp := now.Add(24 * time.Hour)
	fresh := func() []byte { h := sha256.Sum256([]byte(rand.Text())); return h[:] }
	row := func(i int) []byte { return hot[i%len(hot)] }
	var data []byte
	var expires time.Time
	return []statementVariant{
		{"login: ceiling INSERT (constant document)", func(ctx context.Context, _ int) error {
			_, err := conn.Exec(ctx, ceilingNew, fresh())
			return err
		}},
		{"login: InsertNewSession (8 parameters)", func(ctx context.Context, _ int) error {
			return q.InsertNewSession(ctx, pgdb.InsertNewSessionParams{IDHash: fresh(), Data: json.RawMessage(loginDoc), ExpiresAt: exp, CreatedAt: now})
		}},
		{"login: InsertNewAnonymousSession (4 parameters)", func(ctx context.Context, _ int) error {
			return q.InsertNewAnonymousSession(ctx, pgdb.InsertNewAnonymousSessionParams{IDHash: fresh(), Data: json.RawMessage(loginDoc), ExpiresAt: exp, CreatedAt: now})
		}},
		{"login: InsertNewAnonymousSession, the ceiling's document", func(ctx context.Context, _ int) error {
			return q.InsertNewAnonymousSession(ctx, pgdb.InsertNewAnonymousSessionParams{IDHash: fresh(), Data: json.RawMessage(`{"user":"u"}`), ExpiresAt: exp, CreatedAt: now})
		}},
		{"read: ceiling SELECT data, expires_at", func(ctx context.Context, i int) error {
			return conn.QueryRow(ctx, ceilingRead, row(i)).Scan(&data, &expires)
		}},
		{"read: GetSessionNow", func(ctx context.Context, i int) error {
			_, err := q.GetSessionNow(ctx, row(i))
			return err
		}},
		{"write: ceiling data \\|\\| $2", func(ctx context.Context, i int) error {
			_, err := conn.Exec(ctx, ceilingMerge, row(i), `{"n":1}`)
			return err
		}},
		{"write: MergeData", func(ctx context.Context, i int) error {
			_, err := q.MergeData(ctx, pgdb.MergeDataParams{Changed: json.RawMessage(`{"n":2}`), ExpiresAt: &exp, IDHash: row(i), Now: now, Budget: 65000})
			return err
		}},
		{"write: MergeSession", func(ctx context.Context, i int) error {
			_, err := q.MergeSession(ctx, pgdb.MergeSessionParams{Changed: json.RawMessage(`{"n":3}`), ExpiresAt: &exp, IDHash: row(i), Now: now, MaxBytes: 65536})
			return err
		}},
	}
}

// BenchmarkStatementCPU measures the Postgres server CPU of each of
// sqlsession's login, read and write statements, and of the ceiling's
// (BenchmarkPeers), one statement at a time: one connection with
// synchronous_commit off (so no commit waits for a flush), the server
// process's CPU from /proc/PID/schedstat around blocks of
// BENCH_STATEMENTS statements (2,000), every variant in turn in each of
// BENCH_ROUNDS rounds (9), medians printed as Markdown with the WAL bytes
// each statement writes. Reads and writes go to 64 live rows holding
// loginDoc. Run it with -benchtime 1x.
func BenchmarkStatementCPU(b *testing.B) {
	e := testpg.Migrated(b)
	ctx := context.Background()
	conn, pid := statementConn(b, e.DSN)
	hot := make([][]byte, 64)
	for i := range hot {
		h := sha256.Sum256(fmt.Appendf(nil, "statement %d", i))
		hot[i] = h[:]
		if _, err := conn.Exec(ctx, `INSERT INTO http_sessions (id_hash, data, expires_at, created_at) VALUES ($1, $2::jsonb, now() + interval '1 day', now())`, h[:], loginDoc); err != nil {
			b.Fatal(err)
		}
	}
	vs := statementVariants(conn, hot)
	cpu, wal := measureStatementsWAL(b, conn, pid, vs, []string{"http_sessions"},
		int(envNumber("BENCH_ROUNDS", 9)), int(envNumber("BENCH_STATEMENTS", 2000)))
	fmt.Printf("\n<!-- BenchmarkStatementCPU output, %s -->\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Println("| statement | µs of server CPU (median) | WAL bytes | per round (µs) |")
	fmt.Println("|---|---:|---:|---|")
	for i, v := range vs {
		fmt.Printf("| %s | %.1f | %.0f | %s |\n", v.name, median(cpu[i]), median(wal[i]), joinRounded(cpu[i]))
	}
}

// statementConn is one connection to dsn with synchronous_commit off, and
// its server process's pid.
func statementConn(b *testing.B, dsn string) (*pgx.Conn, int) {
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.RuntimeParams["synchronous_commit"] = "off"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close(context.Background()) })
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		b.Fatal(err)
	}
	return conn, pid
}

// measureStatementsWAL runs the variants in interleaved rounds of n
// statements each (every round starts with a VACUUM of tables) and
// returns, per variant and round, the server CPU per statement in µs and
// the WAL bytes per statement.
func measureStatementsWAL(b *testing.B, conn *pgx.Conn, pid int, vs []statementVariant, tables []string, rounds, n int) (cpu, wal [][]float64) {
	ctx := context.Background()
	stat := fmt.Sprintf("/proc/%d/schedstat", pid)
	cpu, wal = make([][]float64, len(vs)), make([][]float64, len(vs))
	lsn := func() (pos int64) {
		if err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn() - '0/0'").Scan(&pos); err != nil {
			b.Fatal(err)
		}
		return pos
	}
	for b.Loop() {
		for round := range rounds {
			for _, t := range tables {
				if _, err := conn.Exec(ctx, "VACUUM "+t); err != nil {
					b.Fatal(err)
				}
			}
			for k := range vs {
				i := (k + round) % len(vs)
				if err := vs[i].run(ctx, 0); err != nil { // warm: the statement is prepared
					b.Fatalf("%s: %v", vs[i].name, err)
				}
				startWAL, start := lsn(), schedNanos(stat)
				for j := range n {
					if err := vs[i].run(ctx, j); err != nil {
						b.Fatalf("%s: %v", vs[i].name, err)
					}
				}
				cpu[i] = append(cpu[i], float64(schedNanos(stat)-start)/1e3/float64(n))
				wal[i] = append(wal[i], float64(lsn()-startWAL)/float64(n))
			}
		}
	}
	return cpu, wal
}

// joinRounded lists xs with one decimal, separated by " · ".
func joinRounded(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += " · "
		}
		s += fmt.Sprintf("%.1f", x)
	}
	return s
}
