package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// BenchmarkCitusVsOneNode measures what one store call costs on a Citus
// cluster (coordinator + 2 workers, Citus's default 32 shards) against one
// PostgreSQL node, interleaved: each round runs every operation on both
// targets, one call at a time (latency, not throughput), and the medians
// over the rounds are reported as µs per call. Operations: read (Load),
// write (Update of one key), new (Create), touch, and the per-user
// ListUser, which fans out to every shard. The one node's pool runs with
// synchronous_commit off, since the test cluster runs with fsync off: the
// comparison is of planning and network hops, not of disks. Needs both
// servers:
//
//	SQLSESSION_TEST_POSTGRES_DSN=... SQLSESSION_TEST_CITUS_DSN=... \
//	  go test -run '^$' -bench CitusVsOneNode -benchtime 1x ./sessions/pgstore
func BenchmarkCitusVsOneNode(b *testing.B) {
	targets := []struct {
		name  string
		store *pgstore.Store
	}{
		{"one-node", pgstore.New(noSyncCommit(b, pgtest.Migrated(b).DSN))},
		{"citus", pgstore.New(citus32(b))},
	}
	const rounds, calls, seeded = 7, 200, 2000
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	data := map[string]json.RawMessage{"cookie": json.RawMessage(`{"originalMaxAge":86400000,"httpOnly":true,"path":"/"}`), "user": json.RawMessage(`"someone@example.com"`)}
	for _, tg := range targets {
		for i := range seeded {
			r := sessionstore.Record{Data: data, CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserID: fmt.Sprint("u", i%200)}
			if err := tg.store.Create(ctx, sessionstore.HashID(fmt.Sprint("seed", i)), r, now); err != nil {
				b.Fatal(err)
			}
		}
	}
	ops := []struct {
		name string
		call func(s *pgstore.Store, round, i int) error
	}{
		{"read", func(s *pgstore.Store, _, i int) error {
			_, err := s.Load(ctx, sessionstore.HashID(fmt.Sprint("seed", i)), time.Time{})
			return err
		}},
		{"write", func(s *pgstore.Store, round, i int) error {
			return s.Update(ctx, sessionstore.HashID(fmt.Sprint("seed", i)), sessionstore.Change{
				Set: map[string]json.RawMessage{"n": json.RawMessage(fmt.Sprint(round))}, ExpiresAt: now.Add(time.Hour)}, now)
		}},
		{"new", func(s *pgstore.Store, round, i int) error {
			return s.Create(ctx, sessionstore.HashID(fmt.Sprint("new", round, "-", i)), sessionstore.Record{Data: data, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, now)
		}},
		{"touch", func(s *pgstore.Store, round, i int) error {
			return s.Touch(ctx, sessionstore.HashID(fmt.Sprint("seed", i)), now.Add(time.Hour+time.Duration(round)*time.Second), nil, now)
		}},
		{"list-user", func(s *pgstore.Store, _, i int) error {
			_, err := s.ListUser(ctx, fmt.Sprint("u", i%200), now)
			return err
		}},
	}
	med := map[string][]float64{}
	for round := range rounds {
		for _, op := range ops {
			for _, tg := range targets {
				start := time.Now()
				for i := range calls {
					if err := op.call(tg.store, round, i); err != nil {
						b.Fatalf("%s on %s: %v", op.name, tg.name, err)
					}
				}
				key := op.name + "/" + tg.name
				med[key] = append(med[key], float64(time.Since(start).Microseconds())/calls)
			}
		}
	}
	for _, op := range ops {
		for _, tg := range targets {
			v := med[op.name+"/"+tg.name]
			slices.Sort(v)
			b.ReportMetric(v[len(v)/2], op.name+"-"+tg.name+"-µs")
		}
	}
}

// citus32 is a pool on a fresh schema of the Citus cluster whose table is
// distributed over Citus's default 32 shards (the tests use 4).
func citus32(b *testing.B) *pgxpool.Pool {
	b.Helper()
	e := pgtest.NewOn(b, pgtest.CitusDSN(b))
	u, err := url.Parse(e.DSN)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("citus.shard_count", "32")
	u.RawQuery = q.Encode()
	pool, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	if err := db.Migrate(context.Background(), sqlDB, db.Postgres); err != nil {
		b.Fatal(err)
	}
	if err := db.Distribute(context.Background(), sqlDB); err != nil {
		b.Fatal(err)
	}
	return pool
}

// noSyncCommit is a pool on dsn whose commits do not wait for the WAL flush.
func noSyncCommit(b *testing.B, dsn string) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}
