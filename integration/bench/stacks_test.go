package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/securecookie"
	gsessions "github.com/gorilla/sessions"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// Routes every stack serves, as GET /<route>.
const (
	routeRead         = "read"          // session loaded, unchanged; each stack's defaults
	routeWrite        = "write"         // one key changed
	routeRolling      = "rolling"       // rolling session (expiry slides), each stack's defaults
	routeRollingEvery = "rolling-every" // rolling, expiry written on every request (express exact)
	routeNewSession   = "new"           // login: a new session is created
)

var allRoutes = []string{routeRead, routeWrite, routeRolling, routeRollingEvery, routeNewSession}

// routes are the routes BenchmarkPeers measures: all of them, or those
// BENCH_ROUTES names (comma-separated, e.g. BENCH_ROUTES=write,new).
var routes = benchRoutes(os.Getenv("BENCH_ROUTES"))

func benchRoutes(names string) []string {
	if names == "" {
		return allRoutes
	}
	var rs []string
	for _, r := range allRoutes {
		if slices.Contains(strings.Split(names, ","), r) {
			rs = append(rs, r)
		}
	}
	return rs
}

// statementCounter counts the SQL statements a pool sends.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// goStack is one Go session implementation: its routes, on its own schema
// and an 8-connection pool whose statements are counted.
type goStack struct {
	name   string
	routes map[string]http.Handler
	stmts  *statementCounter
	pool   *pgxpool.Pool
	tables []string // VACUUMed before every measurement
}

func newPool(b *testing.B, e *pgtest.Env) (*pgxpool.Pool, *statementCounter) {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(e.DSN)
	if err != nil {
		b.Fatal(err)
	}
	c := &statementCounter{}
	cfg.ConnConfig.Tracer = c
	cfg.MaxConns = 8
	cfg.ConnConfig.RuntimeParams["application_name"] = e.Schema // finds its server processes (cpu.go)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool, c
}

// --- (1) the ceiling: the SQL a session needs, with nothing around it, on
// the same table (columns, indexes) as sqlsession.

const (
	ceilingRead  = `SELECT data, expires_at FROM http_sessions WHERE id_hash = $1 AND expires_at > now()`
	ceilingTouch = `UPDATE http_sessions SET expires_at = now() + interval '1 day' WHERE id_hash = $1 AND expires_at > now()`
	ceilingMerge = `UPDATE http_sessions SET data = data || $2::jsonb, expires_at = now() + interval '1 day' WHERE id_hash = $1 AND expires_at > now()`
	ceilingNew   = `INSERT INTO http_sessions (id_hash, data, expires_at, created_at) VALUES ($1, '{"user":"u"}', now() + interval '1 day', now())`
)

func ceilingStack(b *testing.B) goStack {
	pool, c := newPool(b, testpg.Migrated(b))
	// load runs the read every route needs: data and expiry of a live row.
	load := func(w http.ResponseWriter, r *http.Request) ([]byte, []byte, bool) {
		ck, err := r.Cookie("sid")
		if err != nil {
			http.Error(w, "no cookie", http.StatusBadRequest)
			return nil, nil, false
		}
		h := sha256.Sum256([]byte(ck.Value))
		var data []byte
		var exp time.Time
		if err := pool.QueryRow(r.Context(), ceilingRead, h[:]).Scan(&data, &exp); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return nil, nil, false
		}
		return h[:], data, true
	}
	then := func(sql string, args ...any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h, data, ok := load(w, r)
			if !ok {
				return
			}
			if sql == "" {
				_, _ = w.Write(data[:1])
				return
			}
			if _, err := pool.Exec(r.Context(), sql, append([]any{h}, args...)...); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		}
	}
	return goStack{name: "ceiling (raw pgx)", stmts: c, pool: pool, tables: []string{"http_sessions"}, routes: map[string]http.Handler{
		routeRead:         then(""),
		routeRolling:      then(""), // defaults write the expiry at most once a minute: almost always just the read
		routeRollingEvery: then(ceilingTouch),
		routeWrite:        then(ceilingMerge, `{"n":1}`),
		routeNewSession: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := rand.Text()
			h := sha256.Sum256([]byte(id))
			if _, err := pool.Exec(r.Context(), ceilingNew, h[:]); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: id, Path: "/", HttpOnly: true})
		}),
	}}
}

// --- (2) sqlsession + pgstore.

func sqlsessionStack(b *testing.B) goStack {
	pool, c := newPool(b, testpg.Migrated(b))
	store := pgstore.New(pool)
	mk := func(opts sessions.Options, h http.HandlerFunc) http.Handler {
		opts.Secrets = []string{"bench secret: 32 bytes or more!!"}
		opts.Logger = slog.New(slog.DiscardHandler)
		m, err := sessions.New(store, opts)
		if err != nil {
			b.Fatal(err)
		}
		return m.Handler(h)
	}
	read := func(w http.ResponseWriter, r *http.Request) {
		var u string
		_, _ = sessions.FromContext(r.Context()).Get("user", &u)
		_, _ = w.Write([]byte(u))
	}
	return goStack{name: "sqlsession + pgstore", stmts: c, pool: pool, tables: []string{"http_sessions"}, routes: map[string]http.Handler{
		routeRead:         mk(sessions.Options{}, read), // defaults: TouchAfter one minute
		routeRolling:      mk(sessions.Options{Rolling: true}, read),
		routeRollingEvery: mk(sessions.Options{Rolling: true, TouchAfter: sessions.TouchEveryRequest}, read),
		routeWrite: mk(sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
			s := sessions.FromContext(r.Context())
			var n int
			_, _ = s.Get("n", &n)
			_ = s.Set("n", n+1)
		}),
		routeNewSession: mk(sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
			_ = sessions.FromContext(r.Context()).Set("user", "u")
		}),
	}}
}

// --- (3) alexedwards/scs + pgxstore.

func scsStack(b *testing.B) goStack {
	e := pgtest.NewOn(b, testpg.ServerDSN(b))
	pool, c := newPool(b, e)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE sessions (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL);
		CREATE INDEX sessions_expiry_idx ON sessions (expiry)`); err != nil {
		b.Fatal(err)
	}
	mk := func(idle time.Duration, h func(sm *scs.SessionManager) http.HandlerFunc) http.Handler {
		sm := scs.New()
		sm.Store = pgxstore.NewWithCleanupInterval(pool, 0)
		sm.Cookie.Name = "sid"
		sm.IdleTimeout = idle
		return sm.LoadAndSave(h(sm))
	}
	read := func(sm *scs.SessionManager) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(sm.GetString(r.Context(), "user")))
		}
	}
	return goStack{name: "scs + pgxstore", stmts: c, pool: pool, tables: []string{"sessions"}, routes: map[string]http.Handler{
		routeRead:         mk(0, read),
		routeRolling:      mk(24*time.Hour, read), // IdleTimeout: scs re-commits on every request
		routeRollingEvery: mk(24*time.Hour, read), // scs has no throttle: the same
		routeWrite: mk(0, func(sm *scs.SessionManager) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { sm.Put(r.Context(), "n", sm.GetInt(r.Context(), "n")+1) }
		}),
		routeNewSession: mk(0, func(sm *scs.SessionManager) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { sm.Put(r.Context(), "user", "u") }
		}),
	}}
}

// --- (4) gorilla/sessions with a Postgres store.

// gorillaPGStore is a gorilla/sessions Store on Postgres written for this
// benchmark: antonlindstrom/pgstore and its forks are not available from
// the module proxy here. It does what they do: the cookie carries a
// securecookie-encoded random id; Get is one SELECT of the gob-encoded
// values; Save writes the whole session back with one upsert.
type gorillaPGStore struct {
	pool  *pgxpool.Pool
	codec securecookie.Codec
}

func (s *gorillaPGStore) Get(r *http.Request, name string) (*gsessions.Session, error) {
	return gsessions.GetRegistry(r).Get(s, name)
}

func (s *gorillaPGStore) New(r *http.Request, name string) (*gsessions.Session, error) {
	sess := gsessions.NewSession(s, name)
	sess.Options = &gsessions.Options{Path: "/", MaxAge: 86400, HttpOnly: true}
	sess.IsNew = true
	ck, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	if err := s.codec.Decode(name, ck.Value, &sess.ID); err != nil {
		return sess, nil
	}
	var data []byte
	err = s.pool.QueryRow(r.Context(), `SELECT data FROM gorilla_sessions WHERE key = $1 AND expires_on > now()`, sess.ID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&sess.Values); err != nil {
		return sess, err
	}
	sess.IsNew = false
	return sess, nil
}

func (s *gorillaPGStore) Save(r *http.Request, w http.ResponseWriter, sess *gsessions.Session) error {
	if sess.ID == "" {
		sess.ID = hex.EncodeToString(securecookie.GenerateRandomKey(32))
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(sess.Values); err != nil {
		return err
	}
	if _, err := s.pool.Exec(r.Context(), `INSERT INTO gorilla_sessions (key, data, created_on, modified_on, expires_on) VALUES ($1, $2, now(), now(), now() + interval '1 day')
		ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, modified_on = now(), expires_on = EXCLUDED.expires_on`, sess.ID, buf.Bytes()); err != nil {
		return err
	}
	encoded, err := s.codec.Encode(sess.Name(), sess.ID)
	if err != nil {
		return err
	}
	http.SetCookie(w, gsessions.NewCookie(sess.Name(), encoded, sess.Options))
	return nil
}

func gorillaStack(b *testing.B) goStack {
	pool, c := newPool(b, pgtest.NewOn(b, testpg.ServerDSN(b)))
	if _, err := pool.Exec(context.Background(), `CREATE TABLE gorilla_sessions (id bigserial PRIMARY KEY, key text UNIQUE NOT NULL, data bytea NOT NULL,
		created_on timestamptz NOT NULL, modified_on timestamptz NOT NULL, expires_on timestamptz NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	store := &gorillaPGStore{pool: pool, codec: securecookie.New([]byte("bench-hash-key-32-bytes-long!!!!"), nil)}
	with := func(f func(w http.ResponseWriter, r *http.Request, sess *gsessions.Session)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			sess, err := store.Get(r, "sid")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			f(w, r, sess)
		}
	}
	save := func(w http.ResponseWriter, r *http.Request, sess *gsessions.Session) {
		if err := sess.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
	read := with(func(w http.ResponseWriter, _ *http.Request, sess *gsessions.Session) {
		u, _ := sess.Values["user"].(string)
		_, _ = w.Write([]byte(u))
	})
	rolling := with(save) // gorilla extends a session by saving it whole
	return goStack{name: "gorilla/sessions + Postgres", stmts: c, pool: pool, tables: []string{"gorilla_sessions"}, routes: map[string]http.Handler{
		routeRead:         read,
		routeRolling:      rolling,
		routeRollingEvery: rolling, // no throttle in gorilla
		routeWrite: with(func(w http.ResponseWriter, r *http.Request, sess *gsessions.Session) {
			n, _ := sess.Values["n"].(int)
			sess.Values["n"] = n + 1
			save(w, r, sess)
		}),
		routeNewSession: with(func(w http.ResponseWriter, r *http.Request, sess *gsessions.Session) {
			sess.Values["user"] = "u"
			save(w, r, sess)
		}),
	}}
}
