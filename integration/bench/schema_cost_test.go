package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
)

// schemaShape is one table BenchmarkSchemaCost writes to: the table as
// the migrations leave it, or with one of its parts taken away.
type schemaShape struct {
	name, table, ddl string
}

// smallDoc is loginDoc without express-session's cookie object: what the
// ceiling's and scs's rows carry.
const smallDoc = `{"user":"u"}`

// schemaShapes are http_sessions as migrated, three tables that each lack
// one part of it (same columns and fillfactor otherwise), one whose CHECK
// constraints are domains instead, and one with only what scs's table has
// (a primary key and an expiry index): the cost of each part is the
// difference to the first.
func schemaShapes() []schemaShape {
	cols := func(idCheck, dataCheck, bucket string) string {
		return `(id_hash bytea PRIMARY KEY ` + idCheck + `, data jsonb NOT NULL ` + dataCheck + `,
			expires_at timestamptz NOT NULL, created_at timestamptz NOT NULL, user_id text,
			last_seen_at timestamptz, ip text, user_agent text` + bucket + `) WITH (fillfactor = 85)`
	}
	const (
		idCheck   = `CHECK (octet_length(id_hash) = 32)`
		dataCheck = `CHECK (jsonb_typeof(data) = 'object')`
		bucket    = `, expires_bucket timestamptz NOT NULL GENERATED ALWAYS AS (date_bin('15 minutes', expires_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')) STORED`
		userIdx   = `CREATE INDEX ON %[1]s (user_id) WHERE user_id IS NOT NULL;`
	)
	return []schemaShape{
		{name: "as migrated", table: "http_sessions"},
		{"no CHECK constraints", "shape_nocheck", `CREATE TABLE %[1]s ` + cols("", "", bucket) + `;
			CREATE INDEX ON %[1]s (expires_bucket);` + userIdx},
		{"no expires_bucket (index on expires_at)", "shape_nobucket", `CREATE TABLE %[1]s ` + cols(idCheck, dataCheck, "") + `;
			CREATE INDEX ON %[1]s (expires_at);` + userIdx},
		{"no user_id index", "shape_nouser", `CREATE TABLE %[1]s ` + cols(idCheck, dataCheck, bucket) + `;
			CREATE INDEX ON %[1]s (expires_bucket);`},
		{"domains for the CHECKs", "shape_domain", `CREATE DOMAIN shape_hash AS bytea CHECK (octet_length(VALUE) = 32);
			CREATE DOMAIN shape_doc AS jsonb CHECK (jsonb_typeof(VALUE) = 'object');
			CREATE TABLE %[1]s (id_hash shape_hash PRIMARY KEY, data shape_doc NOT NULL,
			expires_at timestamptz NOT NULL, created_at timestamptz NOT NULL, user_id text,
			last_seen_at timestamptz, ip text, user_agent text` + bucket + `) WITH (fillfactor = 85);
			CREATE INDEX ON %[1]s (expires_bucket);` + userIdx},
		{"scs's: primary key and expiry index only", "shape_bare", `CREATE TABLE %[1]s ` + cols("", "", "") + `;
			CREATE INDEX ON %[1]s (expires_at);`},
	}
}

// The statements BenchmarkSchemaCost runs, in the shape of the generated
// InsertNewAnonymousSession and MergeData (same expressions, same
// parameters), on any table.
const (
	shapeInsert  = `INSERT INTO %s (id_hash, data, expires_at, created_at) VALUES ($1::bytea, $2::jsonb, $3::timestamptz, $4::timestamptz)`
	shapeMerge   = `UPDATE %s SET data = (data - COALESCE($1::text[], '{}')) || $2::jsonb, expires_at = GREATEST(expires_at, $3::timestamptz) WHERE id_hash = $4 AND expires_at > $5 AND ($6::integer < 0 OR octet_length(data::text) <= $6::integer)`
	shapeReplace = `UPDATE %s SET data = $2::jsonb WHERE id_hash = $1 AND expires_at > $3`
)

// schemaVariants are the statements measured on each shape: the login and
// the write on every table; on the migrated one also with the small
// document, without the size check, and replacing the document whole.
func schemaVariants(conn *pgx.Conn, shapes []schemaShape, hot func(table, doc string) [][]byte) []statementVariant {
	now := time.Now()
	exp := now.Add(24 * time.Hour)
	fresh := func() []byte { h := sha256.Sum256([]byte(rand.Text())); return h[:] }
	insert := func(table, doc string) func(context.Context, int) error {
		sql := fmt.Sprintf(shapeInsert, table)
		return func(ctx context.Context, _ int) error {
			_, err := conn.Exec(ctx, sql, fresh(), doc, exp, now)
			return err
		}
	}
	merge := func(table, doc string, budget int) func(context.Context, int) error {
		sql, rows := fmt.Sprintf(shapeMerge, table), hot(table, doc)
		return func(ctx context.Context, i int) error {
			_, err := conn.Exec(ctx, sql, nil, `{"n":2}`, exp, rows[i%len(rows)], now, budget)
			return err
		}
	}
	replace := func(table, doc string) func(context.Context, int) error {
		sql, rows := fmt.Sprintf(shapeReplace, table), hot(table, doc)
		whole := strings.TrimSuffix(doc, "}") + `,"n":2}`
		return func(ctx context.Context, i int) error {
			_, err := conn.Exec(ctx, sql, rows[i%len(rows)], whole, now)
			return err
		}
	}
	var vs []statementVariant
	for _, s := range shapes {
		vs = append(vs,
			statementVariant{"login, " + s.name, insert(s.table, loginDoc)},
			statementVariant{"write, " + s.name, merge(s.table, loginDoc, 65000)})
	}
	t := shapes[0].table
	return append(vs,
		statementVariant{"login, as migrated, document without the cookie object", insert(t, smallDoc)},
		statementVariant{"write, as migrated, document without the cookie object", merge(t, smallDoc, 65000)},
		statementVariant{"write, as migrated, no size limit (budget -1)", merge(t, loginDoc, -1)},
		statementVariant{"write, as migrated, the whole document replaced", replace(t, loginDoc)},
	)
}

// BenchmarkSchemaCost says where a login's and a write's Postgres CPU
// goes (issue #21): the INSERT and the merge UPDATE of pgstore, on the
// table as migrated and on tables that each lack one part of it (the
// CHECK constraints, the generated expires_bucket column, the partial
// user_id index, all of them; the CHECKs as domains), with and without express-session's cookie
// object in the document, with and without the size check, and a whole-
// document replace against the merge. Measured as BenchmarkStatementCPU
// does (one connection, synchronous_commit off, the backend's CPU from
// /proc/PID/schedstat, interleaved rounds, medians), with BENCH_ROUNDS
// (25) rounds of BENCH_STATEMENTS (1,000), and beside each median the
// median of the rounds' differences to the same statement on the migrated
// table, which the machine's drift between rounds does not move; it also
// reports the WAL bytes each statement writes. Run it with -benchtime 1x.
func BenchmarkSchemaCost(b *testing.B) {
	e := testpg.Migrated(b)
	ctx := context.Background()
	conn, pid := statementConn(b, e.DSN)
	shapes := schemaShapes()
	for _, s := range shapes[1:] {
		if _, err := conn.Exec(ctx, fmt.Sprintf(s.ddl, s.table)); err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
	}
	sets := 0
	hot := func(table, doc string) [][]byte { // 64 live rows of their own
		sets++
		rows := make([][]byte, 64)
		for i := range rows {
			h := sha256.Sum256(fmt.Appendf(nil, "%d %d", sets, i))
			rows[i] = h[:]
			if _, err := conn.Exec(ctx, fmt.Sprintf(shapeInsert, table), h[:], doc, time.Now().Add(48*time.Hour), time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		return rows
	}
	vs := schemaVariants(conn, shapes, hot)
	cpu, wal := measureStatementsWAL(b, conn, pid, vs, tableNames(shapes),
		int(envNumber("BENCH_ROUNDS", 25)), int(envNumber("BENCH_STATEMENTS", 1000)))
	fmt.Printf("\n<!-- BenchmarkSchemaCost output, %s -->\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Println("| statement, table | µs of server CPU (median) | µs against the same statement as migrated (median of the rounds' differences) | WAL bytes |")
	fmt.Println("|---|---:|---:|---:|")
	for i, v := range vs {
		base := cpu[0] // the login as migrated
		if strings.HasPrefix(v.name, "write") {
			base = cpu[1]
		}
		fmt.Printf("| %s | %.1f | %+.1f | %.0f |\n", v.name, median(cpu[i]), median(differences(cpu[i], base)), median(wal[i]))
	}
}

// differences is xs[i] - ys[i] for each round i.
func differences(xs, ys []float64) []float64 {
	d := make([]float64, len(xs))
	for i := range xs {
		d[i] = xs[i] - ys[i]
	}
	return d
}

func tableNames(shapes []schemaShape) []string {
	var names []string
	for _, s := range shapes {
		names = append(names, s.table)
	}
	return names
}
