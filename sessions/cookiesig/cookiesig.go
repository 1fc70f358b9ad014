// Package cookiesig signs and verifies cookie values exactly as Node's
// cookie-signature package does (the signing used by express-session and
// cookie-parser), so a value signed by one verifies in the other.
//
// A signed value is value + "." + base64(HMAC-SHA256(secret, value)), in
// standard base64 without "=" padding. Verification is constant-time.
package cookiesig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Sign returns value signed with secret.
func Sign(value, secret string) string {
	return value + "." + mac(value, secret)
}

// Unsign returns the value of a signed string and true when one of the
// secrets signed it; "" and false otherwise. Every secret is tried (in
// constant time for each), so secrets can be rotated: sign with the newest,
// verify with all.
func Unsign(signed string, secrets ...string) (string, bool) {
	dot := strings.LastIndexByte(signed, '.')
	if dot < 0 {
		return "", false
	}
	value := signed[:dot]
	ok := false
	for _, secret := range secrets {
		// Compare whole signed strings, as cookie-signature does, so a
		// signature with trailing bytes never verifies.
		if hmac.Equal([]byte(Sign(value, secret)), []byte(signed)) {
			ok = true
		}
	}
	if !ok {
		return "", false
	}
	return value, true
}

func mac(value, secret string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(value))
	return base64.RawStdEncoding.EncodeToString(h.Sum(nil))
}
