// Package sessions is server-side session middleware for net/http with the
// semantics of Node's express-session: a signed cookie holds only the
// session id; the values live in a Store (pgstore for PostgreSQL,
// sqlitestore for SQLite, memstore for tests).
//
//	store := pgstore.New(pool)
//	m, err := sessions.New(store, sessions.Options{
//		Secrets: []string{os.Getenv("SESSION_SECRET")},
//		Cookie:  sessions.CookieOptions{MaxAge: 24 * time.Hour, Secure: sessions.SecureAuto, SameSite: http.SameSiteLaxMode},
//	})
//	http.ListenAndServe(addr, m.Handler(mux))
//
// In a handler:
//
//	s := sessions.FromContext(r.Context())
//	var n int
//	s.Get("views", &n)
//	s.Set("views", n+1)
//
// The cookie is "s:" + id + "." + HMAC-SHA256 signature, URL-encoded,
// exactly as express-session writes it, so the two can share cookies. The
// store keys sessions by the SHA-256 of the id; the id itself is never
// stored or logged.
//
// When to save and when to set the cookie follow express-session: new
// sessions are saved (and cookied) only when modified, unless
// SaveUninitialized; unmodified sessions are only touched (expiry moved),
// unless Resave — at most once per Options.TouchAfter (a minute by
// default, so most reads are one statement; TouchEveryRequest is express's
// behaviour); Rolling re-sends the cookie whenever the expiry moves. The
// session is saved before the response's first byte; saves are merges of
// the keys the request changed, so concurrent requests do not lose each
// other's writes.
//
// Applications need only this package and a store; package sessionstore
// is the contract for those who write a store.
package sessions
