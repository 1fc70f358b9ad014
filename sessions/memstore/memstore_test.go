package memstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
	"github.com/sqlsession/sqlsession/sessions/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessions.Store {
		return memstore.NewWithOptions(memstore.Options{Logger: slog.New(slog.DiscardHandler)})
	})
}

func TestWarnsOncePerStore(t *testing.T) {
	var buf bytes.Buffer
	s := memstore.NewWithOptions(memstore.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	for range 3 {
		_, _ = s.Load(context.Background(), sessions.HashID("x"), time.Now())
	}
	if n := strings.Count(buf.String(), "memstore is for tests and development only"); n != 1 {
		t.Errorf("warning logged %d times, want once:\n%s", n, buf.String())
	}
}
