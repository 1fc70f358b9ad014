package sessions

import "time"

// facts are what express-session's rules look at when a response starts.
// Gathering them (Session.facts) and acting on the plan (Session.commit)
// are the only parts that touch the session or the store; decide itself is
// a pure function, table-tested in decide_test.go.
type facts struct {
	// What the options say.
	resave, saveUninitialized, rolling, unsetDestroy bool
	touchAfter                                       time.Duration // TouchEveryRequest (< 0): every request

	// What the handler asked for.
	asked asked

	// What the session is.
	stored     bool // the store has a row for the session's id
	modified   bool // express isModified: a new id, or values, lifetime or user changed
	dirty      bool // the store lacks something of the session
	current    bool // the request's cookie names this session (express: cookieId === sessionID)
	hadCookie  bool // the request carried a valid session cookie
	persistent bool // the cookie has a max age (express: cookie.expires is set)
	sendable   bool // a cookie can be sent: not Secure-only over plain HTTP
	rekeyed    bool // Regenerate moved the stored row to a new id this request
	aliased    bool // the cookie's id was retired within its grace: send its successor
	// lifetimeChanged: the handler changed the cookie's lifetime
	// (SetMaxAge), to a browser-session cookie too.
	lifetimeChanged bool

	// Where the row's expiry is and where a touch would move it.
	storedExpiry, newExpiry time.Time
}

// plan is what to do when the response starts.
type plan struct {
	destroy     bool // delete the row (Unset with UnsetDestroy)
	save        bool // write the session: Create if new, a merge Update if stored
	touch       bool // move the row's expiry only
	setCookie   bool // send the session cookie (after a successful save, when new)
	clearCookie bool // send an expired cookie: the session was destroyed
}

// decide applies express-session's rules (shouldSave, shouldTouch,
// shouldSetCookie, and the unset option) plus this library's additions
// (TouchAfter, Destroy's cleared cookie, Save, SetMaxAge as a change).
func decide(f facts) plan {
	if f.asked.unset {
		return plan{destroy: f.unsetDestroy && f.stored}
	}
	var p plan
	// shouldSave: a stored session when Resave, else when the store lacks
	// something; a new one only when modified, unless SaveUninitialized.
	p.save = f.resave && f.stored || f.dirty && (f.stored || f.saveUninitialized || f.modified)
	// shouldTouch, throttled by TouchAfter. A session Regenerate moved to a
	// new id is touched when nothing else is written (express saves it):
	// the write confirms the row was not revoked since, or the cookie of
	// a revoked session is not sent.
	p.touch = !p.save && f.stored && (f.current && !f.asked.passive && (f.asked.touch || touchDue(f)) || f.rekeyed)
	// shouldSetCookie: a new id is sent when the session is worth keeping;
	// the current one with Rolling when its expiry moved (every request
	// with TouchEveryRequest, as express does; a response that moves
	// nothing would repeat the last cookie, and could overwrite a newer
	// one from a racing login), or for a persistent cookie that changed;
	// and whenever its lifetime changed, to a browser-session cookie too.
	// A passive request re-sends the current cookie only for a new lifetime.
	var cookie bool
	if !f.current {
		cookie = f.saveUninitialized || f.modified || f.asked.save || f.aliased
	} else {
		cookie = !f.asked.passive && (f.rolling && (p.save || p.touch) || f.persistent && f.modified) || f.lifetimeChanged
	}
	cookie = cookie && (f.stored || p.save)
	p.setCookie = cookie && f.sendable
	p.clearCookie = !cookie && f.asked.destroy && f.hadCookie
	return p
}

// touchDue reports whether a touch would move the row's expiry by at least
// TouchAfter.
func touchDue(f facts) bool {
	return f.touchAfter < 0 || f.newExpiry.Sub(f.storedExpiry) >= f.touchAfter
}
