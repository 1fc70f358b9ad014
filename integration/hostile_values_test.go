package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
)

// hostileValue is one Set call an application might make with data from a
// client: refuse is true where no store can keep the value as written, so
// Set must return an error (on every store alike) rather than let the save
// fail after the handler ran.
type hostileValue struct {
	name   string
	key    string
	v      any
	refuse bool
}

var hostileValues = []hostileValue{
	{"NUL in a string", "s", "a\x00b", true},
	{"NUL in a key", "k\x00", "x", true},
	{"NUL in a nested string", "n", map[string]any{"a": []any{"x\x00"}}, true},
	{"NUL in a nested key", "n", map[string]any{"\x00": 1}, true},
	{"escaped NUL in raw JSON", "r", json.RawMessage(`"a\u0000b"`), true},
	{"invalid UTF-8 key", "\xff\xfe", "x", true},
	{"invalid UTF-8 in raw JSON", "r", json.RawMessage("\"\xff\xfe\""), true},
	{"unpaired surrogate in raw JSON", "r", json.RawMessage(`"\ud800"`), true},
	{"spelled-out number over the limit", "n", json.Number("1e2000000"), true},
	// Accepted or refused, but never a 500 and never stored differently
	// per store:
	{"invalid UTF-8 in a Go string", "s", "\xff\xfe ok", false},
	{"huge exponent (issue: 224 bytes became 2 MiB)", "n", json.Number("1e131071"), false},
	{"exponent beyond numeric's range", "n", json.Number("1e131072"), false},
	{"tiny exponent beyond numeric's scale", "n", json.Number("1e-20000"), false},
	{"raw huge exponent", "n", json.RawMessage(`[1E+300, -2.5e-3, 1e0]`), false},
	{"float64 with exponent", "f", 1e300, false},
	{"long integer", "i", json.Number(strings.Repeat("9", 5000)), false},
	{"negative zero", "z", json.RawMessage(`-0`), false},
	{"HTML characters", "h", "<script>&amp;</script>", false},
	{"line separators", "l", "a\u2028b\u2029c", false},
	{"control characters", "c", "\x01\x1f\b\f\n\r\t", false},
	{"empty object key", "e", map[string]any{"": ""}, false},
}

// hostileUserIDs are principals an application might pass on from a
// client; none may cause a 500, and what is stored must be what was set.
var hostileUserIDs = []string{"u\x00", "\x00", "\xff", "a\xc3", "ünï©ødé", strings.Repeat("u", 10000), " ", "o'; DROP TABLE http_sessions; --"}

// hostileApp serves the corpus: POST /value?i= calls Set with
// hostileValues[i] (400 when Set refuses), POST /user?i= sets
// hostileUserIDs[i], GET /string?i= checks that a string value reads back
// as JSON encodes it (409 if not).
func hostileApp(t testing.TB, store sessions.Store, values []hostileValue) http.Handler {
	mux := http.NewServeMux()
	pick := func(r *http.Request, n int) int {
		i, err := strconv.Atoi(r.FormValue("i"))
		if err != nil || i < 0 || i >= n {
			t.Errorf("bad index %q", r.FormValue("i"))
			return 0
		}
		return i
	}
	mux.HandleFunc("POST /value", func(w http.ResponseWriter, r *http.Request) {
		c := values[pick(r, len(values))]
		if err := sessions.FromContext(r.Context()).Set(c.key, c.v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("POST /user", func(w http.ResponseWriter, r *http.Request) {
		if err := setUser(sessions.FromContext(r.Context()), hostileUserIDs[pick(r, len(hostileUserIDs))]); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("GET /string", func(w http.ResponseWriter, r *http.Request) {
		c := values[pick(r, len(values))]
		var got, want any
		b, _ := json.Marshal(c.v)
		_ = json.Unmarshal(b, &want)
		if ok, err := sessions.FromContext(r.Context()).Get(c.key, &got); !ok || err != nil || !reflect.DeepEqual(got, want) {
			http.Error(w, fmt.Sprintf("read back %#v (found %v, %v), want %#v", got, ok, err, want), http.StatusConflict)
		}
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if err := s.Regenerate(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := errors.Join(setUser(s, "eve"), s.Set("user", "eve")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /peek", func(w http.ResponseWriter, r *http.Request) {
		var u string
		_, _ = sessions.FromContext(r.Context()).Get("user", &u)
		fmt.Fprint(w, u)
	})
	return errorShowingManager(t, store).Handler(mux)
}

// setUser calls Session.SetUser, returning its error where it has one.
func setUser(s *sessions.Session, id string) error {
	if u, ok := any(s).(interface{ SetUser(string) error }); ok {
		return u.SetUser(id)
	}
	s.SetUser(id)
	return nil
}

// Every hostile value, in a new session (Create) and in a stored one
// (Update), on Postgres and SQLite: Set refuses what no store can keep,
// nothing gives a 500, and what was accepted loads again, as written.
func TestHostileValues(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		srv := httptest.NewServer(hostileApp(t, b.store, hostileValues))
		defer srv.Close()
		for i, c := range hostileValues {
			for _, stored := range []bool{false, true} {
				cl := newClient(t, srv)
				if stored {
					if code, body, _ := cl.do("POST", "/login", url.Values{"user": {"eve"}}); code != 200 {
						t.Fatalf("login: %d %s", code, body)
					}
				}
				code, body, _ := cl.do("POST", "/value", url.Values{"i": {fmt.Sprint(i)}})
				switch {
				case code >= 500:
					t.Errorf("%s (stored session %v): status %d %q, a 500 the user did not cause", c.name, stored, code, body)
					continue
				case c.refuse && code != http.StatusBadRequest:
					t.Errorf("%s (stored session %v): status %d, want Set to refuse it (400)", c.name, stored, code)
					continue
				case code != 200:
					continue
				}
				checkLoads(t, b, cl, c.name)
				if _, isString := c.v.(string); isString {
					if code, body, _ := cl.do("GET", "/string?i="+fmt.Sprint(i), nil); code != 200 {
						t.Errorf("%s: read back: %d %s", c.name, code, body)
					}
				}
			}
		}
	})
}

// checkLoads asserts that the client's session loads again (no 500) and
// that its stored data is within the default limit.
func checkLoads(t *testing.T, b backend, cl *client, what string) {
	t.Helper()
	if code, body, _ := cl.do("GET", "/peek", nil); code != 200 {
		t.Errorf("%s: the next request got %d %q", what, code, body)
	}
	if id := cl.sessionID(); id != "" && rowExists(t, b, hashOf(id)) {
		if n := storedSize(t, b, hashOf(id)); n > sessions.DefaultMaxDataBytes {
			t.Errorf("%s: stored data is %d bytes, over the %d limit", what, n, sessions.DefaultMaxDataBytes)
		}
	}
}

// rowExists reports whether the session's row is stored (whatever its data).
func rowExists(t *testing.T, b backend, h sessions.IDHash) bool {
	t.Helper()
	q := `SELECT count(*) FROM http_sessions WHERE id_hash = $1`
	if b.name == "sqlite" {
		q = `SELECT count(*) FROM http_sessions WHERE id_hash = ?`
	}
	var n int
	if err := b.sqlDB.QueryRow(q, h[:]).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// Hostile user ids on Postgres and SQLite: no 500; an id that is stored is
// stored exactly.
func TestHostileUserIDs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		srv := httptest.NewServer(hostileApp(t, b.store, hostileValues))
		defer srv.Close()
		for i, id := range hostileUserIDs {
			cl := newClient(t, srv)
			cl.do("POST", "/login", url.Values{"user": {"eve"}})
			code, body, _ := cl.do("POST", "/user", url.Values{"i": {fmt.Sprint(i)}})
			if code >= 500 {
				t.Errorf("user id %q: status %d %q, a 500 the user did not cause", id, code, body)
				continue
			}
			r, ok := b.query(t, hashOf(cl.sessionID()))
			if ok && r.userID.Valid && r.userID.String != id && r.userID.String != "eve" {
				t.Errorf("user id %q stored as %q", id, r.userID.String)
			}
			if code == 200 && (!ok || r.userID.String != id) {
				t.Errorf("user id %q: accepted (200) but stored as %q (row found %v)", id, r.userID.String, ok)
			}
		}
	})
}

// randomHostileValues returns n values built from random bytes (NUL and
// invalid UTF-8 included) and numbers with random exponents.
func randomHostileValues(rng *rand.Rand, n int) []hostileValue {
	randString := func() string {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = byte(rng.IntN(256))
			} else {
				const alphabet = "ab\x00\xff\xc3\"\\/<é"
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		return string(b)
	}
	out := make([]hostileValue, n)
	for i := range out {
		switch rng.IntN(4) {
		case 0:
			out[i] = hostileValue{name: "random string", key: "s", v: randString()}
		case 1:
			out[i] = hostileValue{name: "random key", key: "k" + randString(), v: 1}
		case 2:
			num := fmt.Sprintf("%d.%de%d", rng.IntN(1000), rng.IntN(100), rng.IntN(300000)-150000)
			out[i] = hostileValue{name: "random exponent " + num, key: "n", v: json.Number(num)}
		default:
			out[i] = hostileValue{name: "random nested", key: "m", v: map[string]any{randString(): []any{randString(), rng.Float64() * 1e300}}}
		}
	}
	return out
}

// 400 random hostile values per store: never a 500, and an accepted value
// leaves a session that loads and fits the limit.
func TestHostileValuesRandom(t *testing.T) {
	values := randomHostileValues(rand.New(rand.NewPCG(3, 4)), 400)
	eachBackend(t, func(t *testing.T, b backend) {
		srv := httptest.NewServer(hostileApp(t, b.store, values))
		defer srv.Close()
		cl := newClient(t, srv)
		cl.do("POST", "/login", url.Values{"user": {"eve"}})
		fivexx := 0
		for i, c := range values {
			code, body, _ := cl.do("POST", "/value", url.Values{"i": {fmt.Sprint(i)}})
			if code >= 500 {
				if fivexx++; fivexx <= 5 {
					t.Errorf("%s %q: status %d %q", c.name, fmt.Sprint(c.v), code, body)
				}
			}
		}
		if fivexx > 0 {
			t.Errorf("%d of %d random hostile values gave a 500", fivexx, len(values))
		}
		checkLoads(t, b, cl, "after the random values")
	})
}

// FuzzSet drives Session.Set through the middleware on Postgres and SQLite
// with any key, string value and number text, first in a new session
// (Create), then in the stored one (Update): never a 500 (Set refuses what
// a store cannot keep: 400), and an accepted string reads back as JSON
// encodes it. `go test` runs the seeds; for longer:
//
//	go test -run '^$' -fuzz FuzzSet -fuzztime 1m ./integration
func FuzzSet(f *testing.F) {
	for _, seed := range [][3]string{
		{"k", "v", "1"}, {"k\x00", "v", "2"}, {"k", "a\x00b", "3"}, {"\xff", "\xfe", "4"}, {"k", "ok", "1e131071"},
		{"k", "ok", "1e-20000"}, {"k", "<&>\u2028", "-0"}, {"", "v", "1"}, {"cookie", "v", "1"}, {"k", "v", "1e2000000"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	var handlers []http.Handler
	for _, b := range []backend{sqliteBackend(f), postgresBackend(f)} {
		handlers = append(handlers, fuzzSetApp(f, b.store))
	}
	f.Fuzz(func(t *testing.T, key, value, number string) {
		form := url.Values{"k": {key}, "v": {value}, "n": {number}}
		for _, h := range handlers {
			var cookie string
			for _, stored := range []bool{false, true} {
				code, body, setCookie := serve(h, "POST", "/set", form, cookie)
				if code >= 500 {
					t.Fatalf("Set(%q, %q), n=%q (stored session %v): status %d %s", key, value, number, stored, code, body)
				}
				if code != 200 {
					return
				}
				cookie = cmpOr(setCookie, cookie)
				if code, body, _ := serve(h, "GET", "/get", form, cookie); code != 200 {
					t.Fatalf("Set(%q, %q) accepted, then read back: %d %s", key, value, code, body)
				}
			}
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// serve sends one request to h and returns the status, body and the
// session cookie it set ("name=value"), if any.
func serve(h http.Handler, method, path string, form url.Values, cookie string) (int, string, string) {
	req := httptest.NewRequest(method, path+"?"+form.Encode(), nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	set := ""
	for _, c := range w.Result().Cookies() {
		if c.Name == "sid" && c.Value != "" {
			set = c.Name + "=" + c.Value
		}
	}
	return w.Code, w.Body.String(), set
}

// fuzzSetApp: POST /set?k=&v=&n= sets k to v and "n" to the number n (400
// when Set refuses); GET /get checks that k reads back as JSON encodes v.
func fuzzSetApp(t testing.TB, store sessions.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if err := errors.Join(s.Set(r.FormValue("k"), r.FormValue("v")), s.Set("n", json.Number(r.FormValue("n")))); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		var got, want string
		b, _ := json.Marshal(r.FormValue("v"))
		_ = json.Unmarshal(b, &want)
		if ok, err := sessions.FromContext(r.Context()).Get(r.FormValue("k"), &got); !ok || err != nil || got != want {
			http.Error(w, fmt.Sprintf("read back %q (found %v, %v), want %q", got, ok, err, want), http.StatusConflict)
		}
	})
	return errorShowingManager(t, store).Handler(mux)
}

// errorShowingManager is a Manager whose ErrorHandler puts the error in
// the 500 response, so a failing test says what the store refused.
func errorShowingManager(t testing.TB, store sessions.Store) *sessions.Manager {
	t.Helper()
	m, err := sessions.New(store, sessions.Options{
		Secrets: []string{secret}, Logger: slog.New(slog.DiscardHandler),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "session store error: "+err.Error(), http.StatusInternalServerError)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
