package main

import (
	"bufio"
	"cmp"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/sqlsession/sqlsession/internal/testskip"
)

// EnvScreenshots names a directory: TestBrowser saves its screenshots
// there (make screenshots). EnvChromium overrides the browser binary.
const (
	EnvScreenshots = "SQLSESSION_SCREENSHOTS"
	EnvChromium    = "SQLSESSION_CHROMIUM"
)

// startDemo runs the demo as main does, on a free port, and returns its URL
// once printed.
func startDemo(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	cfg := config{addr: "127.0.0.1:0", sqlitePath: filepath.Join(t.TempDir(), "demo.db"), secret: "test secret: 32 bytes or more!!!"}
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, pw, slog.New(slog.DiscardHandler)); _ = pw.Close() }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("demo printed no URL: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return regexp.MustCompile(`http://\S+`).FindString(line)
}

// TestBrowser drives the demo in headless Chromium as a user would: the
// start page, an anonymous count, log in, count, a second device, the
// sessions list (times in the browser's zone, here Asia/Tokyo) on a desktop
// and a 390 px phone, a revoke from the other device, log out, and an error
// page. It checks what the user sees, that nothing is wider than a phone's
// screen, and saves screenshots when SQLSESSION_SCREENSHOTS names a
// directory. Skipped without Chromium (Debian: apt-get install -y chromium),
// unless SQLSESSION_REQUIRE_CHROMIUM=1 (CI), which makes that a failure.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	bin, err := exec.LookPath(cmp.Or(os.Getenv(EnvChromium), "chromium"))
	if err != nil {
		testskip.Skip(t, "Chromium (demo browser test)", "SQLSESSION_REQUIRE_CHROMIUM", "chromium is not installed (Debian: apt-get install -y chromium)")
	}
	base := startDemo(t)
	c, err := startChrome(bin, t.TempDir())
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	defer c.close()
	b := &page{t: t, c: c, dir: os.Getenv(EnvScreenshots)}
	b.must(c.timezone("Asia/Tokyo"))

	b.must(c.viewport(1280, 800, false))
	b.must(c.navigate(base + "/"))
	b.expect(`document.querySelector("#views").textContent`, "0 times")
	b.expect(`document.querySelector("#no-session") !== null`, true)
	b.shot("1-first-visit-desktop")

	b.must(c.viewport(390, 844, true))
	b.fitsWidth(390)
	b.shot("2-first-visit-phone")

	b.must(c.viewport(1280, 800, false))
	b.must(c.click(`form[action="/count"] button`))
	b.expect(`document.querySelector("#anonymous").textContent.includes("you have an anonymous session")`, true)
	b.expect(`document.querySelector("#views").textContent`, "1 time")
	b.shot("3-anonymous-count-desktop")

	_, err = c.eval(`document.querySelector("input[name=user]").value = "alice"; document.querySelector("input[name=remember]").checked = true`)
	b.must(err)
	b.must(c.click(`form[action="/login"] button`))
	b.expect(`document.querySelector("#user").textContent`, "alice")
	b.must(c.click(`form[action="/count"] button`))
	b.expect(`document.querySelector("#views").textContent`, "2 times")
	b.expect(`document.querySelector("#second-browser") !== null`, true)
	// Times are sent in UTC and shown in the browser's zone.
	b.expect(`[...document.querySelectorAll(".when time")].every(e => e.dateTime.endsWith("Z") && !e.textContent.includes("UTC") && /GMT\+9|JST/.test(e.textContent))`, true)
	b.expect(`document.querySelector("#zone").textContent`, "Times are in your browser's time zone (Asia/Tokyo).")
	b.shot("4-logged-in-desktop")

	phone := newBrowser(t, base, safariIPhone)
	phone.post("/login", url.Values{"user": {"alice"}})
	b.must(c.navigate(base + "/"))
	b.expect(`document.querySelectorAll(".sessions li").length`, float64(2))
	b.expect(`[...document.querySelectorAll(".device")].map(e => e.textContent).sort().join(", ")`, "Headless Chrome on Linux, Safari on iOS")
	b.expect(`document.querySelector(".device").title.startsWith("Mozilla/5.0")`, true)
	b.expect(`document.querySelector("#second-browser")`, nil)
	b.shot("5-sessions-desktop")
	b.must(c.viewport(390, 844, true))
	b.must(c.navigate(base + "/"))
	b.fitsWidth(390)
	b.shot("6-sessions-phone")

	// The phone revokes the browser; the browser's next click lands on the
	// logged-out page with the notice.
	_, _, phonePage := phone.do(http.MethodGet, "/", nil)
	hash := revokeForm.FindStringSubmatch(phonePage)
	if hash == nil {
		t.Fatalf("the phone sees no session to revoke:\n%s", phonePage)
	}
	phone.post("/sessions/revoke", url.Values{"session": {hash[1]}})
	b.must(c.click(`form[action="/count"] button`))
	b.expect(`document.querySelector("#ended") !== null && document.querySelector("form[action='/login']") !== null`, true)
	b.fitsWidth(390)
	b.shot("7-revoked-phone")

	_, err = c.eval(`document.querySelector("input[name=user]").value = "alice"`)
	b.must(err)
	b.must(c.click(`form[action="/login"] button`))
	b.must(c.click(`form[action="/logout"] button`))
	b.expect(`document.querySelector("#loggedout").textContent.startsWith("You are logged out.")`, true)
	b.fitsWidth(390)
	b.shot("8-logged-out-phone")

	b.must(c.navigate(base + "/nowhere"))
	b.expect(`document.querySelector("h1").textContent`, "404 Not Found")
	b.fitsWidth(390)
	b.shot("9-not-found-phone")
}

// page wraps the browser with test assertions.
type page struct {
	t   *testing.T
	c   *chrome
	dir string
}

func (p *page) must(err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatal(err)
	}
}

// expect evaluates expr in the page and compares its value with want.
func (p *page) expect(expr string, want any) {
	p.t.Helper()
	got, err := p.c.eval(expr)
	p.must(err)
	if got != want {
		html, _ := p.c.eval("document.documentElement.outerHTML")
		p.t.Fatalf("%s = %v, want %v; page:\n%v", expr, got, want, html)
	}
}

// fitsWidth asserts that the page needs no horizontal scrolling.
func (p *page) fitsWidth(width int) {
	p.t.Helper()
	got, err := p.c.eval("document.documentElement.scrollWidth")
	p.must(err)
	if w, _ := got.(float64); int(w) > width {
		p.t.Errorf("the page is %v px wide on a %d px screen", got, width)
	}
}

func (p *page) shot(name string) {
	p.t.Helper()
	if p.dir == "" {
		return
	}
	png, err := p.c.screenshot()
	p.must(err)
	p.must(os.MkdirAll(p.dir, 0o755))
	path := filepath.Join(p.dir, name+".png")
	p.must(os.WriteFile(path, png, 0o644))
	p.t.Log("saved", path)
}
