package routers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/sqlsession/sqlsession/sessions"
)

// Echo returns an echo server that counts page views. *echo.Echo is an
// http.Handler: the session middleware wraps it whole.
func Echo(m *sessions.Manager) http.Handler {
	e := echo.New()
	e.GET("/", func(c *echo.Context) error {
		s := sessions.FromContext(c.Request().Context())
		var views int
		_, _ = s.Get("views", &views)
		if err := s.Set("views", views+1); err != nil {
			return err
		}
		return c.String(http.StatusOK, fmt.Sprintf("views: %d\n", views+1))
	})
	return m.Handler(e)
}
