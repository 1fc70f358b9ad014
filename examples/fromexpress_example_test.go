package examples

import (
	"log"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// The Go side of docs/NODE.md's "Moving from express-session", step 4: the
// express app's cookie name and secrets, on the table connect-sqlsession
// writes. (Compiled, not run: it needs the express app's database.)
func Example_fromExpress() {
	var pool *pgxpool.Pool // the service's pool on the express app's database
	secrets := strings.Split(os.Getenv("SESSION_SECRETS"), ",")
	m, err := sessions.New(pgstore.New(pool), sessions.Options{
		Name:    "connect.sid", // express-session's default cookie name
		Secrets: secrets,       // as express's secret: the first signs
	})
	// at login, after s.Regenerate: s.SetUser(id); s.Set("user", id)
	if err != nil {
		log.Fatal(err)
	}
	_ = m
}
