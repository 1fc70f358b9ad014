package integration

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// updateCounter counts the merge writes that reach the store.
type updateCounter struct {
	sessions.Store
	updates atomic.Int64
}

func (u *updateCounter) Update(ctx context.Context, h sessions.IDHash, c sessionstore.Change, now time.Time) error {
	u.updates.Add(1)
	return u.Store.Update(ctx, h, c, now)
}

// Values are stored as Set wrote them on both databases: numbers with an
// exponent spelled out (as Postgres's jsonb keeps them), so the size Set
// checks is the size the row takes; and setting an equal object again,
// whatever the key order the database gave back, is no change.
func TestValuesStoredAsChecked(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		store := &updateCounter{Store: b.store}
		m, err := sessions.New(store, sessions.Options{Secrets: []string{secret}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		values := map[string]any{
			"n":    json.RawMessage(`[1.5e-7,1E3,-2.50e1,{"alpha":[1,2],"zeta":1}]`),
			"text": "é and ü, a \"quote\"",
			"prefs": struct { // jsonb gives it back as {"zoom": 3, "theme": "dark"}
				Theme string `json:"theme"`
				Zoom  int    `json:"zoom"`
			}{"dark", 3},
		}
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := sessions.FromContext(r.Context())
			for k, v := range values {
				if err := s.Set(k, v); err != nil {
					t.Errorf("Set(%s): %v", k, err)
				}
			}
		}))
		srv := httptest.NewServer(h)
		defer srv.Close()
		c := newClient(t, srv)
		c.do("GET", "/", nil)
		r, ok := b.query(t, hashOf(c.sessionID()))
		if !ok {
			t.Fatal("session not stored")
		}
		if want := `[0.00000015,1000,-25.0,`; !strings.Contains(strings.ReplaceAll(r.rawData, " ", ""), want) {
			t.Errorf("stored data %s: want the numbers spelled out (%s…)", r.rawData, want)
		}
		var stored map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.rawData), &stored); err != nil {
			t.Fatal(err)
		}
		// The measure is the text Postgres prints (SQLite keeps compact JSON,
		// which is never longer): an upper bound, within a few bytes there.
		size := sessionstore.Size(stored)
		if size < len(r.rawData) || b.name == "postgres" && size > len(r.rawData)+8 {
			t.Errorf("sessionstore.Size = %d for a row whose data is %d bytes of text", size, len(r.rawData))
		}

		c.do("GET", "/", nil)
		if n := store.updates.Load(); n != 0 {
			t.Errorf("setting equal values again wrote the row %d times, want 0", n)
		}
	})
}
