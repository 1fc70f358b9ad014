package sessions_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
)

// BenchmarkSealedValue is the cost of Options.ValueKeys per request, on an
// in-memory store (so only the middleware and the sealing are measured),
// against the same request without value keys. The session holds a user
// name, a 20-entry cart and a counter.
//
//   - read-nothing: a request that Gets no value (pays nothing: values are
//     opened lazily)
//   - read: Get of the user name (opens one value)
//   - write: Get and Set of the counter, and the commit that saves it
//     (opens one value, seals one, one store Update)
func BenchmarkSealedValue(b *testing.B) {
	for _, mode := range []struct {
		name string
		keys []string
	}{{"plain", nil}, {"sealed", []string{"benchmark value key, 32 bytes or more"}}} {
		quiet := slog.New(slog.DiscardHandler)
		m, err := sessions.New(memstore.NewWithOptions(memstore.Options{Logger: quiet}), sessions.Options{Secrets: []string{secret}, ValueKeys: mode.keys, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		cart := make([]map[string]any, 20)
		for i := range cart {
			cart[i] = map[string]any{"sku": "SKU-0000" + string(rune('A'+i)), "qty": i + 1, "price": 12.5}
		}
		login := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := sessions.FromContext(r.Context())
			_ = s.Set("user", "alice")
			_ = s.Set("cart", cart)
			_ = s.Set("count", 0)
		}))
		rec := httptest.NewRecorder()
		login.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		cookie, _, _ := strings.Cut(rec.Header().Get("Set-Cookie"), ";")
		var user string
		for _, c := range []struct {
			name string
			h    http.HandlerFunc
		}{
			{"read-nothing", func(w http.ResponseWriter, r *http.Request) {}},
			{"read", func(w http.ResponseWriter, r *http.Request) {
				if _, err := sessions.FromContext(r.Context()).Get("user", &user); err != nil {
					b.Fatal(err)
				}
			}},
			{"write", func(w http.ResponseWriter, r *http.Request) {
				s := sessions.FromContext(r.Context())
				var n int
				if _, err := s.Get("count", &n); err != nil {
					b.Fatal(err)
				}
				if err := s.Set("count", n+1); err != nil {
					b.Fatal(err)
				}
			}},
		} {
			h := m.Handler(c.h)
			b.Run(c.name+"/"+mode.name, func(b *testing.B) {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Cookie", cookie)
				serveEach(b, h, r)
			})
		}
	}
}
