package sessions

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrDecrypt is returned (wrapped) by Session.Get and Manager.GetValue for a
// sealed value (Options.ValueKeys) that does not open: it was sealed under
// a key no longer in ValueKeys (or ValueKeys is not set), it was altered in
// the store, or it was moved to another key or session. Test with
// errors.Is.
var ErrDecrypt = errors.New("sealed value does not open (wrong or missing Options.ValueKeys, or altered in the store)")

// sealKey is the reserved data key that holds the session's seal salt: the
// per-session input, stored in plaintext, that each sealed value's key and
// associated data are derived from. It is fixed when the session's first
// value is sealed and moves with the row, so rotation (Regenerate) keeps
// every value readable.
const sealKey = "$seal"

// sealPrefix starts the JSON string of a sealed value:
// "enc:v1:<key id>:<base64url(nonce | ciphertext | tag)>".
const sealPrefix = "enc:v1:"

// minValueKeyBytes is the least key material a ValueKeys entry may have.
const minValueKeyBytes = 32

// HKDF info strings; Node's seal.js uses the same.
const (
	infoKeyID = "sqlsession value key id v1"
	infoValue = "sqlsession value v1"
	infoSalt  = "sqlsession seal salt v1"
)

// valueKey is one entry of Options.ValueKeys.
type valueKey struct {
	id       string // 8 base64url characters, derived from the material
	material []byte
}

// sealer seals and opens values with Options.ValueKeys: the first seals,
// all open.
type sealer struct {
	keys []valueKey
}

// newSealer derives the key ids of keys, refusing short or repeated ones.
func newSealer(keys []string) (*sealer, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	sl := &sealer{}
	seen := map[string]int{}
	for i, k := range keys {
		if len(k) < minValueKeyBytes {
			return nil, fmt.Errorf("sessions: Options.ValueKeys[%d] has %d bytes; use at least %d random bytes (e.g. `openssl rand -base64 32`)", i, len(k), minValueKeyBytes)
		}
		idBytes, err := hkdf.Key(sha256.New, []byte(k), nil, infoKeyID, 6)
		if err != nil {
			return nil, fmt.Errorf("sessions: Options.ValueKeys[%d]: %w", i, err)
		}
		id := base64.RawURLEncoding.EncodeToString(idBytes)
		if j, dup := seen[id]; dup {
			return nil, fmt.Errorf("sessions: Options.ValueKeys[%d] repeats Options.ValueKeys[%d]", i, j)
		}
		seen[id] = i
		sl.keys = append(sl.keys, valueKey{id: id, material: []byte(k)})
	}
	return sl, nil
}

// find returns the key with the id id.
func (sl *sealer) find(id string) (valueKey, bool) {
	for _, k := range sl.keys {
		if k.id == id {
			return k, true
		}
	}
	return valueKey{}, false
}

// aead returns the AES-256-GCM of key k for the session salt salt: the
// key is HKDF-SHA256(k, salt, infoValue), so each session seals under a
// key of its own and no nonce limit is shared across sessions.
func (k valueKey) aead(salt string) (cipher.AEAD, error) {
	dk, err := hkdf.Key(sha256.New, k.material, []byte(salt), infoValue, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(dk)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealAD is the associated data of the value under key in the session
// with salt salt: a sealed value opens only there (keys hold no NUL).
func sealAD(salt, key string) []byte {
	return []byte(salt + "\x00" + key)
}

// isSealed reports whether a stored value is a sealed one: a JSON string
// starting with sealPrefix.
func isSealed(v json.RawMessage) bool {
	return len(v) > len(sealPrefix)+2 && v[0] == '"' && string(v[1:1+len(sealPrefix)]) == sealPrefix
}

// sealedKeyID returns the key id of a sealed value and its payload.
func sealedKeyID(v json.RawMessage) (id string, payload []byte, ok bool) {
	body := v[1+len(sealPrefix) : len(v)-1]
	if v[len(v)-1] != '"' {
		return "", nil, false
	}
	i := bytes.IndexByte(body, ':')
	if i < 0 {
		return "", nil, false
	}
	return string(body[:i]), body[i+1:], true
}

// saltFor is the seal salt of a session whose first value is sealed while
// its id hash is h: derived from h, so that concurrent requests sealing a
// session's first values agree on it, and Node derives the same one.
func saltFor(h IDHash) string {
	sum := sha256.Sum256(append([]byte(infoSalt), h[:]...))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// parseSalt returns the salt stored under sealKey.
func parseSalt(v json.RawMessage) (string, error) {
	var salt string
	if err := json.Unmarshal(v, &salt); err != nil || salt == "" || len(salt) > 64 ||
		strings.Trim(salt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return "", fmt.Errorf("%w: the session's %q entry is not a seal salt", ErrDecrypt, sealKey)
	}
	return salt, nil
}

// openWith opens the sealed value v of key in a session with salt salt.
// gcm caches the AEAD per key id for the caller (nil: no cache).
func (sl *sealer) openWith(v json.RawMessage, key, salt string, gcm func(valueKey, string) (cipher.AEAD, error)) (json.RawMessage, error) {
	if sl == nil {
		return nil, fmt.Errorf("%w: the value is sealed and Options.ValueKeys is not set", ErrDecrypt)
	}
	id, payload, ok := sealedKeyID(v)
	if !ok {
		return nil, fmt.Errorf("%w: malformed sealed value", ErrDecrypt)
	}
	k, ok := sl.find(id)
	if !ok {
		return nil, fmt.Errorf("%w: sealed under key id %q, which is not in Options.ValueKeys", ErrDecrypt, id)
	}
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(payload)))
	n, err := base64.RawURLEncoding.Decode(raw, payload)
	if err != nil || n < 12+16 {
		return nil, fmt.Errorf("%w: malformed sealed value", ErrDecrypt)
	}
	a, err := gcm(k, salt)
	if err != nil {
		return nil, fmt.Errorf("sessions: value key: %w", err)
	}
	plain, err := a.Open(raw[12:12], raw[:12], raw[12:n], sealAD(salt, key))
	if err != nil {
		return nil, fmt.Errorf("%w: key id %q: authentication failed", ErrDecrypt, id)
	}
	return plain, nil
}

// seal seals the JSON value plain of key with the first key.
func (sl *sealer) seal(plain json.RawMessage, key, salt string, a cipher.AEAD) (json.RawMessage, error) {
	id := sl.keys[0].id
	buf := make([]byte, 12, 12+len(plain)+a.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	buf = a.Seal(buf, buf[:12], plain, sealAD(salt, key))
	out := make([]byte, 0, 2+len(sealPrefix)+len(id)+1+base64.RawURLEncoding.EncodedLen(len(buf)))
	out = append(append(append(append(out, '"'), sealPrefix...), id...), ':')
	out = base64.RawURLEncoding.AppendEncode(out, buf)
	return append(out, '"'), nil
}

// current reports whether the sealed value v is sealed under the first key.
func (sl *sealer) current(v json.RawMessage) bool {
	id, _, ok := sealedKeyID(v)
	return ok && id == sl.keys[0].id
}

// plainGCM derives an AEAD without caching (Manager.GetValue).
func plainGCM(k valueKey, salt string) (cipher.AEAD, error) { return k.aead(salt) }
