package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func newDemo(t *testing.T) *httptest.Server {
	t.Helper()
	store, _, closeStore, err := openStore(context.Background(), "", filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStore)
	h, err := newApp(store, "test secret", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar}, base: srv.URL}
}

func (b *browser) post(path string, form url.Values) string {
	b.t.Helper()
	res, err := b.c.PostForm(b.base+path, form) // follows the 303 to /
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		b.t.Fatalf("POST %s: %d %s", path, res.StatusCode, body)
	}
	return string(body)
}

func TestDemo(t *testing.T) {
	srv := newDemo(t)
	laptop, phone := newBrowser(t, srv), newBrowser(t, srv)

	page := laptop.post("/login", url.Values{"user": {"alice"}, "remember": {"on"}})
	if !strings.Contains(page, `<strong id="user">alice</strong>`) {
		t.Fatalf("not logged in:\n%s", page)
	}
	laptop.post("/count", nil)
	page = laptop.post("/count", nil)
	if !strings.Contains(page, `<strong id="views">2</strong>`) {
		t.Errorf("counter did not reach 2:\n%s", page)
	}

	phone.post("/login", url.Values{"user": {"alice"}})
	page = laptop.post("/count", nil)
	if n := strings.Count(page, "<tr><td>"); n != 2 || !strings.Contains(page, "this device") {
		t.Fatalf("sessions page lists %d sessions:\n%s", n, page)
	}
	// Revoke the phone from the laptop.
	hashes := regexp.MustCompile(`name="session" value="([0-9a-f]{64})"`).FindAllStringSubmatch(page, -1)
	if len(hashes) != 1 {
		t.Fatalf("want one revocable session, got %d", len(hashes))
	}
	laptop.post("/sessions/revoke", url.Values{"session": {hashes[0][1]}})
	if page := phone.post("/count", nil); strings.Contains(page, "Logged in as") {
		t.Error("the revoked phone is still logged in")
	}
	// A hash that is not one of alice's sessions is refused.
	res, _ := laptop.c.PostForm(laptop.base+"/sessions/revoke", url.Values{"session": {strings.Repeat("0", 64)}})
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("revoking a stranger's session: status %d, want 404", res.StatusCode)
	}

	if page := laptop.post("/logout", nil); !strings.Contains(page, "Log in") {
		t.Errorf("still logged in after logout:\n%s", page)
	}
}
