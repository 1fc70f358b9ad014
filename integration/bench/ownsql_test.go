package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/internal/pgdb"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// ownSQLName is the stack that splits sqlsession's distance to the
// ceiling in two: raw pgx, like the ceiling, but sending sqlsession's own
// statements (pgdb, as pgstore calls them for each route) with the
// document a sqlsession login stores (express-session's cookie object and
// the value). Ceiling → this stack is what the statements and the stored
// document cost; this stack → sqlsession is the library's Go side.
const ownSQLName = "raw pgx, sqlsession's statements"

// ownSQLStack serves every route as sqlsession + pgstore does with its
// defaults, statement for statement, without the library around them.
func ownSQLStack(b *testing.B) goStack {
	pool, c := newPool(b, testpg.Migrated(b))
	q := pgdb.New(pool)
	doc := loginDocument(b)
	const maxAge = 24 * time.Hour
	load := func(w http.ResponseWriter, r *http.Request) ([]byte, pgdb.GetSessionNowRow, bool) {
		ck, err := r.Cookie("sid")
		if err != nil {
			http.Error(w, "no cookie", http.StatusBadRequest)
			return nil, pgdb.GetSessionNowRow{}, false
		}
		h := sha256.Sum256([]byte(ck.Value))
		row, err := q.GetSessionNow(r.Context(), h[:])
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return nil, row, false
		}
		return h[:], row, true
	}
	read := func(w http.ResponseWriter, r *http.Request) {
		if _, row, ok := load(w, r); ok {
			_, _ = w.Write([]byte(row.Data[:1]))
		}
	}
	// wrote answers 500 unless the statement changed exactly one row: a
	// merge or touch that found nothing would otherwise pass for a fast one.
	wrote := func(w http.ResponseWriter, n int64, err error) {
		if err == nil && n != 1 {
			err = fmt.Errorf("%d rows changed, want 1", n)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
	return goStack{name: ownSQLName, stmts: c, pool: pool, tables: []string{"http_sessions"}, routes: map[string]http.Handler{
		routeRead:    http.HandlerFunc(read),
		routeRolling: http.HandlerFunc(read), // TouchAfter: almost always just the read, as sqlsession's
		routeRollingEvery: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h, _, ok := load(w, r); ok {
				now := time.Now()
				n, err := q.TouchSession(r.Context(), pgdb.TouchSessionParams{ExpiresAt: now.Add(maxAge), IDHash: h, Now: now})
				wrote(w, n, err)
			}
		}),
		routeWrite: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h, _, ok := load(w, r); ok {
				now := time.Now()
				exp := now.Add(maxAge)
				changed := json.RawMessage(`{"n":` + strconv.Itoa(int(now.UnixNano()%1000)) + `}`)
				budget := sessions.DefaultMaxDataBytes - sessionstore.EntrySize("n", len(changed)-len(`{"n":}`))
				n, err := q.MergeData(r.Context(), pgdb.MergeDataParams{Changed: changed, ExpiresAt: &exp, IDHash: h, Now: now, Budget: int32(budget)})
				wrote(w, n, err)
			}
		}),
		routeNewSession: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := rand.Text()
			h := sha256.Sum256([]byte(id))
			now := time.Now()
			if err := q.InsertNewAnonymousSession(r.Context(), pgdb.InsertNewAnonymousSessionParams{
				IDHash: h[:], Data: doc, ExpiresAt: now.Add(maxAge), CreatedAt: now}); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: id, Path: "/", HttpOnly: true})
		}),
	}}
}

// captureStore keeps the document of the last session created through it.
type captureStore struct {
	sessionstore.Store
	doc []byte
}

func (s *captureStore) Create(ctx context.Context, h sessionstore.IDHash, r sessionstore.Record, now time.Time) error {
	doc, err := sessionstore.EncodeData(r.Data)
	if err != nil {
		return err
	}
	s.doc = doc
	return s.Store.Create(ctx, h, r, now)
}

// loginDocument is what the sqlsession stack's login stores: its
// handler's value and the cookie object, as its options produce them.
func loginDocument(b *testing.B) json.RawMessage {
	b.Helper()
	store := &captureStore{Store: memstore.New()}
	m, err := sessions.New(store, sessions.Options{Secrets: []string{"bench secret: 32 bytes or more!!"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Set("user", "u")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/new", nil))
	if store.doc == nil {
		b.Fatal("the sqlsession login stored nothing")
	}
	return store.doc
}
