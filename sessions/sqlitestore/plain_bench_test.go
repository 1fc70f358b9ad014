package sqlitestore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
	"github.com/sqlsession/sqlsession/sessions/sqlitestore"
)

// BenchmarkLoad compares a Load on the recommended DSN with one on a plain
// DSN, where each operation first sets busy_timeout on its connection
// (BENCHMARKS.md).
func BenchmarkLoad(b *testing.B) {
	for _, tc := range []struct {
		name string
		open func(path string) (*sql.DB, error)
	}{{"recommended", recommended}, {"plain", plain}} {
		b.Run(tc.name, func(b *testing.B) {
			s := sqlitestore.New(openMigrated(b, tc.open))
			ctx, now := context.Background(), time.Now()
			h := sessionstore.HashID("bench")
			rec := sessionstore.Record{Data: map[string]json.RawMessage{"user": json.RawMessage(`"alice"`)}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.Create(ctx, h, rec, now); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Load(ctx, h, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
