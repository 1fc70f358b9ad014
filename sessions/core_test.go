package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
)

// One size limit: what Set accepts is saved, whatever its size, and what
// would not fit is refused by Set itself with ErrTooLarge.
func TestSetAcceptsExactlyWhatIsSaved(t *testing.T) {
	t.Run("a limit above the default is the one in force", func(t *testing.T) {
		big := strings.Repeat("x", 1536<<10) // 1.5 MiB, over DefaultMaxDataBytes
		hs := newHarness(t, sessions.Options{MaxDataBytes: 2 << 20}, setKey("big", big))
		res := hs.get("")
		if res.StatusCode != 200 || sessionCookie(res, "sid") == "" {
			t.Fatalf("status %d, Set-Cookie %q: want the 1.5 MiB session saved", res.StatusCode, sessionCookie(res, "sid"))
		}
		if n, _ := hs.store.Count(context.Background(), hs.clock.Now()); n != 1 {
			t.Fatalf("%d sessions stored, want 1", n)
		}
	})
	t.Run("every size up to the limit", func(t *testing.T) {
		const limit = 4096
		opts := sessions.Options{MaxDataBytes: limit, Cookie: sessions.CookieOptions{
			Domain: strings.Repeat("d", 60) + ".example.com", Path: "/" + strings.Repeat("p", 200), MaxAge: 1 << 40,
		}}
		accepted, refused := 0, 0
		for n := 3000; n <= limit; n += 16 {
			var setErr error
			hs := newHarness(t, opts, func(w http.ResponseWriter, r *http.Request) {
				setErr = sessions.FromContext(r.Context()).Set("v", strings.Repeat("é", n/2))
			})
			res := hs.do("GET", opts.Cookie.Path+"/x", "")
			stored, _ := hs.store.Count(context.Background(), hs.clock.Now())
			switch {
			case setErr == nil && res.StatusCode == 200 && stored == 1:
				accepted++
			case errors.Is(setErr, sessions.ErrTooLarge) && res.StatusCode == 200 && stored == 0:
				refused++
			default:
				t.Fatalf("value of %d bytes: Set = %v, status %d, %d stored; want saved, or refused by Set", n, setErr, res.StatusCode, stored)
			}
		}
		if accepted == 0 || refused == 0 {
			t.Errorf("accepted %d, refused %d: the range should straddle the limit", accepted, refused)
		}
	})
}

// Two Managers with different cookies wrap one handler (a "public" cookie
// around an "admin" one): each keeps its own session and sends its own
// cookie; sessions.FromContext gives the innermost.
func TestNestedManagers(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	outerStore, innerStore := newSpy(), newSpy()
	outer, err := sessions.New(outerStore, sessions.Options{Name: "public", Secrets: []string{secret}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := sessions.New(innerStore, sessions.Options{Name: "admin", Secrets: []string{secret}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h := outer.Handler(inner.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		_ = outer.FromContext(ctx).Set("theme", "dark")
		_ = inner.FromContext(ctx).Set("admin", true)
		fmt.Fprint(w, sessions.FromContext(ctx) == inner.FromContext(ctx), outer.FromContext(ctx) != inner.FromContext(ctx))
	})))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	res := w.Result()
	if got := body(t, res); got != "true true" {
		t.Errorf("FromContext is the inner session, the two differ: %q", got)
	}
	if sessionCookie(res, "public") == "" || sessionCookie(res, "admin") == "" {
		t.Errorf("Set-Cookie = %q, want both the public and the admin cookie", res.Header.Values("Set-Cookie"))
	}
	if outerStore.count("Create") != 1 || innerStore.count("Create") != 1 {
		t.Errorf("creates: outer %d, inner %d; want one each", outerStore.count("Create"), innerStore.count("Create"))
	}
}
