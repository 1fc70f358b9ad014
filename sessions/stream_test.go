package sessions_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
)

// The session is saved and cookied before the first byte; a handler can
// stream flushed chunks (through http.ResponseController, via Unwrap, and
// http.Flusher), and changes made after the first write are still saved.
func TestStreamingAndLateChanges(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	next := make(chan struct{})
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("user", "alice")
		rc := http.NewResponseController(w)
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "chunk %d\n", i)
			var err error
			if i == 2 {
				w.(http.Flusher).Flush()
			} else {
				err = rc.Flush()
			}
			if err != nil {
				t.Errorf("Flush: %v", err)
			}
			<-next // the client read this chunk before the next is written
		}
		_ = s.Set("after", "first write") // saved when the handler returns
	}))
	srv := httptest.NewServer(hs.h)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	res, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if sessionCookie(res, "sid") == "" {
		t.Fatal("no session cookie on a streamed response")
	}
	rd := bufio.NewReader(res.Body)
	for i := 1; i <= 3; i++ {
		line, err := rd.ReadString('\n')
		if err != nil || line != fmt.Sprintf("chunk %d\n", i) {
			t.Fatalf("chunk %d: %q, %v", i, line, err)
		}
		next <- struct{}{}
	}
	if _, err := rd.ReadByte(); err == nil {
		t.Fatal("more body than expected")
	}
	h := hashOf(t, cookiePair(sessionCookie(res, "sid")))
	rec, err := hs.store.Store.Load(context.Background(), h, hs.clock.Now())
	rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Data["user"]) != `"alice"` || string(rec.Data["after"]) != `"first write"` {
		t.Errorf("stored data = %v; want user and the change made after the first write", rec.Data)
	}
}

// Hijacking still works through the wrapper, and the session is saved first.
func TestHijack(t *testing.T) {
	hs := newHarness(t, sessions.Options{}, noop)
	cookie := login(t, hs)
	hs.h = hs.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = sessions.FromContext(r.Context()).Set("ws", true)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		_ = brw.Flush()
	}))
	srv := httptest.NewServer(hs.h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Cookie", cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := body(t, res); b != "ok" {
		t.Errorf("body %q", b)
	}
	rec, err := hs.store.Store.Load(context.Background(), hashOf(t, cookie), hs.clock.Now())
	rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
	if err != nil || string(rec.Data["ws"]) != "true" {
		t.Errorf("session not saved before hijack: %v %v", rec.Data, err)
	}
}
