package main

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
)

type sessionRow struct {
	Hash    string
	Device  string // short label, e.g. "Firefox on Linux"
	Agent   string // the full user agent, shown on hover
	IP      string
	Since   stamp
	Seen    stamp // last seen (RecordDevice)
	ThisOne bool
}

// stamp is a time shown in a <time> element: ISO is RFC 3339 in UTC, Text
// the same time for people, labelled UTC, until the page's script shows it
// in the browser's time zone.
type stamp struct{ ISO, Text string }

type pageData struct {
	User      string
	Views     int
	Anonymous bool // not logged in, but has a session (it counted)
	Sessions  []sessionRow
	Ended     bool   // the request's session had ended: say so once
	LoggedOut string // "here" or "everywhere" right after a logout
}

type errorData struct {
	Status  int
	Title   string
	Message string
}

// pages renders the demo's HTML: the start page and error pages.
type pages struct{ t *template.Template }

func newPages() *pages {
	funcs := template.FuncMap{"plural": plural}
	t := template.Must(template.New("layout").Funcs(funcs).Parse(layoutHTML))
	template.Must(t.New("home").Parse(homeHTML))
	template.Must(t.New("error").Parse(errorHTML))
	return &pages{t: t}
}

// plural returns "1 time", "2 times": n and the word, pluralised with s.
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func (p *pages) home(w http.ResponseWriter, d pageData) {
	p.render(w, http.StatusOK, "home", d)
}

// error answers with an HTML error page.
func (p *pages) error(w http.ResponseWriter, status int, message string) {
	p.render(w, status, "error", errorData{Status: status, Title: http.StatusText(status), Message: message})
}

// render executes the named page into a buffer first, so that a template
// error becomes a 500 rather than half a page.
func (p *pages) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "internal error: could not render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

const layoutHTML = `{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} · sqlsession demo</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.4em}h2{font-size:1.2em;margin-top:1.6em}
form{display:inline}button{font:inherit;padding:.35em .9em;margin:.2em .3em .2em 0;cursor:pointer}
input[name=user]{font:inherit;padding:.3em;max-width:100%}
label{display:inline-block;margin:.3em 1em .3em 0}
.notice{background:#fff6d6;border:1px solid #e6cf7a;padding:.6em .9em;border-radius:4px}
.sessions{list-style:none;padding:0}
.sessions li{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.3em 1em;padding:.6em 0;border-bottom:1px solid #ddd}
.device{font-weight:600;cursor:help}.when{color:#555;font-size:.9em;flex-basis:100%}
.sessions button{padding:.1em .7em;margin:0}
.tag{color:#176117;font-size:.9em}
.hint{color:#444;font-size:.95em}
</style></head><body>{{end}}`

const homeHTML = `{{template "head" "Home"}}
<h1>sqlsession demo</h1>
{{if .Ended}}<p class="notice" id="ended">Your session has ended: it was signed out from another device, or it expired. Log in again to continue.</p>{{end}}
{{if eq .LoggedOut "here"}}<p class="notice" id="loggedout">You are logged out. Your session was deleted from the server and its cookie cleared.</p>
{{else if eq .LoggedOut "everywhere"}}<p class="notice" id="loggedout">You are logged out on every device: all your sessions were deleted from the server.</p>{{end}}
{{if .User}}
<p>Logged in as <strong id="user">{{.User}}</strong>. You have pressed the button <strong id="views">{{plural .Views "time"}}</strong>.</p>
<form method="post" action="/count"><button>Count</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
<form method="post" action="/logout-everywhere"><button>Log out everywhere</button></form>
<h2>Your active sessions</h2>
<ul class="sessions">
{{range .Sessions}}<li><span class="device" title="{{.Agent}}">{{.Device}}</span>
{{if .ThisOne}}<span class="tag">this device</span>{{else}}<form method="post" action="/sessions/revoke"><input type="hidden" name="session" value="{{.Hash}}"><button>Revoke</button></form>{{end}}
<span class="when">since <time datetime="{{.Since.ISO}}">{{.Since.Text}}</time> · last seen <time datetime="{{.Seen.ISO}}">{{.Seen.Text}}</time>{{if .IP}} from {{.IP}}{{end}}</span></li>
{{end}}</ul>
{{if eq (len .Sessions) 1}}<p class="hint" id="second-browser">Only this browser is logged in as {{.User}}. Open a second browser (or a private window) at this address and log in as {{.User}}: it appears in this list, and you can revoke it from here.</p>{{end}}
<p class="hint" id="zone">Times are in UTC.</p>
<script>
const when = {year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"};
for (const t of document.querySelectorAll("time[datetime]")) {
  t.textContent = new Date(t.dateTime).toLocaleString(undefined, when);
}
document.querySelector("#zone").textContent = "Times are in your browser's time zone (" + Intl.DateTimeFormat().resolvedOptions().timeZone + ").";
</script>
{{else}}
{{if .Anonymous}}<p id="anonymous">You are not logged in, but you have an anonymous session: the server keeps your count in it. You have pressed the button <strong id="views">{{plural .Views "time"}}</strong>.</p>
{{else}}<p id="no-session">You are not logged in and have no session yet: the server stores one only once you press the button or log in. You have pressed it <strong id="views">{{plural .Views "time"}}</strong>.</p>{{end}}
<form method="post" action="/count"><button>Count</button></form>
<h2>Log in</h2>
<form method="post" action="/login"><label>Name <input name="user" required maxlength="64" autocomplete="username"></label>
<label><input type="checkbox" name="remember"> Remember me for 30 days</label> <button>Log in</button></form>
{{end}}
</body></html>`

const errorHTML = `{{template "head" .Title}}
<h1>{{.Status}} {{.Title}}</h1>
<p id="message">{{.Message}}</p>
<p><a href="/">Back to the start page</a></p>
</body></html>`
