package pgstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/internal/pgtest"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// BenchmarkLoad is one Load of a live session at a time, on the store's
// default configuration (with its standby check): the cost of the hot read
// path, allocations included.
func BenchmarkLoad(b *testing.B) {
	e := pgtest.Migrated(b)
	s := pgstore.New(e.Pool)
	ctx := context.Background()
	h := sessions.HashID("bench-load")
	now := time.Now()
	rec := sessionstore.Record{Data: map[string]json.RawMessage{"user": json.RawMessage(`"alice"`)}, CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserID: "alice"}
	if err := s.Create(ctx, h, rec, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, h, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
