package sessions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
)

// Encrypt values at rest: with Options.ValueKeys the store (and so a
// database dump, replica or backup) holds every value sealed; handlers
// Get and Set plaintext as usual. Keys come from the environment; to
// rotate, put a new key first and keep the old ones after it.
func ExampleOptions_valueKeys() {
	quiet := slog.New(slog.DiscardHandler)
	store := memstore.NewWithOptions(memstore.Options{Logger: quiet})
	m, err := sessions.New(store, sessions.Options{
		Secrets:   []string{"a-secret-from-the-environment"},
		ValueKeys: []string{"a-32-byte-or-longer-value-key-from-the-environment"},
		Logger:    quiet,
	})
	if err != nil {
		panic(err)
	}
	var hash sessions.IDHash
	mux := http.NewServeMux()
	mux.HandleFunc("/save", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("iban", "DE89 3704 0044 0532 0130 00")
		hash = s.IDHash()
	})
	mux.HandleFunc("/show", func(w http.ResponseWriter, r *http.Request) {
		var iban string
		if _, err := sessions.FromContext(r.Context()).Get("iban", &iban); err != nil {
			http.Error(w, "cannot read the session", http.StatusInternalServerError) // errors.Is(err, sessions.ErrDecrypt)
			return
		}
		fmt.Fprint(w, iban)
	})
	h := m.Handler(mux)
	cookie, _ := request(h, "/save", "")
	_, body := request(h, "/show", cookie)
	fmt.Println(body)

	rec, _ := store.Load(context.Background(), hash, time.Time{}) // zero: the real clock
	raw, _, _ := rec.Value("iban")                                // as the database holds it
	var stored string
	_ = json.Unmarshal(raw, &stored)
	fmt.Println(strings.HasPrefix(stored, "enc:v1:"), strings.Contains(stored, "DE89"))
	// Output:
	// DE89 3704 0044 0532 0130 00
	// true false
}
