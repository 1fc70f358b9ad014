package sessions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

const (
	valueKeyA = "value key A: 32+ bytes of test key material"
	valueKeyB = "value key B: 32+ bytes of other key material"
)

// sealApp is a small application on store, with the value keys keys:
// /set?k=&v= sets a string, /get?k= answers "value" (404 when absent, 500
// with "decrypt: …" for ErrDecrypt), /regen regenerates, /login?u= sets the
// user and a name. Every response names the session's hash in X-Hash.
func sealApp(t *testing.T, store sessions.Store, keys ...string) (*sessions.Manager, http.Handler) {
	t.Helper()
	m, err := sessions.New(store, sessions.Options{Secrets: []string{secret}, ValueKeys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Set(r.FormValue("k"), r.FormValue("v")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		var v string
		ok, err := sessions.FromContext(r.Context()).Get(r.FormValue("k"), &v)
		switch {
		case errors.Is(err, sessions.ErrDecrypt):
			http.Error(w, "decrypt: "+err.Error(), http.StatusInternalServerError)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case !ok:
			http.NotFound(w, r)
		default:
			fmt.Fprint(w, v)
		}
	})
	mux.HandleFunc("/regen", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.FromContext(r.Context()).Regenerate(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		if err := s.SetUser(r.FormValue("u")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		_ = s.Set("name", "secret name of "+r.FormValue("u"))
	})
	return m, m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Hash", sessions.FromContext(r.Context()).IDHash().String())
		mux.ServeHTTP(w, r)
	}))
}

// sealClient is a browser of one cookie.
type sealClient struct {
	t      *testing.T
	cookie string
	hash   string
}

func (c *sealClient) do(h http.Handler, path string, q url.Values) (int, string) {
	c.t.Helper()
	r := httptest.NewRequest("GET", path+"?"+q.Encode(), nil)
	if c.cookie != "" {
		r.Header.Set("Cookie", c.cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if sc := sessionCookie(w.Result(), "sid"); sc != "" {
		c.cookie = cookiePair(sc)
	}
	c.hash = w.Header().Get("X-Hash")
	return w.Code, strings.TrimSpace(w.Body.String())
}

func (c *sealClient) set(h http.Handler, k, v string) {
	c.t.Helper()
	if code, body := c.do(h, "/set", url.Values{"k": {k}, "v": {v}}); code != http.StatusOK {
		c.t.Fatalf("set %s: %d %s", k, code, body)
	}
}

func (c *sealClient) get(h http.Handler, k string) (int, string) {
	c.t.Helper()
	return c.do(h, "/get", url.Values{"k": {k}})
}

// storedData returns the stored data of the client's session.
func storedData(t *testing.T, store sessions.Store, c *sealClient) map[string]json.RawMessage {
	t.Helper()
	h, err := sessions.ParseIDHash(c.hash)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := store.Load(context.Background(), h, sessionsNow())
	rec.Data, _ = rec.Values() // as a map, whether Load gave a map or JSON text
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return rec.Data
}

func quietMem() *memstore.Store {
	return memstore.NewWithOptions(memstore.Options{Logger: slog.New(slog.DiscardHandler)})
}

// Values are stored sealed and read back in plaintext; the cookie JSON
// stays plaintext (express-session reads it).
func TestEncryptValuesRoundTrip(t *testing.T) {
	store := quietMem()
	_, h := sealApp(t, store, valueKeyA)
	c := &sealClient{t: t}
	c.set(h, "card", "4111-1111-1111-1111")
	if code, v := c.get(h, "card"); code != 200 || v != "4111-1111-1111-1111" {
		t.Fatalf("get = %d %q", code, v)
	}
	data := storedData(t, store, c)
	all, _ := json.Marshal(data)
	if strings.Contains(string(all), "4111") {
		t.Fatalf("the store holds the plaintext: %s", all)
	}
	if v := string(data["card"]); !strings.HasPrefix(v, `"enc:v1:`) {
		t.Errorf("stored value %s is not a sealed string", v)
	}
	if _, ok := data["$seal"]; !ok {
		t.Errorf("no $seal salt stored: %s", all)
	}
	if !strings.Contains(string(data["cookie"]), "originalMaxAge") {
		t.Errorf("cookie JSON not plaintext: %s", data["cookie"])
	}
	if code, _ := c.get(h, "missing"); code != http.StatusNotFound {
		t.Errorf("absent key: %d, want 404", code)
	}
}

// A wrong key, no key, a tampered value, or a value moved to another key
// or session give ErrDecrypt, never a panic or an empty value; the other
// values of the session still read (nothing is opened at load).
func TestEncryptValuesDoNotOpenElsewhere(t *testing.T) {
	store := quietMem()
	_, h := sealApp(t, store, valueKeyA)
	c := &sealClient{t: t}
	c.set(h, "a", "alpha")
	c.set(h, "b", "beta")
	_, wrong := sealApp(t, store, valueKeyB)
	_, none := sealApp(t, store)
	for name, app := range map[string]http.Handler{"wrong key": wrong, "no key": none} {
		if code, body := c.get(app, "a"); code != 500 || !strings.HasPrefix(body, "decrypt:") {
			t.Errorf("%s: get = %d %q, want 500 decrypt", name, code, body)
		}
	}

	data := storedData(t, store, c)
	hash, _ := sessions.ParseIDHash(c.hash)
	tampered := []byte(string(data["a"]))
	tampered[len(tampered)-3] ^= 1
	other := &sealClient{t: t}
	other.set(h, "x", "x")
	ctx := context.Background()
	if err := store.Update(ctx, hash, sessionstore.Change{Set: map[string]json.RawMessage{"a": tampered, "moved": data["b"]}}, sessionsNow()); err != nil {
		t.Fatal(err)
	}
	oh, _ := sessions.ParseIDHash(other.hash)
	if err := store.Update(ctx, oh, sessionstore.Change{Set: map[string]json.RawMessage{"b": data["b"]}}, sessionsNow()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c   *sealClient
		key string
	}{{c, "a"}, {c, "moved"}, {other, "b"}} {
		if code, body := tc.c.get(h, tc.key); code != 500 || !strings.HasPrefix(body, "decrypt:") {
			t.Errorf("get %s = %d %q, want 500 decrypt", tc.key, code, body)
		}
	}
	if code, v := c.get(h, "b"); code != 200 || v != "beta" {
		t.Errorf("an intact value beside a broken one: %d %q", code, v)
	}
}

// Key rotation: the first key seals, all open; a value sealed under an old
// key is re-sealed under the new one when a request sets it.
func TestEncryptValuesKeyRotation(t *testing.T) {
	store := quietMem()
	_, oldApp := sealApp(t, store, valueKeyA)
	c := &sealClient{t: t}
	c.set(oldApp, "a", "alpha")
	c.set(oldApp, "b", "beta")
	before := storedData(t, store, c)
	_, newApp := sealApp(t, store, valueKeyB, valueKeyA)
	if code, v := c.get(newApp, "a"); code != 200 || v != "alpha" {
		t.Fatalf("old value under the rotated keys: %d %q", code, v)
	}
	c.set(newApp, "a", "alpha2")
	after := storedData(t, store, c)
	if kid(after["a"]) == kid(before["a"]) {
		t.Errorf("a set value kept the old key id %s", kid(after["a"]))
	}
	if string(after["b"]) != string(before["b"]) {
		t.Errorf("an untouched value was rewritten: %s -> %s", before["b"], after["b"])
	}
	if code, v := c.get(newApp, "b"); code != 200 || v != "beta" {
		t.Errorf("untouched old value: %d %q", code, v)
	}
	if code, _ := c.get(oldApp, "a"); code != 500 {
		t.Errorf("a value sealed under the new key opened without it: %d", code)
	}
}

func kid(v json.RawMessage) string {
	parts := strings.Split(strings.Trim(string(v), `"`), ":")
	if len(parts) != 4 {
		return "?"
	}
	return parts[2]
}

// Regenerate moves the row to a new id: its values still open.
func TestEncryptValuesSurviveRegenerate(t *testing.T) {
	store := quietMem()
	_, h := sealApp(t, store, valueKeyA)
	c := &sealClient{t: t}
	c.set(h, "a", "alpha")
	first := c.hash
	if code, body := c.do(h, "/regen", nil); code != 200 {
		t.Fatalf("regen: %d %s", code, body)
	}
	c.set(h, "b", "beta")
	if c.hash == first {
		t.Fatal("the id did not change")
	}
	for k, want := range map[string]string{"a": "alpha", "b": "beta"} {
		if code, v := c.get(h, k); code != 200 || v != want {
			t.Errorf("after Regenerate, get %s = %d %q", k, code, v)
		}
	}
}

// Setting a value equal to the stored one writes nothing, as without
// encryption (the sealed bytes differ each time, the plaintext does not).
func TestEncryptValuesEqualSetIsNoWrite(t *testing.T) {
	spy := newSpy()
	_, h := sealApp(t, spy, valueKeyA)
	c := &sealClient{t: t}
	c.set(h, "a", "alpha")
	spy.reset()
	c.set(h, "a", "alpha")
	if n := spy.count("Update"); n != 0 {
		t.Errorf("Set of an equal value made %d Update(s)", n)
	}
	c.set(h, "a", "other")
	if n := spy.count("Update"); n != 1 {
		t.Errorf("Set of a new value made %d Update(s), want 1", n)
	}
}

// Values stored before encryption was turned on still read, and are
// sealed when set.
func TestEncryptValuesPlaintextBefore(t *testing.T) {
	store := quietMem()
	_, plain := sealApp(t, store)
	c := &sealClient{t: t}
	c.set(plain, "a", "alpha")
	c.set(plain, "b", "beta")
	_, sealed := sealApp(t, store, valueKeyA)
	if code, v := c.get(sealed, "a"); code != 200 || v != "alpha" {
		t.Fatalf("plaintext value with keys on: %d %q", code, v)
	}
	c.set(sealed, "a", "alpha")
	data := storedData(t, store, c)
	if !strings.HasPrefix(string(data["a"]), `"enc:v1:`) || string(data["b"]) != `"beta"` {
		t.Errorf("after a Set: a=%s b=%s, want a sealed, b as it was", data["a"], data["b"])
	}
	if code, v := c.get(sealed, "a"); code != 200 || v != "alpha" {
		t.Errorf("re-sealed value: %d %q", code, v)
	}
}

// The size limit counts the sealed form; "$seal" is reserved; bad keys are
// refused by New.
func TestEncryptValuesLimitsAndOptions(t *testing.T) {
	store := quietMem()
	// largest returns the longest string value Set accepts with keys.
	largest := func(keys ...string) (n int, reserved error) {
		m, err := sessions.New(store, sessions.Options{Secrets: []string{secret}, ValueKeys: keys, MaxDataBytes: 1000})
		if err != nil {
			t.Fatal(err)
		}
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := sessions.FromContext(r.Context())
			reserved = s.Set("$seal", "x")
			for n = 0; s.Set("v", strings.Repeat("x", n+1)) == nil; n++ {
			}
			if err := s.Set("v", strings.Repeat("x", n+1)); !errors.Is(err, sessions.ErrTooLarge) {
				t.Errorf("Set over the limit: %v, want ErrTooLarge", err)
			}
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		return n, reserved
	}
	plainMax, _ := largest()
	sealedMax, reserved := largest(valueKeyA)
	if reserved == nil {
		t.Error(`Set("$seal") succeeded`)
	}
	t.Logf("largest value: %d bytes plain, %d sealed", plainMax, sealedMax)
	// base64 of nonce, value and tag, the key id and the salt entry.
	if sealedMax >= plainMax*3/4 || sealedMax < plainMax/2 {
		t.Errorf("largest value: %d bytes sealed, %d plain: the limit does not count the sealed form", sealedMax, plainMax)
	}
	for _, keys := range [][]string{{"short"}, {valueKeyA, valueKeyA}} {
		if _, err := sessions.New(store, sessions.Options{Secrets: []string{secret}, ValueKeys: keys}); err == nil {
			t.Errorf("New accepted ValueKeys %q", keys)
		}
	}
}

// ListUserSessions returns values as stored; GetValue opens them.
func TestEncryptValuesListUserSessions(t *testing.T) {
	store := quietMem()
	m, h := sealApp(t, store, valueKeyA)
	c := &sealClient{t: t}
	if code, body := c.do(h, "/login", url.Values{"u": {"alice"}}); code != 200 {
		t.Fatalf("login: %d %s", code, body)
	}
	list, err := m.ListUserSessions(context.Background(), "alice")
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if strings.Contains(string(list[0].Data["name"]), "alice") {
		t.Errorf("listed value is plaintext: %s", list[0].Data["name"])
	}
	var name string
	if ok, err := m.GetValue(list[0], "name", &name); !ok || err != nil || name != "secret name of alice" {
		t.Errorf("GetValue = %v %v %q", ok, err, name)
	}
	m2, _ := sealApp(t, store, valueKeyB)
	if _, err := m2.GetValue(list[0], "name", &name); !errors.Is(err, sessions.ErrDecrypt) {
		t.Errorf("GetValue with the wrong key: %v, want ErrDecrypt", err)
	}
}

// sessionsNow is the real clock for direct store calls in these tests.
func sessionsNow() time.Time { return time.Now() }
