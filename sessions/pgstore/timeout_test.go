package pgstore_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// A save that waits on a row another transaction holds ends at
// Options.StoreTimeout with a 500: the middleware's store context (a
// deadline shared per tick, watched by pgx through its AfterFunc) ends the
// call. (Whether the cancelled UPDATE still lands once the lock is
// released is up to the server, as with any timeout: the client only
// knows that it was not confirmed.)
func TestStoreTimeoutEndsABlockedSave(t *testing.T) {
	e := pgtest.Migrated(t)
	m, err := sessions.New(pgstore.New(e.Pool), sessions.Options{
		Secrets: []string{"a-test-secret-that-is-32-bytes!!"}, StoreTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Set("n", r.URL.Query().Get("n"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/?n=1", nil))
	cookie, _, _ := strings.Cut(rec.Header().Get("Set-Cookie"), ";")

	ctx := context.Background()
	tx, err := e.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var key []byte // the row, by its key: one shard's row lock on Citus too
	if err := e.Pool.QueryRow(ctx, "SELECT id_hash FROM http_sessions").Scan(&key); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM http_sessions WHERE id_hash = $1 FOR UPDATE", key); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		r := httptest.NewRequest("GET", "/?n=2", nil)
		r.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		done <- w.Code
	}()
	select {
	case code := <-done:
		if code != http.StatusInternalServerError {
			t.Errorf("blocked save answered %d, want 500", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a save blocked on a row lock was not ended by StoreTimeout")
	}
}
