package sessions

import (
	"testing"
	"time"
)

// TestDecide checks express-session's rules, as index.js writes them
// (shouldSave, shouldTouch, shouldSetCookie, isModified, the unset option),
// and this library's additions, one row each. "express:" names the rule or
// the test of express-session's test/session.js a row mirrors.
func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	// A loaded session named by the request's cookie, unmodified, whose row
	// expires in an hour; a touch now would move it by a minute.
	loaded := facts{stored: true, current: true, hadCookie: true, sendable: true,
		storedExpiry: t0.Add(time.Hour), newExpiry: t0.Add(time.Hour + time.Minute)}
	// A session generated for this request: no row, no cookie.
	fresh := facts{dirty: true, sendable: true}
	with := func(f facts, edit func(*facts)) facts { edit(&f); return f }

	tests := []struct {
		name string
		f    facts
		want plan
	}{
		// shouldSave / shouldSetCookie for new sessions.
		{"express: saveUninitialized false: should prevent save of uninitialized session",
			fresh, plan{}},
		{"express: saveUninitialized true: should force save of uninitialized session",
			with(fresh, func(f *facts) { f.saveUninitialized = true }),
			plan{save: true, setCookie: true}},
		{"express: saveUninitialized false: should still save modified session",
			with(fresh, func(f *facts) { f.modified = true }),
			plan{save: true, setCookie: true}},
		{"express: rolling: should not force cookie on uninitialized session if saveUninitialized option is set to false",
			with(fresh, func(f *facts) { f.rolling = true }), plan{}},
		{"express: rolling: should force cookie and save uninitialized session if saveUninitialized option is set to true",
			with(fresh, func(f *facts) { f.rolling, f.saveUninitialized = true, true }),
			plan{save: true, setCookie: true}},

		// shouldSave / shouldTouch / shouldSetCookie for loaded sessions.
		{"express: should not save or set cookie for unmodified session; shouldTouch touches it",
			loaded, plan{touch: true}},
		{"express: resave false: should still save modified session",
			with(loaded, func(f *facts) { f.modified, f.dirty = true, true }),
			plan{save: true}},
		{"express: resave true: should force save on unmodified session",
			with(loaded, func(f *facts) { f.resave = true }),
			plan{save: true}},
		{"express: rolling: should force cookie on unmodified session",
			with(loaded, func(f *facts) { f.rolling = true }),
			plan{touch: true, setCookie: true}},
		{"express: cookie.maxAge: should set cookie when a persistent session is modified",
			with(loaded, func(f *facts) { f.persistent, f.modified, f.dirty = true, true, true }),
			plan{save: true, setCookie: true}},
		{"express: shouldSetCookie: an unmodified persistent session sends no cookie",
			with(loaded, func(f *facts) { f.persistent = true }),
			plan{touch: true}},
		{"express: shouldTouch: only the session the cookie names is touched (regenerated: saved instead)",
			with(loaded, func(f *facts) { f.current, f.stored, f.dirty, f.modified = false, false, true, true }),
			plan{save: true, setCookie: true}},
		{"express: isModified: a cookie whose row vanished gets a new session, not saved unless modified",
			with(fresh, func(f *facts) { f.hadCookie = true }), plan{}},

		// unset option.
		{"express: unset keep: should not save or send a cookie",
			with(loaded, func(f *facts) { f.asked.unset, f.modified, f.dirty = true, true, true }), plan{}},
		{"express: unset destroy: should destroy the stored session",
			with(loaded, func(f *facts) { f.asked.unset, f.unsetDestroy = true, true }), plan{destroy: true}},
		{"express: unset destroy: nothing to destroy for a new session",
			with(fresh, func(f *facts) { f.asked.unset, f.unsetDestroy = true, true }), plan{}},

		// Additions: TouchAfter.
		{"TouchAfter: a touch that would move the expiry by less is skipped",
			with(loaded, func(f *facts) { f.touchAfter = 2 * time.Minute }), plan{}},
		{"TouchAfter: a touch that moves it by at least TouchAfter is made",
			with(loaded, func(f *facts) { f.touchAfter = time.Minute }), plan{touch: true}},
		{"TouchAfter: Session.Touch touches within TouchAfter",
			with(loaded, func(f *facts) { f.touchAfter, f.asked.touch = time.Hour, true }), plan{touch: true}},
		{"TouchAfter: rolling within TouchAfter sends no cookie: nothing moved",
			with(loaded, func(f *facts) { f.touchAfter, f.rolling = time.Hour, true }), plan{}},
		{"TouchAfter: rolling past TouchAfter touches and re-sends the cookie",
			with(loaded, func(f *facts) { f.touchAfter, f.rolling = time.Minute, true }), plan{touch: true, setCookie: true}},
		{"TouchAfter: TouchEveryRequest touches even when the expiry would not move",
			with(loaded, func(f *facts) { f.touchAfter, f.newExpiry = TouchEveryRequest, f.storedExpiry }), plan{touch: true}},
		{"AbsoluteTimeout: an expiry capped at the absolute end does not move, so no touch",
			with(loaded, func(f *facts) { f.touchAfter, f.newExpiry = time.Second, f.storedExpiry }), plan{}},

		{"Passive: a poll neither touches nor re-sends a rolling cookie",
			with(loaded, func(f *facts) { f.asked.passive, f.rolling, f.touchAfter = true, true, TouchEveryRequest }), plan{}},

		// Additions: Destroy, Save, SetMaxAge, Secure.
		{"Destroy: clears the cookie the request carried",
			with(fresh, func(f *facts) { f.asked.destroy, f.hadCookie = true, true }), plan{clearCookie: true}},
		{"Destroy: no cookie to clear when the request had none",
			with(fresh, func(f *facts) { f.asked.destroy = true }), plan{}},
		{"Destroy then Set: the new session replaces the cleared cookie",
			with(fresh, func(f *facts) { f.asked.destroy, f.hadCookie, f.modified = true, true, true }),
			plan{save: true, setCookie: true}},
		{"Save: a session saved by Session.Save gets its cookie",
			with(fresh, func(f *facts) { f.asked.save, f.dirty, f.stored = true, false, true }), plan{setCookie: true}},
		{"SetMaxAge: a changed lifetime is a modification: saved and re-sent",
			with(loaded, func(f *facts) { f.persistent, f.modified, f.dirty = true, true, true }),
			plan{save: true, setCookie: true}},
		{"Secure: a Secure-only cookie is not sent over plain HTTP, but the session is saved",
			with(fresh, func(f *facts) { f.modified, f.sendable = true, false }), plan{save: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(tc.f); got != tc.want {
				t.Errorf("decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}
