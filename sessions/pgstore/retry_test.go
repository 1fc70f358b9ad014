package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// A statement that fails with a serialization failure (40001, as
// CockroachDB and YugabyteDB raise under contention) is run once more; a
// second failure is returned. A trigger injects the failures: a sequence,
// which rollbacks do not undo, counts them.
func TestRetriesSerializationFailureOnce(t *testing.T) {
	e := pgtest.Migrated(t)
	if pgtest.IsCitus(t, e) { // Citus has no triggers on distributed tables: test on a local one
		if _, err := e.DB.Exec(`SELECT undistribute_table('http_sessions')`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.DB.Exec(`CREATE SEQUENCE fail_seq;
		CREATE TABLE fail_budget (n bigint NOT NULL);
		INSERT INTO fail_budget VALUES (0);
		CREATE FUNCTION fail_serialization() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('fail_seq') <= (SELECT n FROM fail_budget) THEN
				RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER fail_serialization BEFORE UPDATE ON http_sessions FOR EACH ROW EXECUTE FUNCTION fail_serialization()`); err != nil {
		t.Fatal(err)
	}
	s := pgstore.New(e.Pool)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	h := sessions.HashID("retry")
	if err := s.Create(ctx, h, sessionstore.Record{Data: map[string]json.RawMessage{"a": json.RawMessage(`1`)}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	budget := func(n int) {
		t.Helper()
		if _, err := e.DB.Exec(`SELECT setval('fail_seq', 1, false)`); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DB.Exec(`UPDATE fail_budget SET n = $1`, n); err != nil {
			t.Fatal(err)
		}
	}

	budget(1) // the first attempt fails, the retry succeeds
	if err := s.Touch(ctx, h, now.Add(2*time.Hour), nil, now); err != nil {
		t.Fatalf("Touch with one serialization failure: %v (want it retried)", err)
	}
	if r, err := s.Load(ctx, h, now); err != nil || !r.ExpiresAt.Equal(now.Add(2*time.Hour)) {
		t.Errorf("after the retried Touch: expires %v, %v", r.ExpiresAt, err)
	}

	budget(2) // both attempts fail: the error comes back
	err := s.Touch(ctx, h, now.Add(3*time.Hour), nil, now)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "40001" {
		t.Errorf("Touch with two serialization failures: err = %v, want the 40001 error", err)
	}
	if r, err := s.Load(ctx, h, now); err != nil || !r.ExpiresAt.Equal(now.Add(2*time.Hour)) {
		t.Errorf("after the failed Touch: expires %v (want unchanged), %v", r.ExpiresAt, err)
	}
}
