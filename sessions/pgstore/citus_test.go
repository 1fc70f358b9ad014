package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// recorder is a pgx tracer that keeps every statement a pool runs, with
// its arguments.
type recorder struct {
	mu    sync.Mutex
	calls []traced
}

type traced struct {
	sql  string
	args []any
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, traced{d.SQL, d.Args})
	return ctx
}

func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *recorder) take() []traced {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

var taskCount = regexp.MustCompile(`Task Count: (\d+)`)

// TestCitusPerSessionStatementsAreRouted runs every per-session Store call
// on a distributed table and asserts, from EXPLAIN of each statement it
// sent (with its arguments), that Citus plans it for one shard: "Task
// Count: 1", on the shard of the session's id_hash.
func TestCitusPerSessionStatementsAreRouted(t *testing.T) {
	e := pgtest.Citus(t)
	pool, rec := recordedPool(t, e.DSN)
	s := pgstore.New(pool)
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	h, h2 := sessionstore.HashID("routed"), sessionstore.HashID("routed-2")
	data := map[string]json.RawMessage{"a": json.RawMessage(`1`)}
	user := "u1"
	calls := []struct {
		name string
		call func() error
	}{
		{"Create", func() error {
			return s.Create(ctx, h, sessionstore.Record{Data: data, CreatedAt: now, ExpiresAt: now.Add(time.Hour), MaxBytes: 1000}, now)
		}},
		{"Create over a live row", func() error {
			if err := s.Create(ctx, h, sessionstore.Record{Data: data, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, now); !errors.Is(err, sessionstore.ErrExists) {
				return fmt.Errorf("err = %v, want ErrExists", err)
			}
			return nil
		}},
		{"Load (database clock)", func() error { _, err := s.Load(ctx, h, time.Time{}); return err }},
		{"Load (Manager clock)", func() error { _, err := s.Load(ctx, h, now); return err }},
		{"Update", func() error {
			return s.Update(ctx, h, sessionstore.Change{Set: data, Deleted: []string{"b"}, ExpiresAt: now.Add(2 * time.Hour), UserID: &user, MaxBytes: 1000,
				Device: &sessionstore.Device{LastSeen: now, IP: "192.0.2.1", UserAgent: "test"}}, now)
		}},
		{"Update of values only (MergeData)", func() error {
			return s.Update(ctx, h, sessionstore.Change{Set: data, Deleted: []string{"b"}, ExpiresAt: now.Add(2 * time.Hour), MaxBytes: 1000}, now)
		}},
		{"Update over the limit", func() error {
			big := map[string]json.RawMessage{"big": json.RawMessage(`"` + strings.Repeat("x", 2000) + `"`)}
			var se *sessionstore.SizeError
			if err := s.Update(ctx, h, sessionstore.Change{Set: big, ExpiresAt: now.Add(time.Hour), MaxBytes: 1000}, now); !errors.As(err, &se) {
				return fmt.Errorf("err = %v, want a SizeError", err)
			}
			return nil
		}},
		{"Touch", func() error { return s.Touch(ctx, h, now.Add(3*time.Hour), nil, now) }},
		{"Rekey (keeping the retired id)", func() error {
			retire := &sessionstore.Retire{GraceUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour), Sealed: []byte{1}}
			if err := s.Rekey(ctx, h, h2, retire, now); err != nil {
				return err
			}
			return s.Rekey(ctx, h2, h, nil, now)
		}},
		{"Retired", func() error { _, err := s.Retired(ctx, h, now); return err }},
		{"Destroy", func() error {
			live, err := s.Destroy(ctx, h, now)
			if err == nil && !live {
				err = errors.New("Destroy of a live session reported false")
			}
			return err
		}},
	}
	checked := 0
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, st := range rec.take() {
			if !strings.Contains(st.sql, "http_sessions") {
				continue // DataSize, LockUser: no table
			}
			checked++
			if n := explainTasks(t, e.Pool, st); n != 1 {
				t.Errorf("%s: Citus plans %d tasks for\n%s\nwant 1 (a router query on one shard)", c.name, n, st.sql)
			}
		}
	}
	if checked < len(calls) {
		t.Errorf("checked %d statements for %d calls: the tracer missed some", checked, len(calls))
	}
	// The control: a per-user statement fans out to every shard.
	if _, err := s.ListUser(ctx, user, now); err != nil {
		t.Fatal(err)
	}
	for _, st := range rec.take() {
		if n := explainTasks(t, e.Pool, st); n != pgtest.CitusShardCount {
			t.Errorf("ListUser: Citus plans %d tasks, want one per shard (%d)", n, pgtest.CitusShardCount)
		}
	}
}

// explainTasks returns the Task Count of EXPLAIN of st on pool.
func explainTasks(t *testing.T, pool *pgxpool.Pool, st traced) int {
	t.Helper()
	rows, err := pool.Query(context.Background(), "EXPLAIN "+st.sql, st.args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", st.sql, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", st.sql, err)
	}
	plan := strings.Join(lines, "\n")
	m := taskCount.FindStringSubmatch(plan)
	if m == nil {
		t.Fatalf("EXPLAIN %s: no Task Count (not a distributed plan?):\n%s", st.sql, plan)
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// workerDSNs returns a DSN for each Citus worker of e (same schema), from
// the coordinator's node table.
func workerDSNs(t *testing.T, e *pgtest.Env) []string {
	t.Helper()
	rows, err := e.Pool.Query(context.Background(), `SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND isactive ORDER BY nodeport`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var host string
		var port int
		if err := rows.Scan(&host, &port); err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(e.DSN)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = fmt.Sprintf("%s:%d", host, port)
		out = append(out, u.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("the Citus cluster has no worker")
	}
	return out
}

// TestCitusCappedLoginsThroughEveryNode logs one user in many times at
// once through the coordinator and through each worker (Citus lets every
// node run distributed queries). The cap's multi-shard DELETEs then meet
// in distributed deadlocks (40P01), which pgstore retries like 40001:
// every login must succeed, and the cap hold once they are done.
func TestCitusCappedLoginsThroughEveryNode(t *testing.T) {
	e := pgtest.Citus(t)
	stores := []*pgstore.Store{pgstore.New(e.Pool)}
	for _, dsn := range workerDSNs(t, e) {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = 4
		p, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		stores = append(stores, pgstore.New(p))
	}
	const logins, capN = 60, 3
	now := time.Now().Truncate(time.Microsecond)
	var wg sync.WaitGroup
	errs := make(chan error, logins)
	for i := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%len(stores)]
			created := now.Add(time.Duration(i) * time.Millisecond)
			r := sessionstore.Record{Data: map[string]json.RawMessage{"n": json.RawMessage(fmt.Sprint(i))},
				CreatedAt: created, ExpiresAt: now.Add(time.Hour), UserID: "alice", MaxPerUser: capN}
			if err := s.Create(context.Background(), sessionstore.HashID(fmt.Sprint("login-", i)), r, now); err != nil {
				errs <- fmt.Errorf("login %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		failed++
		if failed <= 3 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d capped logins failed", failed, logins)
	}
	// One more login through the coordinator settles the cap.
	last := sessionstore.HashID("login-last")
	r := sessionstore.Record{Data: map[string]json.RawMessage{}, CreatedAt: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour), UserID: "alice", MaxPerUser: capN}
	if err := stores[0].Create(context.Background(), last, r, now); err != nil {
		t.Fatal(err)
	}
	list, err := stores[0].ListUser(context.Background(), "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != capN || list[0].Hash != last {
		t.Errorf("after the logins alice has %d sessions (newest %x), want %d with the last login first", len(list), list[0].Hash[:4], capN)
	}
}
