package sessions_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
)

type profile struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

var profileKey = sessions.NewKey[profile]("profile")

// A typed key stores under its name, as Session.Set would, reads back its
// type, pops once, deletes, and updates atomically.
func TestKey(t *testing.T) {
	var step func(t *testing.T, s *sessions.Session)
	hs := newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
		step(t, sessions.FromContext(r.Context()))
	})
	step = func(t *testing.T, s *sessions.Session) {
		if _, ok, err := profileKey.Get(s); ok || err != nil {
			t.Errorf("Get of an absent key: ok %v, %v", ok, err)
		}
		if err := profileKey.Set(s, profile{Name: "ann", Roles: []string{"admin"}}); err != nil {
			t.Fatal(err)
		}
	}
	cookie := cookiePair(sessionCookie(hs.get(""), "sid"))
	if got := hs.stored(cookie, "profile"); got != `{"name":"ann","roles":["admin"]}` {
		t.Errorf("stored %s", got)
	}

	step = func(t *testing.T, s *sessions.Session) {
		p, ok, err := profileKey.Get(s)
		if !ok || err != nil || p.Name != "ann" || len(p.Roles) != 1 {
			t.Errorf("Get = %+v, %v, %v", p, ok, err)
		}
		var raw profile // the same value through the untyped API
		if ok, err := s.Get(profileKey.Name(), &raw); !ok || err != nil || raw.Name != "ann" {
			t.Errorf("Session.Get(%q) = %+v, %v, %v", profileKey.Name(), raw, ok, err)
		}
		p, err = profileKey.Update(t.Context(), s, func(old profile, ok bool) (profile, error) {
			old.Roles = append(old.Roles, "editor")
			return old, nil
		})
		if err != nil || len(p.Roles) != 2 {
			t.Errorf("Update = %+v, %v", p, err)
		}
	}
	hs.get(cookie)
	if got := hs.stored(cookie, "profile"); got != `{"name":"ann","roles":["admin","editor"]}` {
		t.Errorf("stored after Update: %s", got)
	}

	step = func(t *testing.T, s *sessions.Session) {
		p, ok, err := profileKey.Pop(s)
		if !ok || err != nil || p.Name != "ann" {
			t.Errorf("Pop = %+v, %v, %v", p, ok, err)
		}
		if _, ok, _ := profileKey.Pop(s); ok {
			t.Errorf("second Pop found a value")
		}
	}
	hs.get(cookie)
	if got := hs.stored(cookie, "profile"); got != "" {
		t.Errorf("stored after Pop: %s, want nothing", got)
	}
}

// A stored value of another type is an error, not a panic or a silent
// zero; the zero Key and a reserved name are refused on use.
func TestKeyErrors(t *testing.T) {
	count := sessions.NewKey[int]("n")
	var zero sessions.Key[int]
	hs := newHarness(t, sessions.Options{}, func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		_ = s.Set("n", "not a number")
		if v, ok, err := count.Get(s); err == nil || !ok || v != 0 {
			t.Errorf("Get of a string as int = %v, %v, %v; want 0, true and an error", v, ok, err)
		}
		if err := zero.Set(s, 1); err == nil {
			t.Errorf("Set with the zero Key: no error")
		}
		if err := sessions.NewKey[int]("cookie").Set(s, 1); err == nil {
			t.Errorf(`Set with the key "cookie": no error`)
		}
		if _, err := zero.Update(r.Context(), s, func(int, bool) (int, error) { return 1, nil }); err == nil {
			t.Errorf("Update with the zero Key: no error")
		}
	})
	hs.get("")
	var nilSession *sessions.Session
	if _, _, err := count.Get(nilSession); !errors.Is(err, sessions.ErrNoSession) {
		t.Errorf("Get on a nil session: %v, want ErrNoSession", err)
	}
}
