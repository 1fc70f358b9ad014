package sessions

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// RecommendedSecretBytes is the secret length New accepts without a
// warning: 32 bytes, the size of the HMAC-SHA256 key that signs cookies.
const RecommendedSecretBytes = 32

// MinSecretBytes is the shortest secret New accepts unless
// Options.AllowWeakSecrets is set.
const MinSecretBytes = 16

// checkSecretStrength refuses a secret shorter than MinSecretBytes (unless
// allowWeak) and logs one warning naming every secret shorter than
// RecommendedSecretBytes. Every secret counts, not only the first: a
// cookie signed with any of them verifies. Neither a secret nor any part
// of it is logged, only its position and length.
func checkSecretStrength(secrets []string, allowWeak bool, log *slog.Logger) error {
	var weak []string
	for i, s := range secrets {
		if len(s) >= RecommendedSecretBytes {
			continue
		}
		if len(s) < MinSecretBytes && !allowWeak {
			return fmt.Errorf("sessions: Options.Secrets[%d] is %d bytes, shorter than the %d accepted: "+
				"use %d or more random bytes (openssl rand -base64 32), or set Options.AllowWeakSecrets in tests",
				i, len(s), MinSecretBytes, RecommendedSecretBytes)
		}
		weak = append(weak, fmt.Sprintf("Secrets[%d] is %d bytes", i, len(s)))
	}
	if len(weak) > 0 {
		log.LogAttrs(context.Background(), slog.LevelWarn,
			fmt.Sprintf("sessions: weak secret: use %d or more random bytes (openssl rand -base64 32)", RecommendedSecretBytes),
			slog.String("secrets", strings.Join(weak, ", ")), slog.Bool("allow_weak_secrets", allowWeak))
	}
	return nil
}
