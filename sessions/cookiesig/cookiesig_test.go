package cookiesig_test

import (
	"testing"

	"github.com/sqlsession/sqlsession/sessions/cookiesig"
)

// Vector from cookie-signature's own test suite (test/index.js).
func TestSignMatchesCookieSignature(t *testing.T) {
	if got, want := cookiesig.Sign("hello", "tobiiscool"), "hello.DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QI"; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestUnsign(t *testing.T) {
	signed := cookiesig.Sign("hello", "tobiiscool")
	tests := []struct {
		name, in string
		secrets  []string
		want     string
		ok       bool
	}{
		{"valid", signed, []string{"tobiiscool"}, "hello", true},
		{"rotation: old secret still verifies", signed, []string{"new", "tobiiscool"}, "hello", true},
		{"wrong secret", signed, []string{"luna"}, "", false},
		{"no secrets", signed, nil, "", false},
		{"trailing bytes", signed + "x", []string{"tobiiscool"}, "", false},
		{"truncated signature", signed[:len(signed)-1], []string{"tobiiscool"}, "", false},
		{"tampered value", "hellO" + signed[5:], []string{"tobiiscool"}, "", false},
		{"no dot", "hello", []string{"tobiiscool"}, "", false},
		{"empty", "", []string{"tobiiscool"}, "", false},
		{"value with dots", cookiesig.Sign("a.b.c", "s"), []string{"s"}, "a.b.c", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cookiesig.Unsign(tc.in, tc.secrets...)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Unsign(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzUnsign(f *testing.F) {
	f.Add(cookiesig.Sign("id", "secret"), "secret")
	f.Add("a.b", "")
	f.Fuzz(func(t *testing.T, in, secret string) {
		v, ok := cookiesig.Unsign(in, secret)
		if ok && cookiesig.Sign(v, secret) != in {
			t.Fatalf("Unsign(%q) accepted a value whose signature differs", in)
		}
	})
}
