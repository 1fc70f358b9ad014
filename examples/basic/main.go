// Command basic is sqlsession's demo: log in (with "remember me"), count
// visits, see and revoke your active sessions, log out (here or
// everywhere).
//
// It keeps sessions in SQLite (./sqlsession-demo.db) by default, or in
// PostgreSQL when DATABASE_URL is set, and runs the migrations at start.
//
//	go run ./examples/basic                      # http://127.0.0.1:8080
//	DATABASE_URL=postgres://... go run ./examples/basic
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

const devSecret = "sqlsession-demo-secret-do-not-use-in-production"

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	sqlitePath := flag.String("db", "sqlsession-demo.db", "SQLite file (when DATABASE_URL is not set)")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := config{addr: *addr, databaseURL: os.Getenv("DATABASE_URL"), sqlitePath: *sqlitePath, secret: os.Getenv("SESSION_SECRET")}
	if err := run(ctx, cfg, os.Stdout, logger); err != nil {
		logger.Error("demo stopped", "err", err)
		os.Exit(1)
	}
}

// config is the demo's settings, from flags and the environment.
type config struct {
	addr        string // listen address; port 0 picks a free one
	databaseURL string // PostgreSQL when set
	sqlitePath  string // else this SQLite file
	secret      string // empty: a development secret, with a warning
}

// run serves the demo until ctx is done. It writes the URL to out once the
// listener is bound.
func run(ctx context.Context, cfg config, out io.Writer, logger *slog.Logger) error {
	store, where, closeStore, err := openStore(ctx, cfg.databaseURL, cfg.sqlitePath)
	if err != nil {
		return err
	}
	defer closeStore()
	secret := cfg.secret
	if secret == "" {
		secret = devSecret
		logger.Warn("SESSION_SECRET is not set: using a built-in development secret. Never do this in production.")
	}
	h, err := newApp(store, secret, logger)
	if err != nil {
		return err
	}
	reaper := &sessions.Reaper{Store: store, Interval: 5 * time.Minute, Logger: logger}
	if err := reaper.Start(); err != nil {
		return err
	}
	defer reaper.Stop()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Bound: the URL works from now on (with -addr :0, it names the port picked).
	fmt.Fprintf(out, "sqlsession demo (%s) listening on http://%s\n", where, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	}
}

// openStore opens and migrates the database: Postgres when databaseURL is
// set, else the SQLite file.
func openStore(ctx context.Context, databaseURL, sqlitePath string) (sessions.Store, string, func(), error) {
	if databaseURL != "" {
		pool, err := pgxpool.New(ctx, databaseURL)
		if err != nil {
			return nil, "", nil, fmt.Errorf("postgres: %w", err)
		}
		sqlDB := stdlib.OpenDBFromPool(pool)
		err = db.Migrate(ctx, sqlDB, db.Postgres)
		_ = sqlDB.Close()
		if err != nil {
			pool.Close()
			return nil, "", nil, err
		}
		return pgstore.New(pool), "PostgreSQL", pool.Close, nil
	}
	conn, err := sqlitestore.Open(ctx, sqlitePath)
	if err != nil {
		return nil, "", nil, err
	}
	if err := db.Migrate(ctx, conn, db.SQLite); err != nil {
		_ = conn.Close()
		return nil, "", nil, err
	}
	return sqlitestore.New(conn), "SQLite " + sqlitePath, func() { _ = conn.Close() }, nil
}
