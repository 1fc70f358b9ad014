package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

var queryName = regexp.MustCompile(`-- name: (\w+)`)

// recordedPool is a pool on dsn whose statements rec records.
func recordedPool(t *testing.T, dsn string) (*pgxpool.Pool, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, rec
}

// tracedStore is a Store on a fresh schema whose pool records every
// statement it sends; names returns (and forgets) their sqlc names.
func tracedStore(t *testing.T) (*pgstore.Store, *pgtest.Env, func() []string) {
	t.Helper()
	e := pgtest.Migrated(t)
	pool, rec := recordedPool(t, e.DSN)
	return pgstore.New(pool), e, func() []string {
		var names []string
		for _, c := range rec.take() {
			if m := queryName.FindStringSubmatch(c.sql); m != nil {
				names = append(names, m[1])
			}
		}
		return names
	}
}

func wantStatements(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s sent %v, want %v", what, got, want)
	}
}

// TestWriteStatements asserts which statements each kind of write sends:
// a login is one plain INSERT, a change of values one MergeData (no size
// measured on the server), and only a change of the user, or one near the
// size limit, the general MergeSession.
func TestWriteStatements(t *testing.T) {
	s, e, names := tracedStore(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	h := sessionstore.HashID("statements")
	rec := sessionstore.Record{Data: map[string]json.RawMessage{"a": json.RawMessage(`"` + strings.Repeat("a", 800) + `"`)},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), MaxBytes: 1000}
	if err := s.Create(ctx, h, rec, now); err != nil {
		t.Fatal(err)
	}
	wantStatements(t, "Create", names(), "InsertNewAnonymousSession")
	owned := rec
	owned.UserID = "u0"
	if err := s.Create(ctx, sessionstore.HashID("statements of u0"), owned, now); err != nil {
		t.Fatal(err)
	}
	wantStatements(t, "Create with a user", names(), "InsertNewSession")
	device := rec
	device.Device = &sessionstore.Device{LastSeen: now, IP: "192.0.2.1"}
	if err := s.Create(ctx, sessionstore.HashID("statements of a device"), device, now); err != nil {
		t.Fatal(err)
	}
	wantStatements(t, "Create with a device record", names(), "InsertNewSession")
	var users, devices int
	if err := e.Pool.QueryRow(ctx, `SELECT count(user_id), count(ip) FROM http_sessions`).Scan(&users, &devices); err != nil || users != 1 || devices != 1 {
		t.Errorf("after three logins: %d rows with a user, %d with an ip (%v); want 1 and 1", users, devices, err)
	}
	set := func(v string) sessionstore.Change {
		return sessionstore.Change{Set: map[string]json.RawMessage{"n": json.RawMessage(v)}, ExpiresAt: now.Add(2 * time.Hour), MaxBytes: 1000}
	}
	if err := s.Update(ctx, h, set(`1`), now); err != nil {
		t.Fatal(err)
	}
	wantStatements(t, "a one-key Update far from the limit", names(), "MergeData")
	user := "u1"
	c := set(`2`)
	c.UserID = &user
	if err := s.Update(ctx, h, c, now); err != nil {
		t.Fatal(err)
	}
	wantStatements(t, "an Update that sets the user", names(), "MergeSession")
	// The stored {"a": "a…", "n": 2} prints in 817 bytes: n of 180 bytes
	// makes it 998, within the limit, but 817 is over the budget (1000
	// less the 189 bytes of the whole new entry): the exact check decides.
	if err := s.Update(ctx, h, set(`"`+strings.Repeat("n", 180)+`"`), now); err != nil {
		t.Fatal(err)
	}
	wantStatements(t, "an Update near the limit that fits", names(), "MergeData", "MergeSession")
	var se *sessionstore.SizeError
	if err := s.Update(ctx, h, set(`"`+strings.Repeat("n", 300)+`"`), now); !errors.As(err, &se) {
		t.Fatalf("an Update past the limit: err = %v, want a SizeError", err)
	}
	wantStatements(t, "an Update past the limit", names(), "MergeData", "MergeSession", "MergedSize")
	var n string
	if err := e.Pool.QueryRow(ctx, `SELECT data->>'n' FROM http_sessions WHERE id_hash = $1`, h[:]).Scan(&n); err != nil || n != strings.Repeat("n", 180) {
		t.Errorf("after the refused Update, n = %q (%v), want the 180 bytes stored before", n, err)
	}
}

// TestCreateOverDeadRow: a login whose hash a dead (expired, unreaped) row
// still has replaces it, after the plain INSERT fails; a live one is kept.
func TestCreateOverDeadRow(t *testing.T) {
	s, e, names := tracedStore(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	h := sessionstore.HashID("dead")
	old := sessionstore.Record{Data: map[string]json.RawMessage{"old": json.RawMessage(`1`)}, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	if err := s.Create(ctx, h, old, now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	names()
	fresh := sessionstore.Record{Data: map[string]json.RawMessage{"new": json.RawMessage(`2`)}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.Create(ctx, h, fresh, now); err != nil {
		t.Fatalf("Create over a dead row: %v", err)
	}
	wantStatements(t, "Create over a dead row", names(), "InsertNewAnonymousSession", "InsertSession")
	var data string
	if err := e.Pool.QueryRow(ctx, `SELECT data::text FROM http_sessions`).Scan(&data); err != nil || data != `{"new": 2}` {
		t.Errorf("the row after Create over a dead one: %s (%v), want the new data", data, err)
	}
	if err := s.Create(ctx, h, old, now); !errors.Is(err, sessionstore.ErrExists) {
		t.Errorf("Create over a live row: err = %v, want ErrExists", err)
	}
}

// TestExponentCountsAsPrinted: jsonb prints 1e900 as 901 digits, so such
// a number counts at that size against the limit, on Create and on Update
// (it is not in the budget a lean write assumes).
func TestExponentCountsAsPrinted(t *testing.T) {
	s, e, _ := tracedStore(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	big := map[string]json.RawMessage{"n": json.RawMessage(`1e900`)}
	var se *sessionstore.SizeError
	err := s.Create(ctx, sessionstore.HashID("e1"), sessionstore.Record{Data: big, CreatedAt: now, ExpiresAt: now.Add(time.Hour), MaxBytes: 500}, now)
	if !errors.As(err, &se) {
		t.Errorf("Create of 1e900 under a 500-byte limit: err = %v, want a SizeError", err)
	}
	h := sessionstore.HashID("e2")
	small := map[string]json.RawMessage{"flag": json.RawMessage(`true`)}
	if err := s.Create(ctx, h, sessionstore.Record{Data: small, CreatedAt: now, ExpiresAt: now.Add(time.Hour), MaxBytes: 500}, now); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, h, sessionstore.Change{Set: big, ExpiresAt: now.Add(time.Hour), MaxBytes: 500}, now)
	if !errors.As(err, &se) {
		t.Errorf("Update to 1e900 under a 500-byte limit: err = %v, want a SizeError", err)
	}
	var size int
	if err := e.Pool.QueryRow(ctx, `SELECT max(octet_length(data::text)) FROM http_sessions`).Scan(&size); err != nil || size > 500 {
		t.Errorf("largest stored data: %d bytes (%v), want <= 500", size, err)
	}
}

// TestConcurrentWritesNearTheLimit: 16 concurrent one-key writes to a
// session whose limit leaves room for some of them: the lean statement and
// the exact one race, and still every write that reports success is
// stored, no refused one is, and the data never passes the limit.
func TestConcurrentWritesNearTheLimit(t *testing.T) {
	s, e, _ := tracedStore(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	h := sessionstore.HashID("near")
	const limit = 2000
	if err := s.Create(ctx, h, sessionstore.Record{Data: map[string]json.RawMessage{"keep": json.RawMessage(`"me"`)}, CreatedAt: now, ExpiresAt: now.Add(time.Hour), MaxBytes: limit}, now); err != nil {
		t.Fatal(err)
	}
	value := json.RawMessage(`"` + strings.Repeat("v", 200) + `"`)
	errs := make([]error, 16)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.Update(ctx, h, sessionstore.Change{Set: map[string]json.RawMessage{fmt.Sprintf("k%02d", i): value}, ExpiresAt: now.Add(time.Hour), MaxBytes: limit}, now)
		})
	}
	wg.Wait()
	got, err := s.Load(ctx, h, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Data, err = got.Values(); err != nil {
		t.Fatal(err)
	}
	saved := 0
	for i, err := range errs {
		_, stored, verr := got.Value(fmt.Sprintf("k%02d", i))
		if verr != nil {
			t.Fatal(verr)
		}
		var se *sessionstore.SizeError
		switch {
		case err == nil && stored:
			saved++
		case err != nil && !stored && errors.As(err, &se):
		default:
			t.Errorf("write %d: err %v, stored %v", i, err, stored)
		}
	}
	var size int
	if err := e.Pool.QueryRow(ctx, `SELECT octet_length(data::text) FROM http_sessions`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	// Each entry prints as "kNN": "v…" and ", ": 211 bytes; {"keep": "me"} is 14.
	if size > limit || saved != (limit-14)/211 {
		t.Errorf("%d of 16 writes stored, data %d bytes; want %d stored, at most %d bytes", saved, size, (limit-14)/211, limit)
	}
}

// TestWriteKeepsCookieJSON: a request that changes one value sends only
// that value; the stored cookie JSON is left byte for byte as it was.
func TestWriteKeepsCookieJSON(t *testing.T) {
	s, e, names := tracedStore(t)
	m, err := sessions.New(s, sessions.Options{Secrets: []string{"write test secret, 32 bytes or more"}, Cookie: sessions.CookieOptions{MaxAge: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss := sessions.FromContext(r.Context())
		var n int
		_, _ = ss.Get("n", &n)
		_ = ss.Set("n", n+1)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	cookie := w.Result().Cookies()[0]
	cookieJSON := func() string {
		var c string
		if err := e.Pool.QueryRow(context.Background(), `SELECT data->>'cookie' FROM http_sessions`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := cookieJSON()
	names()
	time.Sleep(5 * time.Millisecond) // a rewritten cookie JSON would carry a later expires
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(cookie)
	h.ServeHTTP(httptest.NewRecorder(), r)
	wantStatements(t, "a request that changes one value", names(), "GetSessionNow", "MergeData")
	if after := cookieJSON(); after != before {
		t.Errorf("cookie JSON rewritten by a write of one value:\nbefore %s\nafter  %s", before, after)
	}
}
