package sessions

import "context"

// Key is a typed session key: a name and the Go type of its value, so a
// handler never repeats the key string or a type assertion. Declare one
// per value, next to the type it holds:
//
//	var Cart = sessions.NewKey[CartItems]("cart")
//
//	items, ok, err := Cart.Get(s)
//	err = Cart.Set(s, append(items, item))
//
// Values are JSON, as with Session.Get and Session.Set (no other
// reflection), so a Key reads what Go or Node stored under its name.
// The zero Key has the empty name, which every method refuses.
type Key[T any] struct {
	name string
}

// NewKey returns the key name holding values of type T. Invalid names
// (empty, "cookie", NUL, invalid UTF-8) are not refused here but by each
// use, with the error Set gives: declaring a Key never panics.
func NewKey[T any](name string) Key[T] { return Key[T]{name: name} }

// Name returns the key's name, the top-level key of the stored JSON.
func (k Key[T]) Name() string { return k.name }

// Get returns the key's value and whether the session has it. A value
// that does not decode into T is an error (with ok true and T's zero
// value).
func (k Key[T]) Get(s *Session) (T, bool, error) {
	var v T
	ok, err := s.Get(k.name, &v)
	if err != nil {
		var zero T
		return zero, ok, err
	}
	return v, ok, nil
}

// Set stores v under the key (Session.Set: saved by the middleware at the
// end of the request).
func (k Key[T]) Set(s *Session, v T) error { return s.Set(k.name, v) }

// Delete removes the key from the session.
func (k Key[T]) Delete(s *Session) { s.Delete(k.name) }

// Pop returns the key's value, as Get, and removes it from the session:
// a value read once. The key is removed even when its value does not
// decode.
func (k Key[T]) Pop(s *Session) (T, bool, error) {
	v, ok, err := k.Get(s)
	if ok {
		s.Delete(k.name)
	}
	return v, ok, err
}

// Update changes the key's value atomically in the store, at once
// (sessions.Update): fn gets the stored value (ok false when absent) and
// returns the new one, and is called again if a concurrent request
// changed the value meanwhile.
func (k Key[T]) Update(ctx context.Context, s *Session, fn func(old T, ok bool) (T, error)) (T, error) {
	return Update(ctx, s, k.name, fn)
}
