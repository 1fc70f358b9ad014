package main

import "strings"

// deviceLabel names the browser and operating system in a user agent, as
// "Firefox on Linux", for the sessions table; the full string goes in a
// tooltip. Unknown parts are left out rather than guessed.
func deviceLabel(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return "Unknown device"
	}
	browser, os := uaBrowser(ua), uaOS(ua)
	switch {
	case browser == "" && os == "":
		return "Unknown browser"
	case browser == "":
		return "Browser on " + os
	case os == "":
		return browser
	}
	return browser + " on " + os
}

// uaBrowsers maps a user-agent token to a name, most specific first:
// Edge, Opera and Samsung Internet also say "Chrome", and Chrome also
// says "Safari".
var uaBrowsers = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
	{"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"HeadlessChrome/", "Headless Chrome"}, {"CriOS/", "Chrome"},
	{"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
	{"Version/", "Safari"}, // Safari's version; Chrome-based browsers matched above
	{"curl/", "curl"}, {"Wget/", "Wget"}, {"Go-http-client/", "Go program"},
}

var uaSystems = []struct{ token, name string }{
	{"Windows", "Windows"},
	{"iPad", "iPadOS"}, {"iPhone", "iOS"}, {"iPod", "iOS"}, // before Mac: they say "like Mac OS X"
	{"Android", "Android"}, // before Linux: Android says "Linux" too
	{"CrOS", "ChromeOS"},
	{"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
	{"Linux", "Linux"}, {"FreeBSD", "FreeBSD"},
}

func uaBrowser(ua string) string {
	for _, b := range uaBrowsers {
		if strings.Contains(ua, b.token) {
			if b.name == "Safari" && !strings.Contains(ua, "Safari/") {
				continue
			}
			return b.name
		}
	}
	return ""
}

func uaOS(ua string) string {
	for _, s := range uaSystems {
		if strings.Contains(ua, s.token) {
			return s.name
		}
	}
	return ""
}
