package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// ErrConflict is returned by Update when concurrent changes of the value
// kept it from applying in MaxUpdateAttempts attempts; nothing was stored.
// Answering 409 or 503 and letting the client retry is usually right.
var ErrConflict = errors.New("sessions: the value kept changing under concurrent updates")

// MaxUpdateAttempts bounds how many times Update calls its function
// before it gives up with ErrConflict.
const MaxUpdateAttempts = 10

// Update changes the value under key atomically in the store, at once:
// it decodes the stored value (ok is false when the key is absent, and
// old then T's zero value), calls fn, and stores fn's result only if the
// stored value is still the one fn saw (a compare-and-swap, Store.SwapValue).
// If another request changed it meanwhile, fn is called again with the
// new value, up to MaxUpdateAttempts times (from the third, after a
// random pause and a fresh read), then ErrConflict. So N concurrent
// Updates that add one (from Go or from connect-sqlsession's store.update)
// add exactly N, where Get then Set would lose some. Within one Manager,
// the Updates of one key of one session take turns, so conflicts come
// only from other processes. fn may be called more than once: it must not
// have side effects, and must not Update the same key of the same session
// (it would wait for itself until Options.StoreTimeout). An error from fn
// stops Update and stores nothing; Update returns it wrapped.
//
// The result is stored when Update returns, and the request's session
// holds it: Get returns it, the middleware does not write it again at
// the end of the request, and a Set of key later in the request wins as
// usual (saved by the middleware). A change of key this request made
// earlier with Set or Delete, not yet saved, is replaced: fn sees the
// stored value. A session that is not stored yet is saved first, like
// Save (it then gets its cookie), so that its first Update is atomic too.
// A session revoked or expired meanwhile gives an error wrapping
// ErrNotFound. The key and the result are checked as Set checks them
// (reserved key, NUL, invalid UTF-8, Options.MaxDataBytes: ErrTooLarge,
// enforced by the store against the stored data).
//
// Like Save, it finishes even when ctx is cancelled, within
// Options.StoreTimeout.
func Update[T any](ctx context.Context, s *Session, key string, fn func(old T, ok bool) (T, error)) (T, error) {
	var zero T
	if s == nil {
		return zero, ErrNoSession
	}
	if fn == nil {
		return zero, fmt.Errorf("sessions: update %q: nil function", key)
	}
	if err := validKey(key); err != nil {
		return zero, fmt.Errorf("sessions: update %q: %w", key, err)
	}
	ctx, cancel := s.m.detach(ctx)
	defer cancel()
	unlock, err := s.m.updates.lock(ctx, keyLock{s.IDHash(), key})
	if err != nil {
		return zero, fmt.Errorf("sessions: update %q: %w", key, err)
	}
	defer unlock()
	old, err := s.storedValue(ctx, key)
	if err == nil && s.m.sealer != nil {
		err = s.storeSalt(ctx)
	}
	if err != nil {
		return zero, fmt.Errorf("sessions: update %q: %w", key, err)
	}
	for attempt := range MaxUpdateAttempts {
		if attempt >= 2 { // contention from another process: wait, then read afresh
			if old, err = s.reread(ctx, key, attempt); err != nil {
				return zero, fmt.Errorf("sessions: update %q: %w", key, err)
			}
		}
		next, b, err := applySealed(s, key, old, fn)
		if err != nil {
			return zero, fmt.Errorf("sessions: update %q: %w", key, err)
		}
		cur, swapped, err := s.swap(ctx, key, old, b)
		if err != nil {
			return zero, fmt.Errorf("sessions: update %q: %w", key, err)
		}
		if swapped {
			return next, nil
		}
		old = cur
	}
	return zero, fmt.Errorf("sessions: update %q: %d attempts: %w", key, MaxUpdateAttempts, ErrConflict)
}

// validKey refuses what Set refuses as a key.
func validKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case key == cookieKey, key == metaKey, key == sealKey:
		return fmt.Errorf("%q is reserved", key)
	}
	return checkKey(key)
}

// applySealed is apply with Options.ValueKeys: old, as stored, is opened
// for fn, and fn's result sealed under the session's salt, so that the
// compare-and-swap compares and stores what the store holds.
func applySealed[T any](s *Session, key string, old json.RawMessage, fn func(T, bool) (T, error)) (T, json.RawMessage, error) {
	var zero T
	if s.m.sealer == nil {
		return apply(s.m, key, old, fn)
	}
	plain := old
	if old != nil && isSealed(old) {
		s.mu.Lock()
		p, err := s.openValue(key, old)
		s.mu.Unlock()
		if err != nil {
			return zero, nil, err
		}
		plain = p
	}
	next, b, err := apply(s.m, key, plain, fn) // user code: s.mu is not held
	if err != nil {
		return next, nil, err
	}
	sealed, err := s.sealValue(key, b)
	return next, sealed, err
}

// sealValue seals plain for key under the session's salt and the first
// value key. s.mu must not be held.
func (s *Session) sealValue(key string, plain json.RawMessage) (json.RawMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	salt, _, err := s.sealSalt()
	if err != nil {
		return nil, err
	}
	a, err := s.seal.gcm(s.m.sealer.keys[0], salt)
	if err != nil {
		return nil, err
	}
	sealed, err := s.m.sealer.seal(plain, key, salt, a)
	if err == nil {
		s.remember(key, sealed, plain)
	}
	return sealed, err
}

// storeSalt makes sure the stored session holds its seal salt before a
// sealed value is swapped in: a compare-and-swap of the salt entry itself,
// adopting the salt another request stored first.
func (s *Session) storeSalt(ctx context.Context) error {
	s.mu.Lock()
	_, ok := s.saved.values.get(sealKey)
	h := s.hash
	if s.seal == nil {
		s.seal = &sealState{}
	}
	s.mu.Unlock()
	if ok {
		return nil
	}
	salt, _ := json.Marshal(saltFor(h))
	cur, swapped, err := s.swap(ctx, sealKey, nil, salt)
	if err != nil || swapped {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	saved := cloneValues(s.saved.values)
	saved[sealKey] = cur
	s.saved.values = mapValues(saved)
	s.write()[sealKey] = cur
	return nil
}

// apply decodes old (nil: absent), calls fn, and encodes its result as
// Set would store it.
func apply[T any](m *Manager, key string, old json.RawMessage, fn func(T, bool) (T, error)) (T, json.RawMessage, error) {
	var v T
	if old != nil {
		if err := json.Unmarshal(old, &v); err != nil {
			return v, nil, fmt.Errorf("stored value: %w", err)
		}
	}
	next, err := fn(v, old != nil)
	if err != nil {
		return next, nil, err
	}
	b, err := m.encodeValue(key, next)
	return next, b, err
}

// reread waits before the attempt-th swap, a random pause of up to 2,
// 4, 8 ... 64 ms (exponential backoff with full jitter: at most about a
// quarter of a second in all), then reads the value afresh, so that the
// swap runs from a value as recent as the pause allows.
func (s *Session) reread(ctx context.Context, key string, attempt int) (json.RawMessage, error) {
	t := time.NewTimer(rand.N(min(time.Millisecond<<(attempt-1), 64*time.Millisecond)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	h := s.hash
	s.mu.Unlock()
	rec, err := s.m.store.Load(ctx, h, s.m.opts.Now())
	if errors.Is(err, ErrNotFound) {
		s.mu.Lock()
		s.vanish()
		s.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	v, _, err := rec.Value(key)
	return v, err
}

// keyLocks queues the Updates of one key of one session within a
// Manager: a busy session's concurrent requests take turns instead of
// spinning on conflicts, and the store's compare-and-swap is left to
// arbitrate between processes (other instances, connect-sqlsession).
type keyLocks struct {
	mu    sync.Mutex
	locks map[keyLock]*keyLockEntry
}

// keyLock names one key of one session.
type keyLock struct {
	h   IDHash
	key string
}

// keyLockEntry is a held or awaited lock: a one-slot semaphore and the
// number of Updates holding or waiting for it.
type keyLockEntry struct {
	sem     chan struct{}
	waiters int
}

// lock waits for k, or for ctx to end, and returns the function that
// releases it.
func (l *keyLocks) lock(ctx context.Context, k keyLock) (func(), error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[keyLock]*keyLockEntry)
	}
	e := l.locks[k]
	if e == nil {
		e = &keyLockEntry{sem: make(chan struct{}, 1)}
		l.locks[k] = e
	}
	e.waiters++
	l.mu.Unlock()
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem; l.release(k, e) }, nil
	case <-ctx.Done():
		l.release(k, e)
		return nil, ctx.Err()
	}
}

// release forgets e once nobody holds or waits for it.
func (l *keyLocks) release(k keyLock, e *keyLockEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.waiters--; e.waiters == 0 {
		delete(l.locks, k)
	}
}

// storedValue returns the value of key as this request last saw it stored
// (nil: absent): the first guess of the compare-and-swap. A session not
// stored yet is saved first.
func (s *Session) storedValue(ctx context.Context, key string) (json.RawMessage, error) {
	s.mu.Lock()
	if s.vanished {
		s.mu.Unlock()
		return nil, ErrNotFound
	}
	var ev event
	if !s.stored {
		s.asked.save = true // stored now: the session gets its cookie
		var err error
		if ev, _, err = s.save(ctx, s.m.opts.Now()); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	v, _ := s.saved.values.get(key)
	s.mu.Unlock()
	s.log(ctx, ev)
	return v, nil
}

// swap stores b under key if the store still holds old, and then gives
// the session's current and saved values the new value, so the commit
// neither writes it again nor overwrites it with a stale one. It returns
// the store's current value when the swap did not apply.
func (s *Session) swap(ctx context.Context, key string, old, b json.RawMessage) (json.RawMessage, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vanished {
		return nil, false, ErrNotFound
	}
	cur, swapped, err := s.m.store.SwapValue(ctx, s.hash, key, old, b, s.m.opts.MaxDataBytes, s.m.opts.Now())
	switch {
	case errors.Is(err, ErrNotFound):
		s.vanish()
		return nil, false, err
	case err != nil || !swapped:
		return cur, false, err
	}
	saved := cloneValues(s.saved.values)
	saved[key] = b
	s.saved.values = mapValues(saved)
	s.write()[key] = b
	s.size = sizeUnknown
	return b, true, nil
}
