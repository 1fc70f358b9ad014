package integration

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// Stop Postgres under load: requests get 5xx from the ErrorHandler, nothing
// panics; start it again: requests succeed again without restarting the
// app; no acknowledged write is lost and no row is half-written; no
// goroutine is left behind.
func TestPostgresGoesDownAndComesBack(t *testing.T) {
	pg := startPrivatePG(t)
	baseline := runtime.NumGoroutine()

	cfg, err := pgxpool.ParseConfig(pg.dsn())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	if err := db.Migrate(context.Background(), sqlDB, db.Postgres); err != nil {
		t.Fatal(err)
	}
	_ = sqlDB.Close()

	var panics atomic.Int64
	srv := httptest.NewUnstartedServer(app(t, pgstore.New(pool), sessions.Options{StoreTimeout: 3 * time.Second, Logger: slog.New(slog.DiscardHandler)}))
	srv.Config.ErrorLog = log.New(panicCounter{&panics}, "", 0)
	srv.Start()

	// Four users, each writing distinct keys to their own session.
	const users = 4
	clients := make([]*client, users)
	ids := make([]string, users)
	for i := range clients {
		clients[i] = newClient(t, srv)
		if code, _, _ := clients[i].do("POST", "/login", url.Values{"user": {fmt.Sprint("user", i)}}); code != 200 {
			t.Fatalf("login %d: %d", i, code)
		}
		ids[i] = clients[i].sessionID()
	}
	var (
		mu    sync.Mutex
		acked = make([][]string, users) // keys whose write got 200
		codes = map[int]int{}
	)
	load := func(stop <-chan struct{}) *sync.WaitGroup {
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					key := fmt.Sprintf("k%d-%d", i, n)
					code, _, _ := clients[i].do("POST", "/set", url.Values{"k": {key}, "v": {"v"}})
					mu.Lock()
					codes[code]++
					if code == 200 {
						acked[i] = append(acked[i], key)
					}
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		return &wg
	}

	stop := make(chan struct{})
	wg := load(stop)
	time.Sleep(300 * time.Millisecond)
	pg.stop()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	down5xx := 0
	for code, n := range codes {
		if code >= 500 {
			down5xx += n
		} else if code != 200 {
			t.Errorf("%d responses with status %d", n, code)
		}
	}
	mu.Unlock()
	if down5xx == 0 {
		t.Error("no 5xx while the database was down")
	}

	pg.start()
	// Recovery without restarting the app: bounded retries, no timing claim.
	recovered := false
	for range 100 {
		if code, _, _ := clients[0].do("GET", "/count", nil); code == 200 {
			recovered = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !recovered {
		t.Fatal("requests still fail after the database came back")
	}
	stop = make(chan struct{})
	wg = load(stop)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	// Every acknowledged key is stored; every row is a whole JSON object.
	for i, id := range ids {
		h := hashOf(id)
		var raw string
		if err := pool.QueryRow(context.Background(), `SELECT data::text FROM http_sessions WHERE id_hash = $1`, h[:]).Scan(&raw); err != nil {
			t.Fatalf("user %d row: %v", i, err)
		}
		for _, k := range acked[i] {
			if !strings.Contains(raw, `"`+k+`": "v"`) {
				t.Errorf("user %d: acknowledged key %s is not stored", i, k)
			}
		}
	}
	if panics.Load() != 0 {
		t.Errorf("%d handler panics", panics.Load())
	}

	srv.Close()
	pool.Close()
	http.DefaultClient.CloseIdleConnections()
	for _, c := range clients {
		c.http.CloseIdleConnections()
	}
	var now int
	for range 100 {
		if now = runtime.NumGoroutine(); now <= baseline+2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now > baseline+2 {
		t.Errorf("goroutines: %d before, %d after", baseline, now)
	}
}

type panicCounter struct{ n *atomic.Int64 }

func (p panicCounter) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "panic") {
		p.n.Add(1)
	}
	return len(b), nil
}
