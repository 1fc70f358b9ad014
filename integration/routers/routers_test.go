package routers

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // no debug banner
	os.Exit(m.Run())
}

// Each router gets a session cookie on the first visit and counts the
// visits of one browser in its session.
func TestRouters(t *testing.T) {
	for name, router := range map[string]func(*sessions.Manager) http.Handler{
		"chi": Chi, "echo": Echo, "gin": Gin,
	} {
		t.Run(name, func(t *testing.T) {
			m, err := sessions.New(memstore.New(), sessions.Options{Secrets: []string{"test secret: 32 bytes or more!!!"}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(router(m))
			defer srv.Close()
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar}
			for want := 1; want <= 3; want++ {
				res, err := c.Get(srv.URL + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if string(body) != fmt.Sprintf("views: %d\n", want) {
					t.Fatalf("visit %d: %d %q", want, res.StatusCode, body)
				}
				if want == 1 && !strings.HasPrefix(res.Header.Get("Set-Cookie"), "sid=s%3A") {
					t.Errorf("first visit: Set-Cookie %q, want the signed session cookie", res.Header.Get("Set-Cookie"))
				}
			}
		})
	}
}
