package sessions

import (
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
)

// sealState is a request's cache of what sealing costs: the values it
// opened or sealed, and the AEADs it derived. A session that never touches
// a sealed value never allocates one.
type sealState struct {
	plain map[string]opened
	aeads []cachedAEAD
}

// opened is the plaintext of a sealed value, valid while the session still
// holds that very sealed value (the same bytes: a Reload or another Set
// replaces them).
type opened struct {
	sealed json.RawMessage
	plain  json.RawMessage
}

type cachedAEAD struct {
	id, salt string
	a        cipher.AEAD
}

// gcm returns the AEAD of key k for salt, derived once per request.
func (st *sealState) gcm(k valueKey, salt string) (cipher.AEAD, error) {
	for _, c := range st.aeads {
		if c.id == k.id && c.salt == salt {
			return c.a, nil
		}
	}
	a, err := k.aead(salt)
	if err != nil {
		return nil, err
	}
	st.aeads = append(st.aeads, cachedAEAD{id: k.id, salt: salt, a: a})
	return a, nil
}

// sameBytes reports whether a and b are the same slice (not just equal).
func sameBytes(a, b json.RawMessage) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

// sealSalt returns the session's seal salt, and fresh == true when the
// session has none stored yet (it is derived from the current id hash).
// s.mu is held.
func (s *Session) sealSalt() (salt string, fresh bool, err error) {
	v, ok := s.cur.values.get(sealKey)
	if !ok {
		return saltFor(s.hash), true, nil
	}
	salt, err = parseSalt(v)
	return salt, false, err
}

// openValue returns the plaintext JSON of the sealed value v of key,
// opening it once per request. s.mu is held.
func (s *Session) openValue(key string, v json.RawMessage) (json.RawMessage, error) {
	if s.seal == nil {
		s.seal = &sealState{}
	}
	if c, ok := s.seal.plain[key]; ok && sameBytes(c.sealed, v) {
		return c.plain, nil
	}
	if s.m.sealer == nil {
		return s.m.sealer.openWith(v, key, "", nil) // the error: no keys
	}
	salt, fresh, err := s.sealSalt()
	if err != nil {
		return nil, err
	}
	if fresh {
		return nil, fmt.Errorf("%w: the session has no %q entry", ErrDecrypt, sealKey)
	}
	plain, err := s.m.sealer.openWith(v, key, salt, s.seal.gcm)
	if err != nil {
		return nil, err
	}
	s.remember(key, v, plain)
	return plain, nil
}

func (s *Session) remember(key string, sealed, plain json.RawMessage) {
	if s.seal.plain == nil {
		s.seal.plain = make(map[string]opened)
	}
	s.seal.plain[key] = opened{sealed: sealed, plain: plain}
}

// setSealed is Set with Options.ValueKeys: it seals plain under the first
// key, unless the value stored under key already holds plain sealed under
// the first key (then nothing changes, as Set of an equal value). The
// session's first sealed value also stores its seal salt. s.mu is held.
func (s *Session) setSealed(key string, plain json.RawMessage) error {
	salt, fresh, err := s.sealSalt()
	if err != nil {
		return err
	}
	if s.seal == nil {
		s.seal = &sealState{}
	}
	if old, ok := s.cur.values.get(key); ok && isSealed(old) && s.m.sealer.current(old) {
		if p, err := s.openValue(key, old); err == nil && sameJSON(p, plain) {
			return nil
		}
	}
	a, err := s.seal.gcm(s.m.sealer.keys[0], salt)
	if err != nil {
		return err
	}
	sealed, err := s.m.sealer.seal(plain, key, salt, a)
	if err != nil {
		return err
	}
	before := s.size
	var saltJSON json.RawMessage
	if fresh {
		saltJSON, _ = json.Marshal(salt)
		n, err := s.sizeWith(sealKey, saltJSON)
		if err != nil {
			return err
		}
		s.size = n
	}
	n, err := s.sizeWith(key, sealed)
	if err != nil {
		s.size = before
		return err
	}
	vals := s.write()
	if fresh {
		vals[sealKey] = saltJSON
	}
	vals[key] = sealed
	s.size = n
	s.remember(key, sealed, plain)
	return nil
}

// GetValue JSON-decodes the value stored under key in a session listed by
// ListUserSessions into dst, opening it when it is sealed
// (Options.ValueKeys), and reports whether the key exists. A sealed value
// that does not open gives an error wrapping ErrDecrypt. ListUserSessions
// returns values as stored, sealed ones included, so that a device list
// that shows none of them opens none.
func (m *Manager) GetValue(info SessionInfo, key string, dst any) (bool, error) {
	v, ok := info.Data[key]
	if !ok || key == cookieKey || key == sealKey {
		return false, nil
	}
	if isSealed(v) {
		salt := ""
		sv, ok := info.Data[sealKey]
		if !ok {
			return true, fmt.Errorf("sessions: get value %q: %w: the session has no %q entry", key, ErrDecrypt, sealKey)
		}
		var err error
		if salt, err = parseSalt(sv); err == nil {
			v, err = m.sealer.openWith(v, key, salt, plainGCM)
		}
		if err != nil {
			return true, fmt.Errorf("sessions: get value %q: %w", key, err)
		}
	}
	if err := decodeValue(v, dst); err != nil {
		return true, fmt.Errorf("sessions: get value %q: %w", key, err)
	}
	return true, nil
}

// errReservedSeal refuses Set and Flash of the seal salt's key.
var errReservedSeal = errors.New(`"` + sealKey + `" is reserved for the seal salt of encrypted values`)
