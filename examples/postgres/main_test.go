package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/internal/pgtest"
)

func noServe(t *testing.T) func(http.Handler) error {
	return func(http.Handler) error {
		t.Error("serve was called")
		return nil
	}
}

// An empty DATABASE_URL must never reach libpq's defaults.
func TestEmptyDatabaseURL(t *testing.T) {
	for _, url := range []string{"", "  "} {
		err := run(context.Background(), url, "test secret: 32 bytes or more!!!", noServe(t))
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL is not set") {
			t.Errorf("DATABASE_URL=%q: err %v, want \"DATABASE_URL is not set\"", url, err)
		}
	}
}

func TestUnreachableDatabase(t *testing.T) {
	err := run(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=5", "test secret: 32 bytes or more!!!", noServe(t))
	if err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Errorf("err %v, want a migrate error", err)
	}
}

func TestEmptySecret(t *testing.T) {
	env := pgtest.New(t)
	if err := run(context.Background(), env.DSN, "", noServe(t)); err == nil {
		t.Error("an empty SESSION_SECRET was accepted")
	}
}

// The program migrates an empty schema, counts views per session in
// http_sessions, and ignores /favicon.ico.
func TestCountsInPostgres(t *testing.T) {
	env := pgtest.New(t)
	ctx := context.Background()
	served := false
	err := run(ctx, env.DSN, "test secret: 32 bytes or more!!!", func(h http.Handler) error {
		served = true
		srv := httptest.NewServer(h)
		defer srv.Close()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		for want := 1; want <= 2; want++ {
			if got := get(t, c, srv.URL+"/"); got != fmt.Sprintf("views: %d\n", want) {
				t.Errorf("visit %d: body %q", want, got)
			}
			get(t, c, srv.URL+"/favicon.ico")
		}
		return nil
	})
	if err != nil || !served {
		t.Fatalf("run: %v (served %v)", err, served)
	}
	var rows int
	if err := env.Pool.QueryRow(ctx, "SELECT count(*) FROM http_sessions WHERE data->'views' = '2'").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("http_sessions has %d rows with views=2, want 1", rows)
	}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return string(body)
}
