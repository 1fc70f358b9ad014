package sessions

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

// DefaultRenewGrace is the default Options.RenewGrace.
const DefaultRenewGrace = 30 * time.Second

// NoRenewGrace, as Options.RenewGrace, keeps no record of retired ids: a
// request with a rotated-out id gets a new session, and a replayed id is
// not detected.
const NoRenewGrace time.Duration = -1

// maxSuccessors bounds the walk from a retired id to the live session of
// its family.
const maxSuccessors = 16

// ReuseEvent describes a retired id presented after its grace (see
// Options.OnReuse). Hashes are handles for ListUserSessions and logs, never
// ids.
type ReuseEvent struct {
	// Retired is the hash of the id presented.
	Retired IDHash
	// Current is the hash of the family's live session when the reuse was
	// detected (the zero IDHash if it had ended already).
	Current IDHash
	// User is the user the session had when the id was retired.
	User string
	// Revoked reports whether the family's live session was revoked.
	Revoked bool
}

// retire is what Regenerate asks the store to keep of the id it retires,
// or nil with NoRenewGrace. s.mu is held.
func (s *Session) retire(newID string, now time.Time) (*sessionstore.Retire, error) {
	grace := s.m.opts.RenewGrace
	if grace < 0 {
		return nil, nil
	}
	sealed, err := sealSuccessor(s.id, newID)
	if err != nil {
		return nil, err
	}
	keep := now.Add(grace)
	if s.storedExpiry.After(keep) {
		keep = s.storedExpiry // a stolen copy is worth detecting as long as the session could live
	}
	return &sessionstore.Retire{GraceUntil: now.Add(grace), ExpiresAt: keep, Sealed: sealed}, nil
}

// successorAEAD is the AEAD that seals a successor's id under a key only
// the holder of the retired id can derive: the database holds the sealed
// id and the retired id's hash, never the retired id itself.
func successorAEAD(retiredID string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(retiredID), nil, "sqlsession successor id", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealSuccessor seals newID for the holder of retiredID.
func sealSuccessor(retiredID, newID string) ([]byte, error) {
	aead, err := successorAEAD(retiredID)
	if err != nil {
		return nil, fmt.Errorf("sessions: seal successor: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(newID)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sessions: seal successor: %w", err)
	}
	return aead.Seal(nonce, nonce, []byte(newID), nil), nil
}

// openSuccessor opens what sealSuccessor sealed for retiredID.
func openSuccessor(retiredID string, sealed []byte) (string, error) {
	aead, err := successorAEAD(retiredID)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sessions: sealed successor too short")
	}
	id, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	return string(id), err
}

// loadRetired handles a cookie id that names no live session: within the
// grace of a retired id, the request lands on the live session of its
// family (s is filled, true); after it, a retired id of a signed-in
// session is a replay (reuse). Otherwise false: a new session follows.
func (m *Manager) loadRetired(s *Session, now time.Time) (bool, error) {
	if m.opts.RenewGrace < 0 {
		return false, nil
	}
	ctx := s.storeCtx(now)
	id := s.cookieID
	for range maxSuccessors {
		ret, err := m.store.Retired(ctx, HashID(id), now)
		switch {
		case errors.Is(err, ErrNotFound):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("sessions: load: %w", err)
		case !now.Before(ret.GraceUntil):
			if ret.UserID != "" {
				m.reused(ctx, s, id, ret, now)
			}
			return false, nil
		}
		next, err := openSuccessor(id, ret.Sealed)
		if err != nil {
			return false, nil // not sealed for this id: not its successor
		}
		nextHash := HashID(next)
		rec, err := m.store.Load(ctx, nextHash, m.loadTime(now))
		switch {
		case errors.Is(err, ErrNotFound):
			id = next // rotated again within the grace: follow it
			continue
		case err != nil:
			return false, fmt.Errorf("sessions: load: %w", err)
		case rec.UserID != ret.UserID || m.pastAbsolute(rec.CreatedAt, now):
			return false, nil // a login or logout since: not the same principal
		}
		if err := s.inflate(next, nextHash, rec); err != nil {
			return false, fmt.Errorf("sessions: load: %w", err)
		}
		s.aliased = true
		return true, nil
	}
	return false, nil
}

// reused handles a retired id presented after its grace: it finds the
// family's live session, revokes it unless Options.KeepOnReuse, logs a
// warning and calls Options.OnReuse.
func (m *Manager) reused(ctx context.Context, s *Session, id string, ret sessionstore.Retired, now time.Time) {
	ev := ReuseEvent{Retired: HashID(id), User: ret.UserID}
	cur := ret.Successor
	for range maxSuccessors {
		next, err := m.store.Retired(ctx, cur, now)
		if err != nil {
			break
		}
		cur = next.Successor
	}
	ev.Current = cur
	if !m.opts.KeepOnReuse {
		live, err := m.store.Destroy(ctx, cur, now)
		if err != nil {
			m.opts.Logger.ErrorContext(ctx, "sessions: a reused session id's family could not be revoked", "err", err)
		}
		ev.Revoked = live
	}
	m.log(ctx, slog.LevelWarn, "sessions: a retired session id was presented after its grace (a stolen token replayed?)",
		ev.Retired, s.r, ret.UserID, "current", m.fingerprint(ev.Current), "revoked", ev.Revoked)
	if m.opts.OnReuse != nil {
		m.opts.OnReuse(s.r, ev)
	}
}

// renewIfDue rotates a stored session's id once it is Options.RenewAfter
// old, before the handler runs. A store error leaves the id as it is: the
// next request tries again.
func (s *Session) renewIfDue(ctx context.Context, now time.Time) {
	s.mu.Lock()
	due := s.stored && !s.asked.passive && !now.Before(s.renewedAt().Add(s.m.opts.RenewAfter))
	s.mu.Unlock()
	if !due {
		return
	}
	if err := s.Regenerate(ctx); err != nil {
		s.m.opts.Logger.WarnContext(ctx, "sessions: RenewAfter: the session id could not be renewed", "err", err)
	}
}

// renewedAt is when the session's id was issued: its last rotation, or
// its creation. s.mu is held.
func (s *Session) renewedAt() time.Time {
	if s.cur.meta.Renewed != 0 {
		return time.UnixMilli(s.cur.meta.Renewed)
	}
	return s.createdAt
}
