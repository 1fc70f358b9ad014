package integration

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/cookiesig"
)

// hostileCookie returns one random, malformed or forged Cookie header.
func hostileCookie(rng *rand.Rand, valid string) string {
	randBytes := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	}
	sig := strings.TrimPrefix(valid, "sid=")
	switch rng.IntN(12) {
	case 0:
		return "sid=" + randBytes(rng.IntN(64))
	case 1:
		return "sid=" + sig[:rng.IntN(len(sig))] // truncated
	case 2:
		return "sid=s%3A" + url.QueryEscape(cookiesig.Sign(randBytes(24), "wrong secret"))
	case 3:
		return "sid=s%3A" + strings.Repeat("A", 4000+rng.IntN(20000)) // huge
	case 4:
		var b strings.Builder
		for i := range 50 + rng.IntN(200) {
			fmt.Fprintf(&b, "c%d=%d; ", i, i)
		}
		return b.String() + "sid=s%3Aabc.def"
	case 5:
		return valid + "; sid=s%3A" + url.QueryEscape(cookiesig.Sign("other", "x")) // duplicated name
	case 6:
		return "sid=%" + randBytes(3) + "%zz%E0%A4%A" // bad percent-encoding
	case 7:
		return "sid=" + flipOneByte(rng, sig)
	case 8:
		return "sid=s:" + cookiesig.Sign("", secret) // empty id
	case 9:
		return "sid=\"s%3A" + url.QueryEscape(cookiesig.Sign(randBytes(8), "forger")) + "\"" // quoted forgery
	case 10:
		return strings.Repeat(";", rng.IntN(100)) + "sid=" + randBytes(8) + strings.Repeat("=", rng.IntN(10))
	default:
		return randBytes(rng.IntN(300))
	}
}

// flipOneByte returns sig with one byte changed, never into a cookie that
// still means sig: changing the case of a hex digit in a percent-escape
// (%2B -> %2b) leaves a valid cookie, which a hostile one must not be.
func flipOneByte(rng *rand.Rand, sig string) string {
	want, _ := url.PathUnescape(sig)
	for {
		b := []byte(sig)
		b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		if got, err := url.PathUnescape(string(b)); err != nil || got != want {
			return string(b)
		}
	}
}

// 10,000 random, malformed or forged Cookie headers, on Postgres and
// SQLite: no 5xx, and none of them reaches the store.
func TestHostileCookies(t *testing.T) {
	eachBackend(t, testHostileCookies)
}

func testHostileCookies(t *testing.T, b backend) {
	counting := &countingStore{Store: b.store}
	srv := httptest.NewServer(app(t, counting, sessions.Options{}))
	defer srv.Close()
	c := newClient(t, srv)
	c.do("POST", "/login", url.Values{"user": {"eve"}})
	valid := "sid=" + url.QueryEscape("s:"+cookiesig.Sign(c.sessionID(), secret))
	counting.loads.Store(0)

	rng := rand.New(rand.NewPCG(1, 2))
	headers := make([]string, 10_000)
	for i := range headers {
		headers[i] = hostileCookie(rng, valid)
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	var fivexx, sent atomic.Int64
	var wg sync.WaitGroup
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			c := &rawClient{addr: addr}
			defer c.close()
			for h := range work {
				code, err := c.get(h)
				if err != nil {
					t.Errorf("raw request: %v", err)
					continue
				}
				sent.Add(1)
				if code >= 500 {
					fivexx.Add(1)
				}
			}
		})
	}
	for _, h := range headers {
		work <- h
	}
	close(work)
	wg.Wait()
	if sent.Load() != int64(len(headers)) {
		t.Fatalf("only %d of %d requests were answered", sent.Load(), len(headers))
	}
	if fivexx.Load() != 0 {
		t.Errorf("%d responses were 5xx", fivexx.Load())
	}
	if n := counting.loads.Load(); n != 0 {
		t.Errorf("hostile cookies caused %d store lookups, want 0", n)
	}
}

// FuzzCookie drives the cookie parse/unsign path through the middleware:
// no panic, no 5xx, and no store lookup for anything but a correctly
// signed cookie. `go test` runs the seeds; for longer:
//
//	go test -run '^$' -fuzz FuzzCookie -fuzztime 1m ./integration
func FuzzCookie(f *testing.F) {
	signed := "s:" + cookiesig.Sign("some-id", secret)
	for _, seed := range []string{
		"sid=" + url.QueryEscape(signed), "sid=" + signed, "sid=s%3Aabc", "sid=", "sid=%zz", "a=b; sid=x; sid=y",
		"sid=s%3A" + strings.Repeat("x", 5000), "sid=\"s%3Aa.b\"", ";;;", "",
	} {
		f.Add(seed)
	}
	store := &countingStore{Store: memstoreQuiet()}
	h := app(f, store, sessions.Options{})
	f.Fuzz(func(t *testing.T, cookie string) {
		before := store.loads.Load()
		req := httptest.NewRequest("GET", "/peek", nil)
		req.Header["Cookie"] = []string{cookie}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("cookie %q: status %d", cookie, w.Code)
		}
		if store.loads.Load() != before && !containsValidSignature(cookie) {
			t.Fatalf("cookie %q reached the store without a valid signature", cookie)
		}
	})
}

// containsValidSignature reports whether any sid cookie in the header
// verifies with the test secret.
func containsValidSignature(header string) bool {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header["Cookie"] = []string{header}
	for _, c := range req.CookiesNamed("sid") {
		v, err := url.PathUnescape(c.Value)
		if err != nil {
			v = c.Value
		}
		if s, ok := strings.CutPrefix(v, "s:"); ok {
			if _, ok := cookiesig.Unsign(s, secret); ok {
				return true
			}
		}
	}
	return false
}

// 64 concurrent clients on SQLite through the middleware: no 5xx, so no
// "database is locked".
func TestSQLiteConcurrentClients(t *testing.T) {
	b := sqliteBackend(t)
	srv := httptest.NewServer(app(t, b.store, sessions.Options{}))
	defer srv.Close()
	const clients, requests = 64, 6 // 448 requests; 64 × 16 cost 15–30 s under -race (modernc SQLite is instrumented too)
	var wg sync.WaitGroup
	var failures atomic.Int64
	for i := range clients {
		wg.Go(func() {
			c := newClient(t, srv)
			if code, _, _ := c.do("POST", "/login", url.Values{"user": {fmt.Sprint("u", i)}}); code != 200 {
				failures.Add(1)
			}
			for j := range requests {
				var code int
				if j%3 == 0 {
					code, _, _ = c.do("GET", "/peek", nil)
				} else {
					code, _, _ = c.do("GET", "/count", nil)
				}
				if code != 200 {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed", failures.Load(), clients*(requests+1))
	}
	if n := b.count(t); n != clients {
		t.Errorf("%d sessions stored, want %d", n, clients)
	}
}

// rawClient sends GET /peek with the Cookie header exactly as given (CR and
// LF replaced, so one header stays one header), bypassing net/http's
// client, which would refuse or rewrite malformed values. It keeps its
// connection alive between requests and dials again when the server
// closes it (as it does after a 400): a new TCP connection per request
// cost more than the requests themselves under -race.
type rawClient struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
}

func (c *rawClient) get(cookie string) (int, error) {
	cookie = strings.NewReplacer("\r", " ", "\n", " ").Replace(cookie)
	req := "GET /peek HTTP/1.1\r\nHost: test\r\nCookie: " + cookie + "\r\n\r\n"
	code, err := c.try(req)
	if err != nil && c.conn == nil { // the server closed a kept-alive connection: once more on a new one
		code, err = c.try(req)
	}
	return code, err
}

func (c *rawClient) try(req string) (int, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
		if err != nil {
			return 0, err
		}
		c.conn, c.r = conn, bufio.NewReader(conn)
	}
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	res, err := c.sendAndRead(req)
	if err != nil || res.Close {
		c.close()
	}
	if err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}

// The generator of TestHostileCookies never produces a valid cookie: a
// flipped byte of a signature holding percent-escapes (as "+" and "/" are
// written) must change what the cookie decodes to.
func TestFlipOneByteChangesTheCookie(t *testing.T) {
	sig := "s%3Aid.ab%2Bcd%2Fef%2B0"
	want, _ := url.PathUnescape(sig)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20_000 {
		got := flipOneByte(rng, sig)
		if v, err := url.PathUnescape(got); err == nil && v == want {
			t.Fatalf("flipOneByte(%q) = %q, which decodes to the same cookie", sig, got)
		}
	}
}

func (c *rawClient) sendAndRead(req string) (*http.Response, error) {
	if _, err := io.WriteString(c.conn, req); err != nil {
		return nil, err
	}
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res, nil
}

func (c *rawClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.r = nil, nil
	}
}
