package routers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/sqlsession/sqlsession/sessions"
)

// Gin returns a gin engine that counts page views. *gin.Engine is an
// http.Handler: the session middleware wraps it whole.
func Gin(m *sessions.Manager) http.Handler {
	g := gin.New()
	g.GET("/", func(c *gin.Context) {
		s := sessions.FromContext(c.Request.Context())
		var views int
		_, _ = s.Get("views", &views)
		if err := s.Set("views", views+1); err != nil {
			_ = c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		c.String(http.StatusOK, "views: %d\n", views+1)
	})
	return m.Handler(g)
}
