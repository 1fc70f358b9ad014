// Command quickstart is the README's SQLite variant, kept here so it compiles
// (examples/readme_test.go checks that the README shows this file).
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	_ "modernc.org/sqlite"

	"github.com/sqlsession/sqlsession/db"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

func main() {
	ctx := context.Background()
	conn, err := sqlitestore.Open(ctx, "sessions.db") // or pgxpool + pgstore.New
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Migrate(ctx, conn, db.SQLite); err != nil {
		log.Fatal(err)
	}
	m, err := sessions.New(sqlitestore.New(conn), sessions.Options{
		Secrets: []string{os.Getenv("SESSION_SECRET")},
		Cookie:  sessions.CookieOptions{SameSite: http.SameSiteLaxMode, Secure: sessions.SecureAuto},
	})
	if err != nil {
		log.Fatal(err) // e.g. SESSION_SECRET is empty
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", routes(m)))
}

// routes counts each visitor's page views in their session.
func routes(m *sessions.Manager) http.Handler {
	mux := http.NewServeMux()
	// Browsers fetch /favicon.ico with every page: answer it outside the
	// session, so that a page load counts once.
	mux.Handle("/favicon.ico", http.NotFoundHandler())
	mux.Handle("/", m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		var views int
		_, _ = s.Get("views", &views)
		_ = s.Set("views", views+1)
		fmt.Fprintf(w, "views: %d\n", views+1)
	})))
	return mux
}
