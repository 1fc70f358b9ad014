// Package cookiesig signs and verifies cookie values exactly as Node's
// cookie-signature package does (the signing used by express-session and
// cookie-parser), so a value signed by one verifies in the other.
//
// A signed value is value + "." + base64(HMAC-SHA256(secret, value)), in
// standard base64 without "=" padding. Verification is constant-time.
//
// Sign and Unsign key an HMAC on every call; a Signer keys it once per
// secret and reuses it, for servers that verify a cookie per request.
package cookiesig

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"strings"
	"sync"
)

// sigLen is the length of an encoded signature: 32 bytes in unpadded
// base64.
var sigLen = base64.RawStdEncoding.EncodedLen(sha256.Size)

// Signer signs with its first secret and verifies with all of them, so a
// secret can be rotated: sign with the newest, verify with every one still
// trusted. It is safe for concurrent use.
type Signer struct {
	keys []*key
}

// key is one secret's keyed HMAC states, reused across calls.
type key struct{ pool sync.Pool }

// macState is one keyed HMAC with the buffers a signature needs, so that
// signing allocates nothing once the pool holds a state.
type macState struct {
	h   hash.Hash
	in  []byte // the value, copied: Write takes a []byte through an interface
	sum [sha256.Size]byte
}

// NewSigner returns a Signer for secrets; the first one signs.
func NewSigner(secrets ...string) *Signer {
	s := &Signer{keys: make([]*key, len(secrets))}
	for i, secret := range secrets {
		k := []byte(secret)
		s.keys[i] = &key{pool: sync.Pool{New: func() any { return &macState{h: hmac.New(sha256.New, k)} }}}
	}
	return s
}

// mac writes the encoded signature of value into dst and returns it.
func (k *key) mac(dst *[64]byte, value string) []byte {
	st := k.pool.Get().(*macState)
	st.h.Reset()
	st.in = append(st.in[:0], value...)
	_, _ = st.h.Write(st.in)
	st.h.Sum(st.sum[:0])
	base64.RawStdEncoding.Encode(dst[:sigLen], st.sum[:])
	if cap(st.in) <= 4096 { // keep no hostile cookie's worth of memory
		k.pool.Put(st)
	}
	return dst[:sigLen]
}

// Sign returns value signed with the first secret. It panics when the
// Signer has no secret.
func (s *Signer) Sign(value string) string {
	var sig [64]byte
	return value + "." + string(s.keys[0].mac(&sig, value))
}

// Unsign returns the value of a signed string and true when one of the
// secrets signed it; "" and false otherwise. Every secret is tried, each
// compared in constant time.
func (s *Signer) Unsign(signed string) (string, bool) {
	dot := strings.LastIndexByte(signed, '.')
	if dot < 0 || len(signed)-dot-1 != sigLen {
		return "", false // a signature of the wrong length (trailing bytes) never verifies
	}
	value, got := signed[:dot], signed[dot+1:]
	ok := 0
	var sig [64]byte
	for _, k := range s.keys {
		ok |= subtle.ConstantTimeCompare(k.mac(&sig, value), []byte(got))
	}
	if ok == 0 {
		return "", false
	}
	return value, true
}

// Verify reports whether sig is the encoded signature of value under one
// of the secrets: Unsign for a value and signature already split, which
// allocates nothing.
func (s *Signer) Verify(value string, sig []byte) bool {
	if len(sig) != sigLen {
		return false
	}
	ok := 0
	var mac [64]byte
	for _, k := range s.keys {
		ok |= subtle.ConstantTimeCompare(k.mac(&mac, value), sig)
	}
	return ok == 1
}

// Sign returns value signed with secret.
func Sign(value, secret string) string { return NewSigner(secret).Sign(value) }

// Unsign returns the value of a signed string and true when one of the
// secrets signed it; "" and false otherwise.
func Unsign(signed string, secrets ...string) (string, bool) {
	return NewSigner(secrets...).Unsign(signed)
}
