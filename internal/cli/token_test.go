package cli

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/guard"
)

func TestTokenCommand(t *testing.T) {
	const secret = "0123456789abcdef-secret"
	file := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(file, []byte("auth:\n  token_secret: "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	for _, tt := range []struct {
		name   string
		args   []string
		env    string
		code   int
		client string // the token must verify from here within the ttl
		stderr string
	}{
		{"from the config", []string{"-config", file, "-stream", "cam", "-ttl", "1h"}, "", exitOK, "192.0.2.1", ""},
		{"from the environment", []string{"-stream", "cam"}, secret, exitOK, "192.0.2.1", ""},
		{"bound to an address", []string{"-config", file, "-stream", "cam", "-ip", "192.0.2.7"}, "", exitOK, "192.0.2.7", ""},
		{"no stream", []string{"-config", file}, "", exitInvalid, "", "-stream is required"},
		{"bad stream", []string{"-config", file, "-stream", "a/b"}, "", exitInvalid, "", "a/b"},
		{"no secret", []string{"-stream", "cam"}, "", exitInvalid, "", "auth.token_secret"},
		{"short secret", []string{"-stream", "cam"}, "short", exitInvalid, "", "16+ characters"},
		{"bad ip", []string{"-config", file, "-stream", "cam", "-ip", "nope"}, "", exitInvalid, "", "-ip"},
		{"bad ttl", []string{"-config", file, "-stream", "cam", "-ttl", "-1s"}, "", exitInvalid, "", "-ttl"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tokenSecretEnv, tt.env)
			var out, errb bytes.Buffer
			code := tokenMain(tt.args, &out, &errb, now)
			if code != tt.code || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errb.String(), tt.code, tt.stderr)
			}
			if tt.code != exitOK {
				return
			}
			tok := strings.TrimSpace(out.String())
			client := netip.MustParseAddr(tt.client)
			if err := guard.VerifyToken([]byte(secret), tok, "cam", client, now.Add(59*time.Minute)); err != nil {
				t.Errorf("token %q does not verify: %v", tok, err)
			}
			if err := guard.VerifyToken([]byte(secret), tok, "cam", client, now.Add(61*time.Minute)); err != guard.ErrTokenExpired {
				t.Errorf("token %q after its ttl: %v, want expired", tok, err)
			}
		})
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"token", "-h"}, &out, &errb); code != exitOK || !strings.Contains(errb.String(), "?token=") {
		t.Errorf("token -h: exit %d, %q", code, errb.String())
	}
}
