package pgstore_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// A pool that follows a primary failover (docs/FAILOVER.md): both servers
// in the DSN, only a writable one accepted, dead connections noticed
// within a second. (It needs servers, so it is compiled but not run here.)
func Example_failover() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig("host=db1.internal,db2.internal port=5432,5432 " +
		"dbname=app user=app sslmode=verify-full " +
		"target_session_attrs=read-write connect_timeout=3")
	if err != nil {
		log.Fatal(err)
	}
	cfg.HealthCheckPeriod = time.Second     // drop dead idle connections soon after a failover
	cfg.MaxConnLifetime = 15 * time.Minute  // pick up DNS or endpoint changes
	cfg.MaxConnLifetimeJitter = time.Minute // and not all at once
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	m, err := sessions.New(pgstore.New(pool), sessions.Options{
		Secrets:      []string{os.Getenv("SESSION_SECRET")},
		StoreTimeout: 3 * time.Second, // a request waits at most this long for the store
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(":8080", m.Handler(http.NotFoundHandler())))
}
