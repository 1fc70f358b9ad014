package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
)

// A browser's page load is GET / then GET /favicon.ico: it must count once.
func TestFaviconDoesNotCount(t *testing.T) {
	m, err := sessions.New(memstore.New(), sessions.Options{Secrets: []string{"test secret: 32 bytes or more!!!"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes(m))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}
	for want := 1; want <= 2; want++ {
		if _, body := get("/"); body != fmt.Sprintf("views: %d\n", want) {
			t.Fatalf("page load %d: body %q", want, body)
		}
		res, _ := get("/favicon.ico")
		if res.StatusCode != http.StatusNotFound || res.Header.Get("Set-Cookie") != "" {
			t.Fatalf("/favicon.ico: status %d, Set-Cookie %q; want 404 and no cookie", res.StatusCode, res.Header.Get("Set-Cookie"))
		}
	}
}
