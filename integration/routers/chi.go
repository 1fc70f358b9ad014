package routers

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/sqlsession/sqlsession/sessions"
)

// Chi returns a chi router that counts page views, with the session
// middleware on every route.
func Chi(m *sessions.Manager) http.Handler {
	r := chi.NewRouter()
	r.Use(m.Handler)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		var views int
		_, _ = s.Get("views", &views)
		_ = s.Set("views", views+1)
		fmt.Fprintf(w, "views: %d\n", views+1)
	})
	return r
}
