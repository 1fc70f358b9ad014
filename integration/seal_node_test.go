package integration

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/integration/internal/testpg"
	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/pgstore"
)

// connect-sqlsession with valueKeys and Go with Options.ValueKeys read
// each other's sealed values, across a rotation of the id on either side
// and a rotation of the keys; the table holds no value in plaintext.
func TestNodeGoSealedValues(t *testing.T) {
	requireNode(t)
	env := testpg.Migrated(t)
	keys := []string{valueKeyNew, valueKeyOld}
	keysJSON, _ := json.Marshal(keys)
	nodeURL := startNodeApp(t, testpg.ServerDSN(t), env.Schema, "VALUE_KEYS="+string(keysJSON))
	srv := httptest.NewServer(goNodeApp(t, pgstore.New(env.Pool), sessions.Options{ValueKeys: keys}))
	t.Cleanup(srv.Close)
	origin, _ := url.Parse(srv.URL)
	in := &interop{t: t, env: env, node: nodeURL, goURL: srv.URL, origin: origin}
	alice := in.browser()

	// Node writes sealed (its login regenerates), Go reads.
	alice.want("POST", in.node, "/login", url.Values{"user": {"alice"}}, "hello alice")
	r, ok := in.rowOf(alice.sessionID())
	if !ok {
		t.Fatal("Node's login stored no row")
	}
	if user, _ := r.data["user"].(string); !strings.HasPrefix(user, "enc:v1:") || r.data["$seal"] == nil || r.data["cookie"] == nil {
		t.Fatalf("Node's row is not sealed as Go seals: %s", r.rawData)
	}
	alice.want("GET", in.goURL, "/peek?k=user", nil, `"alice"`)

	// Go writes sealed, Node reads; then Go rotates the id, Node still reads.
	alice.want("POST", in.goURL, "/set", url.Values{"k": {"color"}, "v": {"cerulean"}}, "ok")
	alice.want("GET", in.node, "/peek?k=color", nil, `"cerulean"`)
	alice.want("POST", in.goURL, "/regenerate", nil, "ok")
	alice.want("GET", in.node, "/peek?k=user", nil, `"alice"`)
	alice.want("GET", in.node, "/peek?k=color", nil, `"cerulean"`)

	// Node merges a key into the rotated session; Go reads every key.
	alice.want("POST", in.node, "/set", url.Values{"k": {"pet"}, "v": {"axolotl"}}, "ok")
	for k, v := range map[string]string{"user": "alice", "color": "cerulean", "pet": "axolotl"} {
		alice.want("GET", in.goURL, "/peek?k="+k, nil, `"`+v+`"`)
	}
	r, _ = in.rowOf(alice.sessionID())
	for _, plain := range []string{"alice", "cerulean", "axolotl"} {
		if strings.Contains(r.rawData, plain) {
			t.Errorf("the row's data shows %q: %s", plain, r.rawData)
		}
	}

	// A Go app with only the old key cannot open what the new key sealed:
	// an error, not an empty value.
	old := httptest.NewServer(goNodeApp(t, pgstore.New(env.Pool), sessions.Options{ValueKeys: []string{valueKeyOld}}))
	t.Cleanup(old.Close)
	if code, body := alice.do("GET", old.URL, "/peek?k=pet", nil); code != 500 || !strings.Contains(body, "does not open") {
		t.Errorf("old key only: %d %q, want 500 ErrDecrypt", code, body)
	}
}
