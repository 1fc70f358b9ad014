package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

type demo struct {
	*httptest.Server
	closeStore func()
}

func newDemo(t *testing.T) *demo {
	t.Helper()
	store, _, closeStore, err := openStore(context.Background(), "", filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStore)
	h, err := newApp(store, "test secret: 32 bytes or more!!!", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &demo{Server: srv, closeStore: closeStore}
}

type browser struct {
	t    *testing.T
	c    *http.Client
	base string
	ua   string
}

func newBrowser(t *testing.T, base, ua string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar}, base: base, ua: ua}
}

// do sends a request, following redirects as a browser does, and returns
// the final status and body.
func (b *browser) do(method, path string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("User-Agent", b.ua)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

// post expects the action to end on a 200 page.
func (b *browser) post(path string, form url.Values) string {
	b.t.Helper()
	status, _, body := b.do(http.MethodPost, path, form)
	if status != http.StatusOK {
		b.t.Fatalf("POST %s: %d %s", path, status, body)
	}
	return body
}

func (b *browser) hasCookie() bool {
	u, _ := url.Parse(b.base)
	return len(b.c.Jar.Cookies(u)) > 0
}

const (
	firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	safariIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

var revokeForm = regexp.MustCompile(`name="session" value="([0-9a-f]{64})"`)

func TestDemo(t *testing.T) {
	d := newDemo(t)
	laptop, phone := newBrowser(t, d.URL, firefoxLinux), newBrowser(t, d.URL, safariIPhone)

	page := laptop.post("/login", url.Values{"user": {"alice"}, "remember": {"on"}})
	if !strings.Contains(page, `<strong id="user">alice</strong>`) {
		t.Fatalf("not logged in:\n%s", page)
	}
	for n, want := range []string{"1 time", "2 times"} {
		if page = laptop.post("/count", nil); !strings.Contains(page, `<strong id="views">`+want+`</strong>`) {
			t.Errorf("count %d: want %q:\n%s", n+1, want, page)
		}
	}

	phone.post("/login", url.Values{"user": {"alice"}})
	page = laptop.post("/count", nil)
	for _, want := range []string{
		`<span class="device" title="` + firefoxLinux + `">Firefox on Linux</span>`,
		`<span class="device" title="` + safariIPhone + `">Safari on iOS</span>`,
		`this device`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("sessions list lacks %q:\n%s", want, page)
		}
	}
	hashes := revokeForm.FindAllStringSubmatch(page, -1)
	if len(hashes) != 1 {
		t.Fatalf("want one revocable session (the phone), got %d", len(hashes))
	}
	// A hash that is not one of alice's sessions is refused, with a page.
	status, hdr, body := laptop.do(http.MethodPost, "/sessions/revoke", url.Values{"session": {strings.Repeat("0", 64)}})
	assertErrorPage(t, "revoke a stranger's session", status, hdr, body, http.StatusNotFound, "No such session")

	laptop.post("/sessions/revoke", url.Values{"session": {hashes[0][1]}})
	if page = laptop.post("/count", nil); revokeForm.MatchString(page) {
		t.Error("the revoked phone is still listed")
	}
	page = laptop.post("/logout", nil)
	if !strings.Contains(page, `action="/login"`) || laptop.hasCookie() {
		t.Errorf("still logged in after logout (cookie kept: %v):\n%s", laptop.hasCookie(), page)
	}
	if !strings.Contains(page, `<p class="notice" id="loggedout">You are logged out.`) {
		t.Errorf("the page after logout does not say so:\n%s", page)
	}
	if _, _, page := laptop.do(http.MethodGet, "/", nil); strings.Contains(page, `id="loggedout"`) {
		t.Error("the logout notice is shown again on the next page")
	}
}

// stampText is a time as the page sends it, before its script shows it in
// the browser's zone: RFC 3339 in UTC for the machine, labelled UTC for people.
var stampText = regexp.MustCompile(`<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d UTC</time>`)

// The start page tells visitors where they stand: no session yet, an
// anonymous one, only one browser logged in (try a second), logged out
// here or everywhere; times are marked UTC for the browser's script.
func TestDemoSaysWhereYouStand(t *testing.T) {
	d := newDemo(t)
	laptop, phone := newBrowser(t, d.URL, firefoxLinux), newBrowser(t, d.URL, safariIPhone)

	_, _, page := laptop.do(http.MethodGet, "/", nil)
	if !strings.Contains(page, `id="no-session"`) || strings.Contains(page, "anonymous session") {
		t.Errorf("a first visit should say there is no session yet:\n%s", page)
	}
	if page = laptop.post("/count", nil); !strings.Contains(page, `id="anonymous">You are not logged in, but you have an anonymous session`) ||
		strings.Contains(page, "no session yet") || !laptop.hasCookie() {
		t.Errorf("after a count the visitor has a session, and the page should say so (cookie: %v):\n%s", laptop.hasCookie(), page)
	}

	page = laptop.post("/login", url.Values{"user": {"alice"}})
	if !strings.Contains(page, `id="second-browser"`) || !strings.Contains(page, "Open a second browser") {
		t.Errorf("with one session, the page should suggest a second browser:\n%s", page)
	}
	if n := len(stampText.FindAllString(page, -1)); n != 2 {
		t.Errorf("want 2 UTC times (since, last seen) in <time datetime>, got %d:\n%s", n, page)
	}
	if !strings.Contains(page, `<p class="hint" id="zone">Times are in UTC.</p>`) || !strings.Contains(page, "new Date(t.dateTime).toLocaleString(") {
		t.Errorf("no script shows the times in the browser's zone:\n%s", page)
	}
	phone.post("/login", url.Values{"user": {"alice"}})
	if page = laptop.post("/count", nil); strings.Contains(page, `id="second-browser"`) {
		t.Errorf("with two sessions listed, the second-browser hint should be gone:\n%s", page)
	}

	page = laptop.post("/logout-everywhere", nil)
	if !strings.Contains(page, `id="loggedout">You are logged out on every device`) || laptop.hasCookie() {
		t.Errorf("after logging out everywhere (cookie kept: %v):\n%s", laptop.hasCookie(), page)
	}
	if _, _, page = laptop.do(http.MethodGet, "/?loggedout=here", nil); !strings.Contains(page, `id="loggedout"`) {
		t.Errorf("a logged-out visitor should see the notice:\n%s", page)
	}
	laptop.post("/login", url.Values{"user": {"bob"}})
	if _, _, page = laptop.do(http.MethodGet, "/?loggedout=here", nil); strings.Contains(page, `id="loggedout"`) {
		t.Errorf("a logged-in user must not be told they are logged out:\n%s", page)
	}
}

// After a revoke, the other device's next request, whatever the button,
// lands on the logged-out page with a notice, and its dead cookie is
// cleared instead of being sent forever.
func TestRevokedDeviceIsLoggedOutCleanly(t *testing.T) {
	for _, next := range []struct{ method, path string }{
		{http.MethodGet, "/"}, {http.MethodPost, "/count"}, {http.MethodPost, "/logout-everywhere"},
		{http.MethodPost, "/sessions/revoke"},
	} {
		t.Run(next.method+next.path, func(t *testing.T) {
			d := newDemo(t)
			laptop, phone := newBrowser(t, d.URL, firefoxLinux), newBrowser(t, d.URL, safariIPhone)
			laptop.post("/login", url.Values{"user": {"alice"}})
			phone.post("/login", url.Values{"user": {"alice"}})
			hashes := revokeForm.FindAllStringSubmatch(laptop.post("/count", nil), -1)
			laptop.post("/sessions/revoke", url.Values{"session": {hashes[0][1]}})

			status, _, page := phone.do(next.method, next.path, url.Values{"session": {hashes[0][1]}})
			if status != http.StatusOK || !strings.Contains(page, `id="ended"`) || !strings.Contains(page, `action="/login"`) {
				t.Fatalf("phone after revoke: status %d, want 200 with the notice and the login form:\n%s", status, page)
			}
			if phone.hasCookie() {
				t.Error("the phone kept its dead session cookie")
			}
			if _, _, page := phone.do(http.MethodGet, "/", nil); strings.Contains(page, `id="ended"`) {
				t.Error("the notice is shown again on the next page")
			}
			if page := laptop.post("/count", nil); !strings.Contains(page, `id="user">alice<`) {
				t.Error("the phone's request logged the laptop out")
			}
		})
	}
}

func TestHTMLErrorPages(t *testing.T) {
	d := newDemo(t)
	b := newBrowser(t, d.URL, firefoxLinux)
	status, hdr, body := b.do(http.MethodGet, "/nowhere", nil)
	assertErrorPage(t, "GET /nowhere", status, hdr, body, http.StatusNotFound, "There is no page at this address.")
	status, hdr, body = b.do(http.MethodPost, "/login", url.Values{"user": {""}})
	assertErrorPage(t, "login without a name", status, hdr, body, http.StatusBadRequest, "1 to 64 characters")
	status, hdr, body = b.do(http.MethodPost, "/sessions/revoke", url.Values{"session": {"x"}})
	assertErrorPage(t, "revoke while logged out", status, hdr, body, http.StatusBadRequest, "No such session.")

	// A store that fails answers with the error page, not plain text.
	b.post("/login", url.Values{"user": {"alice"}})
	d.closeStore()
	status, hdr, body = b.do(http.MethodGet, "/", nil)
	assertErrorPage(t, "store down", status, hdr, body, http.StatusInternalServerError, "session store is not answering")
}

func assertErrorPage(t *testing.T, what string, status int, hdr http.Header, body string, wantStatus int, wantText string) {
	t.Helper()
	if status != wantStatus || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") ||
		!strings.HasPrefix(body, "<!doctype html>") || !strings.Contains(body, wantText) ||
		!strings.Contains(body, `<a href="/">`) {
		t.Errorf("%s: %d %q, want %d, an HTML page saying %q with a link home:\n%s",
			what, status, hdr.Get("Content-Type"), wantStatus, wantText, body)
	}
}

func TestViewportAndPlurals(t *testing.T) {
	d := newDemo(t)
	b := newBrowser(t, d.URL, "")
	_, _, page := b.do(http.MethodGet, "/", nil)
	if !strings.Contains(page, `<meta name="viewport" content="width=device-width, initial-scale=1">`) {
		t.Errorf("no viewport meta tag:\n%s", page)
	}
	if !strings.Contains(page, `<strong id="views">0 times</strong>`) {
		t.Errorf("want 0 times:\n%s", page)
	}
	if page = b.post("/count", nil); !strings.Contains(page, `<strong id="views">1 time</strong>`) {
		t.Errorf("want 1 time:\n%s", page)
	}
}

func TestDeviceLabel(t *testing.T) {
	for _, c := range []struct{ ua, want string }{
		{firefoxLinux, "Firefox on Linux"},
		{safariIPhone, "Safari on iOS"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87", "Edge on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1", "Chrome on iOS"},
		{"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15", "Firefox on iPadOS"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on ChromeOS"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0", "Opera on Windows"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36", "Headless Chrome on Linux"},
		{"curl/8.5.0", "curl"},
		{"Go-http-client/1.1", "Go program"},
		{"Mozilla/5.0 (X11; Linux x86_64) SomethingNew/1.0", "Browser on Linux"},
		{"TotallyUnknown/1.0", "Unknown browser"},
		{"", "Unknown device"},
	} {
		if got := deviceLabel(c.ua); got != c.want {
			t.Errorf("deviceLabel(%q) = %q, want %q", c.ua, got, c.want)
		}
	}
}

// run prints the URL only once the listener is bound: a request made the
// moment the line appears succeeds.
func TestRunPrintsURLWhenBound(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	cfg := config{addr: "127.0.0.1:0", sqlitePath: filepath.Join(t.TempDir(), "demo.db"), secret: "test secret: 32 bytes or more!!!"}
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, pw, slog.New(slog.DiscardHandler)); _ = pw.Close() }()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no line printed: %v (run: %v)", err, <-done)
	}
	u := regexp.MustCompile(`http://127\.0\.0\.1:[1-9][0-9]*`).FindString(line)
	if u == "" {
		t.Fatalf("printed %q: want the URL with the bound port", line)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	res, err := http.Get(u + "/")
	if err != nil {
		t.Fatalf("GET %s right after it was printed: %v", u, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d", u, res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after shutdown: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not return after its context was cancelled")
	}
}

// A port in use is an error, and no URL is printed.
func TestRunPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out strings.Builder
	cfg := config{addr: ln.Addr().String(), sqlitePath: filepath.Join(t.TempDir(), "demo.db"), secret: "test secret: 32 bytes or more!!!"}
	err = run(context.Background(), cfg, &out, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "listen") || out.Len() != 0 {
		t.Errorf("err %v, printed %q; want a listen error and nothing printed", err, out.String())
	}
}
