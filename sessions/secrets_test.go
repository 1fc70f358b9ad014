package sessions_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/sessions"
	"github.com/sqlsession/sqlsession/sessions/memstore"
)

// A secret shorter than MinSecretBytes is refused with a clear error
// unless AllowWeakSecrets; one shorter than RecommendedSecretBytes starts
// with one warning; neither the error nor the log holds the secret.
func TestWeakSecrets(t *testing.T) {
	const (
		tooShort = "fifteen bytes!!"                  // 15
		short    = "twenty-byte secret!!"             // 20
		strong   = "a secret of thirty-two bytes!!!!" // 32
	)
	cases := []struct {
		name      string
		secrets   []string
		allowWeak bool
		wantErr   string // "" for success
		wantWarn  string // "" for no warning
	}{
		{"strong", []string{strong}, false, "", ""},
		{"too short", []string{tooShort}, false, "Options.Secrets[0] is 15 bytes, shorter than the 16 accepted", ""},
		{"too short old secret", []string{strong, tooShort}, false, "Options.Secrets[1] is 15 bytes", ""},
		{"too short in a test", []string{tooShort}, true, "", "Secrets[0] is 15 bytes"},
		{"short", []string{short}, false, "", "Secrets[0] is 20 bytes"},
		{"two short, one warning", []string{strong, short, short + "!"}, false, "", "Secrets[1] is 20 bytes, Secrets[2] is 21 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			m, err := sessions.New(memstore.New(), sessions.Options{Secrets: c.secrets, AllowWeakSecrets: c.allowWeak, Logger: logger})
			if c.wantErr != "" {
				if err == nil || m != nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "AllowWeakSecrets") {
					t.Fatalf("New = %v, %v; want an error containing %q and naming AllowWeakSecrets", m, err, c.wantErr)
				}
			} else if err != nil {
				t.Fatalf("New: %v", err)
			}
			warnings := strings.Count(logs.String(), "level=WARN")
			switch {
			case c.wantWarn == "" && warnings != 0:
				t.Errorf("logged %q, want no warning", logs.String())
			case c.wantWarn != "" && (warnings != 1 || !strings.Contains(logs.String(), c.wantWarn)):
				t.Errorf("logged %q, want one warning containing %q", logs.String(), c.wantWarn)
			}
			for _, s := range c.secrets {
				if strings.Contains(logs.String(), s) || err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("the secret %q appears in the log %q or error %v", s, logs.String(), err)
				}
			}
		})
	}
}
