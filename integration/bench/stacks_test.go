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

// Routes every stack serves.
const (
	routeRead       = "read"            // session loaded, unchanged
	routeWrite      = "write"           // one key changed
	routeRolling    = "rolling"         // read with the expiry extended on every request
	routeRollingTA  = "rolling-touch1m" // rolling read, expiry writes at most once a minute (TouchAfter)
	routeNewSession = "new"             // login: a new session is created
)

var routes = []string{routeRead, routeWrite, routeRolling, routeRollingTA, routeNewSession}

// statementCounter counts the SQL statements a pool sends.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// stack is one HTTP session implementation on its own schema and pool.
type stack struct {
	name     string
	handlers map[string]http.Handler
	stmts    *statementCounter
	pool     *pgxpool.Pool
}

func newPool(b *testing.B, e *pgtest.Env) (*pgxpool.Pool, *statementCounter) {
	cfg, err := pgxpool.ParseConfig(e.DSN)
	if err != nil {
		b.Fatal(err)
	}
	c := &statementCounter{}
	cfg.ConnConfig.Tracer = c
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool, c
}

func exec(b *testing.B, pool *pgxpool.Pool, sql string) {
	b.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		b.Fatal(err)
	}
}

// --- (1) the ceiling: the SQL a session needs, with nothing around it.

func ceilingStack(b *testing.B) stack {
	pool, c := newPool(b, pgtest.NewOn(b, testpg.ServerDSN(b)))
	exec(b, pool, `CREATE TABLE ceiling_sessions (id_hash bytea PRIMARY KEY, data jsonb NOT NULL, expires_at timestamptz NOT NULL)`)
	token := func(r *http.Request) ([]byte, bool) {
		ck, err := r.Cookie("sid")
		if err != nil {
			return nil, false
		}
		h := sha256.Sum256([]byte(ck.Value))
		return h[:], true
	}
	load := func(w http.ResponseWriter, r *http.Request) ([]byte, []byte, bool) {
		h, ok := token(r)
		if !ok {
			http.Error(w, "no cookie", 400)
			return nil, nil, false
		}
		var data []byte
		if err := pool.QueryRow(r.Context(), `SELECT data FROM ceiling_sessions WHERE id_hash = $1 AND expires_at > now()`, h).Scan(&data); err != nil {
			http.Error(w, err.Error(), 500)
			return nil, nil, false
		}
		return h, data, true
	}
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, data, ok := load(w, r); ok {
			w.Write(data[:1])
		}
	})
	rolling := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, _, ok := load(w, r); ok {
			if _, err := pool.Exec(r.Context(), `UPDATE ceiling_sessions SET expires_at = now() + interval '1 day' WHERE id_hash = $1`, h); err != nil {
				http.Error(w, err.Error(), 500)
			}
		}
	})
	return stack{name: "ceiling (raw pgx)", stmts: c, pool: pool, handlers: map[string]http.Handler{
		routeRead:      read,
		routeRollingTA: read, // at most one expiry write a minute: almost always just the read
		routeRolling:   rolling,
		routeWrite: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h, _, ok := load(w, r); ok {
				if _, err := pool.Exec(r.Context(), `INSERT INTO ceiling_sessions (id_hash, data, expires_at) VALUES ($1, '{}', now() + interval '1 day')
					ON CONFLICT (id_hash) DO UPDATE SET data = ceiling_sessions.data || jsonb_build_object('n', coalesce((ceiling_sessions.data->>'n')::int, 0) + 1)`, h); err != nil {
					http.Error(w, err.Error(), 500)
				}
			}
		}),
		routeNewSession: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := rand.Text()
			h := sha256.Sum256([]byte(id))
			if _, err := pool.Exec(r.Context(), `INSERT INTO ceiling_sessions (id_hash, data, expires_at) VALUES ($1, '{"user":"u"}', now() + interval '1 day')`, h[:]); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: id, Path: "/", HttpOnly: true})
		}),
	}}
}

// --- (2) sqlsession + pgstore.

func sqlsessionStack(b *testing.B) stack {
	pool, c := newPool(b, testpg.Migrated(b))
	store := pgstore.New(pool)
	mk := func(opts sessions.Options, h http.HandlerFunc) http.Handler {
		opts.Secrets = []string{"bench secret"}
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
		w.Write([]byte(u[:1]))
	}
	return stack{name: "sqlsession + pgstore", stmts: c, pool: pool, handlers: map[string]http.Handler{
		routeRead:      mk(sessions.Options{}, read), // defaults: touches the expiry on every request, as express-session does
		routeRolling:   mk(sessions.Options{Rolling: true}, read),
		routeRollingTA: mk(sessions.Options{Rolling: true, TouchAfter: time.Minute}, read),
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

func scsStack(b *testing.B) stack {
	pool, c := newPool(b, pgtest.NewOn(b, testpg.ServerDSN(b)))
	exec(b, pool, `CREATE TABLE sessions (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL);
		CREATE INDEX sessions_expiry_idx ON sessions (expiry)`)
	mk := func(idle time.Duration, h func(sm *scs.SessionManager) http.HandlerFunc) http.Handler {
		sm := scs.New()
		sm.Store = pgxstore.NewWithCleanupInterval(pool, 0)
		sm.Cookie.Name = "sid"
		sm.IdleTimeout = idle
		return sm.LoadAndSave(h(sm))
	}
	read := func(sm *scs.SessionManager) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(sm.GetString(r.Context(), "user")[:1])) }
	}
	return stack{name: "scs + pgxstore", stmts: c, pool: pool, handlers: map[string]http.Handler{
		routeRead:      mk(0, read),
		routeRolling:   mk(24*time.Hour, read), // IdleTimeout: scs re-commits on every request
		routeRollingTA: mk(24*time.Hour, read), // scs has no TouchAfter
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

func gorillaStack(b *testing.B) stack {
	pool, c := newPool(b, pgtest.NewOn(b, testpg.ServerDSN(b)))
	exec(b, pool, `CREATE TABLE gorilla_sessions (id bigserial PRIMARY KEY, key text UNIQUE NOT NULL, data bytea NOT NULL,
		created_on timestamptz NOT NULL, modified_on timestamptz NOT NULL, expires_on timestamptz NOT NULL)`)
	store := &gorillaPGStore{pool: pool, codec: securecookie.New([]byte("bench-hash-key-32-bytes-long!!!!"), nil)}
	get := func(w http.ResponseWriter, r *http.Request) *gsessions.Session {
		sess, err := store.Get(r, "sid")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return nil
		}
		return sess
	}
	save := func(w http.ResponseWriter, r *http.Request, sess *gsessions.Session) {
		if err := sess.Save(r, w); err != nil {
			http.Error(w, err.Error(), 500)
		}
	}
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sess := get(w, r); sess != nil {
			u, _ := sess.Values["user"].(string)
			w.Write([]byte(u[:1]))
		}
	})
	rolling := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sess := get(w, r); sess != nil {
			save(w, r, sess) // gorilla extends a session by saving it whole
		}
	})
	return stack{name: "gorilla/sessions + Postgres", stmts: c, pool: pool, handlers: map[string]http.Handler{
		routeRead:      read,
		routeRolling:   rolling,
		routeRollingTA: rolling, // no TouchAfter in gorilla
		routeWrite: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sess := get(w, r); sess != nil {
				n, _ := sess.Values["n"].(int)
				sess.Values["n"] = n + 1
				save(w, r, sess)
			}
		}),
		routeNewSession: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sess := get(w, r); sess != nil {
				sess.Values["user"] = "u"
				save(w, r, sess)
			}
		}),
	}}
}

func allStacks(b *testing.B) []stack {
	return []stack{ceilingStack(b), sqlsessionStack(b), scsStack(b), gorillaStack(b)}
}
