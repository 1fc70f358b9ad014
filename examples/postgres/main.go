// Command postgres is the README's quick start on PostgreSQL: a pgx pool,
// the embedded migrations, a background Reaper and the session middleware.
//
//	DATABASE_URL=postgres://app@localhost:5432/app SESSION_SECRET=... go run ./examples/postgres
//
// An empty or missing DATABASE_URL is an error: the program never falls
// back to libpq's defaults (local socket, your user name as the database).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

func main() {
	serve := func(h http.Handler) error { return http.ListenAndServe("127.0.0.1:8080", h) }
	if err := run(context.Background(), os.Getenv("DATABASE_URL"), os.Getenv("SESSION_SECRET"), serve); err != nil {
		log.Fatal(err)
	}
}

// run connects, migrates, starts the reaper and passes the application's
// handler to serve; everything is released when serve returns.
func run(ctx context.Context, databaseURL, secret string, serve func(http.Handler) error) error {
	if strings.TrimSpace(databaseURL) == "" { // never let libpq's defaults pick a database
		return errors.New("DATABASE_URL is not set (e.g. postgres://app@localhost:5432/app)")
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()

	sqlDB := stdlib.OpenDBFromPool(pool) // database/sql over the same pool
	err = db.Migrate(ctx, sqlDB, db.Postgres)
	_ = sqlDB.Close() // the pool stays open
	if err != nil {
		return err
	}

	store := pgstore.New(pool)
	m, err := sessions.New(store, sessions.Options{
		Secrets: []string{secret},
		Cookie:  sessions.CookieOptions{SameSite: http.SameSiteLaxMode, Secure: sessions.SecureAuto},
	})
	if err != nil {
		return err // e.g. SESSION_SECRET is empty
	}

	r := &sessions.Reaper{Store: store, Interval: 5 * time.Minute}
	if err := r.Start(); err != nil {
		return err
	}
	defer r.Stop() // waits for a batch in flight; leaves no goroutine behind

	mux := http.NewServeMux()
	mux.Handle("/favicon.ico", http.NotFoundHandler()) // a page load counts once
	mux.Handle("/", m.Handler(http.HandlerFunc(views)))
	return serve(mux)
}

// views counts the visitor's page views in their session.
func views(w http.ResponseWriter, r *http.Request) {
	s := sessions.FromContext(r.Context())
	var n int
	_, _ = s.Get("views", &n)
	if err := s.Set("views", n+1); err != nil {
		http.Error(w, "could not count", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "views: %d\n", n+1)
}
