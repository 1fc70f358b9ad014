package integration

import (
	"encoding/json"
	"fmt"
	"github.com/sqlsession/sqlsession/internal/pgtest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// parityCap is MaxSessionsPerUser / maxSessionsPerUser of both apps in
// the parity tests.
const parityCap = 3

// newParity starts the express app with recordDevice, maxSessionsPerUser
// and `trust proxy` 1, and a Go app with the same settings (RecordDevice,
// MaxSessionsPerUser, TrustProxy), on one schema.
func newParity(t *testing.T) *interop {
	t.Helper()
	requireNode(t)
	env := testpg.Migrated(t)
	nodeURL := startNodeApp(t, testpg.ServerDSN(t), env.Schema,
		"RECORD_DEVICE=1", fmt.Sprintf("MAX_SESSIONS_PER_USER=%d", parityCap), "TRUST_PROXY=1")
	m, err := sessions.New(pgstore.New(env.Pool), sessions.Options{
		Name: cookieName, Secrets: []string{secret},
		RecordDevice: true, MaxSessionsPerUser: parityCap, TrustProxy: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler(parityGoRoutes(m)))
	t.Cleanup(srv.Close)
	origin, _ := url.Parse(srv.URL)
	return &interop{t: t, env: env, node: nodeURL, goURL: srv.URL, origin: origin}
}

// deviceJSON is one entry of the Go app's GET /devices.
type deviceJSON struct {
	Hash      string `json:"hash"`
	IP        string `json:"ip"`
	UserAgent string `json:"ua"`
	LastSeen  int64  `json:"seen"` // unix ms; 0 when not recorded
}

// parityGoRoutes: POST /login (Session.Login, and the "user" key Node's
// userKey reads), GET /peek, GET /devices?user=U (ListUserSessions).
func parityGoRoutes(m *sessions.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s, user := sessions.FromContext(r.Context()), r.FormValue("user")
		if err := s.Login(r.Context(), user); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if err := s.Set("user", user); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, "hello ", user)
	})
	mux.HandleFunc("GET /peek", func(w http.ResponseWriter, r *http.Request) {
		var v json.RawMessage
		_, _ = sessions.FromContext(r.Context()).Get(r.FormValue("k"), &v)
		_, _ = w.Write(v)
	})
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		list, err := m.ListUserSessions(r.Context(), r.FormValue("user"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		out := make([]deviceJSON, 0, len(list))
		for _, s := range list {
			d := deviceJSON{Hash: s.Hash.String(), IP: s.IP, UserAgent: s.UserAgent}
			if !s.LastSeen.IsZero() {
				d.LastSeen = s.LastSeen.UnixMilli()
			}
			out = append(out, d)
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}

// login logs b in as user on base, with extra request headers.
func (b *browser) login(base, user string, header http.Header) error {
	req, err := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"user": {user}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	// The whole body: express-session sends its last byte after the save.
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("login on %s: status %d", base, res.StatusCode)
	}
	return nil
}

// devices returns the Go app's ListUserSessions of user, by hash.
func (in *interop) devices(user string) map[string]deviceJSON {
	in.t.Helper()
	res, err := http.Get(in.goURL + "/devices?user=" + url.QueryEscape(user))
	if err != nil {
		in.t.Fatal(err)
	}
	defer res.Body.Close()
	var list []deviceJSON
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || res.StatusCode != 200 {
		in.t.Fatalf("GET /devices: %d %v", res.StatusCode, err)
	}
	out := make(map[string]deviceJSON, len(list))
	for _, d := range list {
		out[d.Hash] = d
	}
	return out
}

// One cap for logins on both sides: sequential logins of one user on Go
// and Node end the oldest sessions beyond it, wherever they were made;
// and 24 concurrent logins (12 on each side) never leave more than the
// cap in the table, in any committed state a sampler sees, nor at the end.
func TestNodeGoPerUserCap(t *testing.T) {
	in := newParity(t)
	var browsers []*browser
	for i, base := range []string{in.goURL, in.node, in.goURL, in.node} {
		b := in.browser()
		if err := b.login(base, "gina", nil); err != nil {
			t.Fatal(err)
		}
		// Distinct created_at, oldest first, whatever the clocks' resolution.
		h := hashOf(b.sessionID())
		if _, err := in.env.DB.Exec(`UPDATE http_sessions SET created_at = now() - make_interval(mins => $2) WHERE id_hash = $1`, h[:], 10-i); err != nil {
			t.Fatal(err)
		}
		browsers = append(browsers, b)
	}
	list := in.devices("gina")
	if len(list) != parityCap {
		t.Fatalf("after 4 logins (Go, Node, Go, Node) with a cap of %d: %d sessions", parityCap, len(list))
	}
	first := hashOf(browsers[0].sessionID())
	if _, ok := list[first.String()]; ok {
		t.Error("the oldest session (Go's first login) survived Node's login over the cap")
	}
	browsers[0].want("GET", in.node, "/peek?k=user", nil, "")
	browsers[0].want("GET", in.goURL, "/peek?k=user", nil, "")
	browsers[3].want("GET", in.goURL, "/peek?k=user", nil, `"gina"`)

	// Concurrent logins of one user on both sides.
	var stop atomic.Bool
	most := make(chan int, 1)
	go func() { // the most sessions of the user any committed state had
		m := 0
		for !stop.Load() {
			var n int
			if err := in.env.DB.QueryRow(`SELECT count(*) FROM http_sessions WHERE user_id = 'hal' AND expires_at > now()`).Scan(&n); err == nil && n > m {
				m = n
			}
			time.Sleep(time.Millisecond)
		}
		most <- m
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := 0; i < 24; i++ {
		base := in.goURL
		if i%2 == 1 {
			base = in.node
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- in.browser().login(base, "hal", nil)
		}()
	}
	wg.Wait()
	stop.Store(true)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// On Citus a login's write and its eviction commit on two shards, and
	// a count across shards can see one before the other (no global
	// snapshot): the cap holds once each login has committed, checked below.
	if m := <-most; m > parityCap && !pgtest.IsCitus(t, in.env) {
		t.Errorf("during 24 concurrent logins (Go and Node) the user had %d sessions at once; cap %d", m, parityCap)
	}
	if n := len(in.devices("hal")); n != parityCap {
		t.Errorf("after 24 concurrent logins (Go and Node): %d sessions, want the cap %d", n, parityCap)
	}
}

// A Node session's device shows in Go's ListUserSessions, recorded as Go
// records it: for the same request headers (X-Forwarded-For behind one
// trusted proxy, a User-Agent with bytes that are not UTF-8 or longer than
// 256 bytes), Node's row and Go's row hold the same ip and user_agent.
// A later request on Node (express-session's touch) records its device.
func TestNodeDeviceInGoList(t *testing.T) {
	in := newParity(t)
	long := strings.Repeat("a", 255) + "é" + strings.Repeat("z", 20)
	cases := []struct{ name, xff, ua, wantIP string }{
		{"plain", "198.51.100.1, 203.0.113.9", "Mozilla/5.0 (X11; Linux) é 😀", "203.0.113.9"},
		{"IPv6 with zone, not UTF-8", "2001:DB8:0:0::1%eth0", "bad \xff\xfe bytes \xc0\xaf", "2001:db8::1"},
		{"IPv4-mapped", "::ffff:203.0.113.7", long, "::ffff:203.0.113.7"},
		{"not an address", "unknown", "curl/8.5.0", "127.0.0.1"},
		{"no header", "", "", "127.0.0.1"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header := http.Header{}
			if tc.xff != "" {
				header["X-Forwarded-For"] = []string{tc.xff}
			}
			if tc.ua != "" {
				header["User-Agent"] = []string{tc.ua}
			} else {
				header["User-Agent"] = []string{""} // Go's client sends none
			}
			var got [2]deviceJSON
			for j, base := range []string{in.goURL, in.node} {
				user := fmt.Sprintf("dev-%d-%d", i, j)
				b := in.browser()
				if err := b.login(base, user, header); err != nil {
					t.Fatal(err)
				}
				list := in.devices(user)
				h := hashOf(b.sessionID())
				d, ok := list[h.String()]
				if !ok || len(list) != 1 {
					t.Fatalf("ListUserSessions(%s) after a login on %s: %v", user, base, list)
				}
				if d.LastSeen == 0 {
					t.Errorf("login on %s: no last seen recorded", base)
				}
				got[j] = d
			}
			goSide, nodeSide := got[0], got[1]
			if nodeSide.IP != tc.wantIP || goSide.IP != tc.wantIP {
				t.Errorf("ip: Node %q, Go %q, want %q", nodeSide.IP, goSide.IP, tc.wantIP)
			}
			if nodeSide.UserAgent != goSide.UserAgent {
				t.Errorf("user agent: Node %q, Go %q", nodeSide.UserAgent, goSide.UserAgent)
			}
		})
	}

	// A request that only reads (express-session touches the session)
	// records the device it came from.
	b := in.browser()
	if err := b.login(in.node, "ivy", http.Header{"User-Agent": {"first"}}); err != nil {
		t.Fatal(err)
	}
	h := hashOf(b.sessionID())
	// An earlier last seen, as a parameter: Citus refuses a STABLE
	// timestamptz - interval over a column in an UPDATE.
	if _, err := in.env.DB.Exec(`UPDATE http_sessions SET last_seen_at = $2 WHERE id_hash = $1`, h[:], time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := in.devices("ivy")[h.String()]
	req, _ := http.NewRequest("GET", in.node+"/peek?k=user", nil)
	req.Header.Set("User-Agent", "second")
	req.Header.Set("X-Forwarded-For", "192.0.2.44")
	res, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body) // the touch ends before the last byte
	res.Body.Close()
	after := in.devices("ivy")[h.String()]
	if after.UserAgent != "second" || after.IP != "192.0.2.44" || after.LastSeen <= before.LastSeen {
		t.Errorf("after a read on Node: %+v, before %+v; want the second device, seen later", after, before)
	}
}
